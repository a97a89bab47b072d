using System.Text;
using Cohort.Simulation;

namespace Cohort.Membership.Tests;

public class VirtualDiskTests
{
    private static byte[] B(string s) => Encoding.ASCII.GetBytes(s);

    [Test]
    public void AnUnsyncedOverwriteIsLostOrTornAtACrash()
    {
        var outcomes = new HashSet<string>();
        for (var seed = 0UL; seed < 40; seed++)
        {
            var disk = new VirtualDisk();
            disk.Persist("f", B("old contents"));
            disk.Write("f", B("new contents"));
            disk.Crash(new SimRandom(seed));
            var after = Encoding.ASCII.GetString(disk.Read("f")!);
            Assert.That(after == "old contents" || "new contents".StartsWith(after, StringComparison.Ordinal), Is.True, after);
            outcomes.Add(after == "old contents" ? "old" : "torn");
        }

        Assert.That(outcomes, Is.EquivalentTo(new[] { "old", "torn" }));
    }

    [Test]
    public void AFsyncedWriteSurvives()
    {
        var disk = new VirtualDisk();
        disk.Persist("f", B("old"));
        disk.Write("f", B("new"));
        disk.Fsync("f");
        disk.Crash(new SimRandom(1));
        Assert.That(disk.Read("f"), Is.EqualTo(B("new")));
    }

    [Test]
    public void ARenameIsLostWithoutADirectoryFsync()
    {
        var disk = new VirtualDisk();
        disk.Write("f.tmp", B("x"));
        disk.Fsync("f.tmp");
        disk.Rename("f.tmp", "f");
        disk.Crash(new SimRandom(1));
        Assert.That(disk.Read("f"), Is.Null);
    }

    [Test]
    public void PersistIsAtomicWhereverACrashCutsIt()
    {
        for (var steps = 0; steps <= 4; steps++)
        {
            for (var seed = 0UL; seed < 10; seed++)
            {
                var disk = new VirtualDisk();
                disk.Persist("f", B("old"));
                disk.Persist("f", B("new"), steps);
                disk.Crash(new SimRandom(seed));
                Assert.That(disk.Read("f"), Is.EqualTo(B(steps < 4 ? "old" : "new")).Or.EqualTo(B(steps >= 3 ? "new" : "old")), $"cut after {steps} steps");
            }
        }
    }
}
