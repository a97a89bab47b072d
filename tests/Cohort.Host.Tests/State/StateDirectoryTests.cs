using System.Text.Json;
using Cohort.Host.State;
using Cohort.TestSupport;

namespace Cohort.Host.Tests.State;

public sealed class StateDirectoryTests : TempDirectoryTest
{
    [Test]
    public void The_incarnation_grows_at_every_start_and_survives_reopening()
    {
        var path = Dir.Combine("state");
        using (var first = StateDirectory.Open(path))
        {
            Assert.That(first.BumpIncarnation(), Is.EqualTo(1));
        }

        using (var second = StateDirectory.Open(path))
        {
            Assert.That(second.BumpIncarnation(), Is.EqualTo(2));
            Assert.That(second.BumpIncarnation(), Is.EqualTo(3));
        }

        Assert.That(File.ReadAllText(Path.Combine(path, "incarnation")), Is.EqualTo("3\n"));
        Assert.That(File.Exists(Path.Combine(path, "incarnation.tmp")), Is.False);
        Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
    }

    [Test]
    public void A_second_holder_is_refused_while_the_first_lives()
    {
        var path = Dir.Combine("state");
        using var first = StateDirectory.Open(path);
        first.WritePidFile(AgentProcessInfo.Current(first.BumpIncarnation()));

        var error = Assert.Throws<CohortStartupException>(() => StateDirectory.Open(path))!;

        Assert.That(error.Message, Is.EqualTo($"state directory {path}: in use by another agent (pid {Environment.ProcessId}, incarnation 1); one agent per state directory"));
        Assert.That(error.ExitCode, Is.EqualTo(ExitCodes.InUse));
        first.Dispose();
        using var third = StateDirectory.Open(path);
        Assert.That(third.BumpIncarnation(), Is.EqualTo(2), "the lock is released with its holder");
    }

    [Test]
    public void A_corrupt_incarnation_file_is_reported_and_left_alone()
    {
        var path = Dir.Combine("state");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "incarnation"), "12\u0000garbage");
        using var state = StateDirectory.Open(path);

        var error = Assert.Throws<CohortStartupException>(() => state.BumpIncarnation())!;

        Assert.That(error.Message, Does.StartWith($"{Path.Combine(path, "incarnation")}: expected a positive incarnation number"));
        Assert.That(File.ReadAllText(Path.Combine(path, "incarnation")), Is.EqualTo("12\u0000garbage"));
    }

    [Test]
    public void The_pid_file_names_this_process_its_group_and_start_time()
    {
        using var state = StateDirectory.Open(Dir.Combine("state"));
        state.WritePidFile(AgentProcessInfo.Current(5));

        using var json = JsonDocument.Parse(File.ReadAllText(state.PidFilePath));
        var root = json.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(root.GetProperty("incarnation").GetInt64(), Is.EqualTo(5));
            Assert.That(root.GetProperty("pid").GetInt32(), Is.EqualTo(Environment.ProcessId));
            Assert.That(root.GetProperty("pgid").GetInt32(), Is.GreaterThan(0));
            Assert.That(root.GetProperty("startTime").GetInt64(), Is.EqualTo(AgentProcessInfo.ReadStartTime(Environment.ProcessId)));
        });
    }
}
