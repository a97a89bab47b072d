using System.Diagnostics;
using System.Globalization;
using Cohort.Host.State;
using Cohort.TestSupport;

namespace Cohort.Host.Tests.State;

public sealed class AgentPowerTests : TempDirectoryTest
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static AgentProcessInfo RecordOf(VictimGroup victim, long? startTime = null) =>
        new(7, victim.Pid, victim.Pgid, startTime ?? victim.StartTime);

    [Test]
    public async Task Off_kills_the_recorded_group_and_returns_once_it_is_empty()
    {
        using var victim = await VictimGroup.StartAsync();
        var record = RecordOf(victim);
        Assert.That(AgentPower.Status(record), Is.EqualTo(AgentPowerState.On));

        var before = TimeProvider.System.GetTimestamp();
        var off = await AgentPower.OffAsync(record, Wait, TimeProvider.System);

        Assert.Multiple(() =>
        {
            Assert.That(off.Off, Is.True, off.Detail);
            Assert.That(victim.IsGone, Is.True, "off returns only once no live process is left in the group");
            Assert.That(off.GoneAt, Is.GreaterThanOrEqualTo(before));
            Assert.That(AgentPower.Status(record), Is.EqualTo(AgentPowerState.Off));
        });
    }

    [Test]
    public async Task A_group_left_with_only_a_zombie_is_off_though_kill_still_finds_it()
    {
        using var zombie = await ZombieGroup.StartAsync(Dir.Path);
        var record = new AgentProcessInfo(7, zombie.Pgid, zombie.Pgid, zombie.StartTime);
        Assert.That(Native.Signals.SendToGroup(zombie.Pgid, 0), Is.True, "kill(-pgid, 0) still succeeds on a zombie");

        var off = await AgentPower.OffAsync(record, Wait, TimeProvider.System);

        Assert.Multiple(() =>
        {
            Assert.That(off.Off, Is.True, off.Detail);
            Assert.That(AgentPower.Status(record), Is.EqualTo(AgentPowerState.Off), "a zombie runs nothing");
        });
    }

    [Test]
    public async Task Off_is_idempotent_an_empty_group_is_off_already()
    {
        using var victim = await VictimGroup.StartAsync();
        var record = RecordOf(victim);
        Assert.That((await AgentPower.OffAsync(record, Wait, TimeProvider.System)).Off, Is.True);

        var again = await AgentPower.OffAsync(record, Wait, TimeProvider.System);

        Assert.That(again.Off, Is.True, again.Detail);
        Assert.That(again.Detail, Does.Contain("already empty"));
    }

    [Test]
    public async Task A_reused_pid_with_a_live_group_is_refused_left_alone_and_neither_on_nor_off()
    {
        using var victim = await VictimGroup.StartAsync();
        var reused = RecordOf(victim, victim.StartTime + 1);

        var off = await AgentPower.OffAsync(reused, Wait, TimeProvider.System);

        Assert.Multiple(() =>
        {
            Assert.That(off.Off, Is.False);
            Assert.That(off.GoneAt, Is.Null);
            Assert.That(off.Detail, Does.Contain("pid reused"));
            Assert.That(victim.IsGone, Is.False, "another process's group is never killed");
            Assert.That(AgentPower.Status(reused), Is.EqualTo(AgentPowerState.Unknown), "a wrong record looks the same: never claim off");
        });
    }

    [Test]
    public async Task The_callers_own_group_is_refused()
    {
        var own = AgentProcessInfo.Current(1);

        var off = await AgentPower.OffAsync(own, Wait, TimeProvider.System);

        Assert.That(off.Off, Is.False);
        Assert.That(off.Detail, Does.StartWith("refusing to kill process group"));
    }

    [Test]
    public async Task A_group_whose_leader_died_is_on_until_off_kills_what_is_left()
    {
        // The leader exits at once and leaves a child in its group: the pid has no process, the group is the agent's.
        var marker = Dir.Combine("leader");
        var start = new ProcessStartInfo("/usr/bin/setsid") { UseShellExecute = false };
        foreach (var argument in new[] { "sh", "-c", $"sleep 300 & echo $$ > {marker}.tmp && mv {marker}.tmp {marker}" })
        {
            start.ArgumentList.Add(argument);
        }

        using var leader = Process.Start(start)!;
        await leader.WaitForExitAsync();
        await Poll.UntilAsync("the leader to record its pid", () => File.Exists(marker));
        var pgid = int.Parse(File.ReadAllText(marker).Trim(), CultureInfo.InvariantCulture);
        try
        {
            await Poll.UntilAsync($"pid {pgid} to be reaped", () => AgentProcessInfo.ReadStartTime(pgid) is null);
            var record = new AgentProcessInfo(3, pgid, pgid, 12345);
            Assert.That(VictimGroup.IsGroupGone(pgid), Is.False, "the child lives on in the group");
            Assert.That(AgentPower.Status(record), Is.EqualTo(AgentPowerState.On));

            var off = await AgentPower.OffAsync(record, Wait, TimeProvider.System);

            Assert.That(off.Off, Is.True, off.Detail);
            Assert.That(VictimGroup.IsGroupGone(pgid), Is.True);
        }
        finally
        {
            VictimGroup.KillGroup(pgid);
        }
    }

    [Test]
    public async Task The_record_is_read_from_agent_pid_and_a_bad_one_is_named()
    {
        using var victim = await VictimGroup.StartAsync();
        var state = Dir.Combine("state");
        Dir.Write("state/agent.pid", victim.Record(incarnation: 4) + "\n");
        Dir.Write("bad/agent.pid", "{\"incarnation\":1,\"pid\":1,\"pgid\":1,\"startTime\":5}");
        Dir.Write("garbage/agent.pid", "not json");

        Assert.Multiple(() =>
        {
            Assert.That(AgentPower.Read(state), Is.EqualTo(new AgentProcessInfo(4, victim.Pid, victim.Pgid, victim.StartTime)));
            Assert.Throws<FileNotFoundException>(() => AgentPower.Read(Dir.Combine("none")));
            Assert.That(Assert.Throws<FormatException>(() => AgentPower.Read(Dir.Combine("bad")))!.Message, Does.Contain("above 1"));
            Assert.That(Assert.Throws<FormatException>(() => AgentPower.Read(Dir.Combine("garbage")))!.Message, Does.Contain("agent.pid"));
        });
    }
}
