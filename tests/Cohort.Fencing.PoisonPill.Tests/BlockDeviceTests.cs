using System.Diagnostics;
using Cohort.Fencing.Conformance;
using Cohort.Membership;

namespace Cohort.Fencing.PoisonPill.Tests;

/// <summary>The agent on a real block device (a loop device over a file, with direct IO), where the machine allows
/// it (root and losetup); skipped elsewhere.</summary>
[NonParallelizable]
public sealed class BlockDeviceTests
{
    private PillFile _backing = null!;
    private string? _loop;

    [SetUp]
    public void AttachLoopDevice()
    {
        Assume.That(Environment.UserName, Is.EqualTo("root"), "loop devices need root");
        _backing = new PillFile();
        File.WriteAllBytes(_backing.Path, new byte[1 << 20]);
        var (code, output) = Run("losetup", "--find", "--show", "--direct-io=on", _backing.Path);
        Assume.That(code, Is.Zero, $"losetup: {output}");
        _loop = output.Trim();
    }

    [TearDown]
    public void DetachLoopDevice()
    {
        if (_loop is not null)
        {
            Run("losetup", "--detach", _loop);
            _loop = null;
        }

        _backing?.Dispose();
    }

    [Test]
    public async Task A_zeroed_block_device_is_laid_out_in_place_and_a_poison_reads_back_from_the_disk()
    {
        var agent = new PoisonPillFenceAgent();
        var device = FenceDevices.Section("pill", PoisonPillPlugin.Name, ("Path", _loop), ("WatchdogTimeout", "0.1"), ("MessageWait", "0.1"));
        var victim = new NodeIncarnation(new NodeId(2), 9);

        var monitor = await agent.RunAsync(new FenceRequest("pill", device, FenceAction.Monitor, null, null, null, Task.CompletedTask), CancellationToken.None);
        var before = await agent.ReadOwnSlotAsync(new SelfFenceSlot("pill", device, victim, "node2"), CancellationToken.None);
        var off = await agent.RunAsync(new FenceRequest("pill", device, FenceAction.Off, victim, "node2", "node2", Task.CompletedTask), CancellationToken.None);
        var after = await agent.ReadOwnSlotAsync(new SelfFenceSlot("pill", device, victim, "node2"), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(monitor.Result, Is.EqualTo(FenceResult.Success), monitor.Detail);
            Assert.That(monitor.Detail, Does.Contain("(block device, direct IO)"));
            Assert.That(before.State, Is.EqualTo(SelfFenceSlotState.Clear), before.Detail);
            Assert.That(off.Result, Is.EqualTo(FenceResult.Success), off.Detail);
            Assert.That(after.Condemns(victim), Is.True, after.Detail);
        });
        // The backing file holds what the device wrote: it reached the disk.
        Run("losetup", "--detach", _loop!);
        _loop = null;
        Assert.That(PillLayout.Decode(_backing.RawSlot(2), 2).Message?.Target, Is.EqualTo(victim));
    }

    private static (int Code, string Output) Run(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (-1, ex.Message);
        }
    }
}
