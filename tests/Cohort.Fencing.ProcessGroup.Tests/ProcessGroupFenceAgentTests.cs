using Cohort.Fencing.Agents;
using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.ProcessGroup.Tests;

public sealed class ProcessGroupFenceAgentTests
{
    private static readonly IConfigurationSection Device = FenceDevices.Section("pg", "process-group");

    private readonly ProcessGroupFenceAgent _agent = new();

    private static FenceRequest Request(FenceAction action, string plug, long incarnation = AgentStateDirectory.VictimIncarnation) =>
        new("pg", Device, action, new NodeIncarnation(new NodeId(2), incarnation), "node2", plug, new TaskCompletionSource().Task);

    [Test]
    public async Task Off_kills_the_agent_group_and_every_client_group()
    {
        await using var state = await AgentStateDirectory.StartAsync();

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, state.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        Assert.Multiple(() =>
        {
            Assert.That(state.Agent.IsGone, Is.True, "no live process is left in the agent's group");
            Assert.That(state.Client.IsGone, Is.True, "no live process is left in the client's group");
        });
    }

    [Test]
    public async Task A_group_left_with_only_a_zombie_counts_as_gone()
    {
        using var directory = new TempDirectory();
        using var zombie = await ZombieGroup.StartAsync(directory.Path);

        // kill(-pgid, 0) still finds the zombie (its parent, stopped, cannot reap it); it runs nothing.
        Assert.That(Libc.GroupIsGone(zombie.Pgid), Is.True);
    }

    [Test]
    public async Task Reboot_kills_like_off()
    {
        await using var state = await AgentStateDirectory.StartAsync();

        var outcome = await _agent.RunAsync(Request(FenceAction.Reboot, state.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        Assert.That(await state.IsDeadAsync(), Is.True);
    }

    [Test]
    public async Task A_relative_plug_is_resolved_against_the_current_directory()
    {
        await using var state = await AgentStateDirectory.StartAsync();
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, state.Path);
        Assume.That(Path.IsPathRooted(relative), Is.False);

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, relative), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        Assert.That(state.Agent.IsGone, Is.True);
    }

    [Test]
    public async Task A_record_whose_pid_has_another_start_time_is_refused_while_the_group_lives()
    {
        await using var state = await AgentStateDirectory.StartAsync();
        state.WriteAgent(state.Agent.Record(AgentStateDirectory.VictimIncarnation, startTime: state.Agent.StartTime + 1));

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, state.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Failed));
        Assert.That(outcome.Detail, Does.Contain("pid reused").And.Contain(state.Agent.Pgid.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(state.Agent.IsGone, Is.False, "a group that may be someone else's is left alone");
    }

    [Test]
    public async Task A_client_record_with_another_start_time_is_refused_too()
    {
        await using var state = await AgentStateDirectory.StartAsync();
        state.WriteClients($"[{state.Client.Record(startTime: state.Client.StartTime + 1)}]");

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, state.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Failed));
        Assert.That(outcome.Detail, Does.Contain("pid reused"));
        Assert.That(state.Client.IsGone, Is.False);
    }

    [Test]
    public async Task A_record_of_a_process_that_is_gone_with_its_group_counts_as_dead()
    {
        await using var state = await AgentStateDirectory.StartAsync();
        var agent = state.Agent;
        VictimGroup.KillGroup(agent.Pgid);
        await Poll.UntilAsync($"group {agent.Pgid} to be gone", () => agent.IsGone);

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, state.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        Assert.That(state.Client.IsGone, Is.True, "the client group is still killed");
    }

    [TestCase(false, TestName = "The fencer refuses to kill its own group named by agent.pid")]
    [TestCase(true, TestName = "The fencer refuses to kill its own group named by fence-groups")]
    public async Task The_fencer_refuses_to_kill_its_own_group(bool asClient)
    {
        await using var state = await AgentStateDirectory.StartAsync();
        var pid = Libc.getpid();
        var own = $"{{\"pid\":{pid},\"pgid\":{Libc.getpgrp()},\"startTime\":{VictimGroup.ReadStartTime(pid)}}}";
        if (asClient)
        {
            state.WriteClients($"[{state.Client.Record()},{own}]");
        }
        else
        {
            state.WriteAgent(own.Insert(1, $"\"incarnation\":{AgentStateDirectory.VictimIncarnation},"));
        }

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, state.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Failed));
        Assert.That(outcome.Detail, Does.Contain("refusing to kill process group"));
        Assert.That(state.Client.IsGone, Is.False, "nothing is killed when any group is refused");
    }

    [Test]
    public async Task A_record_of_a_newer_incarnation_means_the_victim_is_gone_and_nothing_is_killed()
    {
        await using var state = await AgentStateDirectory.StartAsync();
        state.WriteAgent(state.Agent.Record(AgentStateDirectory.VictimIncarnation + 1));

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, state.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        Assert.That(outcome.Detail, Does.Contain($"the record names incarnation {AgentStateDirectory.VictimIncarnation + 1}, newer than the victim"));
        Assert.That(state.Agent.IsGone || state.Client.IsGone, Is.False, "the newer incarnation's groups live on");
    }

    [Test]
    public async Task A_record_of_an_older_incarnation_cannot_tell_where_the_victim_is()
    {
        await using var state = await AgentStateDirectory.StartAsync();
        state.WriteAgent(state.Agent.Record(AgentStateDirectory.VictimIncarnation - 1));

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, state.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Failed), outcome.Detail);
        Assert.That(state.Agent.IsGone, Is.False);
    }

    [TestCase(FenceAction.Off)]
    [TestCase(FenceAction.Status)]
    public async Task A_missing_agent_pid_fails(FenceAction action)
    {
        using var empty = new TempDirectory();

        var outcome = await _agent.RunAsync(Request(action, empty.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Failed));
        Assert.That(outcome.Detail, Does.Contain("agent.pid").And.Contain("cannot tell"));
    }

    [TestCase("not json")]
    [TestCase("{\"incarnation\":5,\"pid\":1,\"pgid\":1,\"startTime\":1}")]
    [TestCase("{\"incarnation\":5,\"pid\":1234}")]
    public async Task A_malformed_or_dangerous_record_fails(string json)
    {
        using var dir = new TempDirectory();
        dir.Write("agent.pid", json);

        var outcome = await _agent.RunAsync(Request(FenceAction.Off, dir.Path), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Failed), outcome.Detail);
    }

    [Test]
    public async Task Status_is_on_while_any_group_lives()
    {
        await using var state = await AgentStateDirectory.StartAsync();
        VictimGroup.KillGroup(state.Agent.Pgid);
        await Poll.UntilAsync("the agent group to be gone", () => state.Agent.IsGone);

        var outcome = await _agent.RunAsync(Request(FenceAction.Status, state.Path), CancellationToken.None);

        Assert.That((outcome.Result, outcome.Power), Is.EqualTo((FenceResult.Success, FencePower.On)), outcome.Detail);
    }

    [Test]
    public async Task On_fails_and_monitor_succeeds()
    {
        var on = await _agent.RunAsync(Request(FenceAction.On, "/nonexistent"), CancellationToken.None);
        var monitor = await _agent.RunAsync(new FenceRequest("pg", Device, FenceAction.Monitor, null, null, null, Task.CompletedTask), CancellationToken.None);

        Assert.That((on.Result, on.Detail), Is.EqualTo((FenceResult.Failed, "process-group cannot start an agent")));
        Assert.That(monitor.Result, Is.EqualTo(FenceResult.Success), monitor.Detail);
    }

    [Test]
    public void Any_key_of_its_own_is_a_problem()
    {
        var device = FenceDevices.Section("pg", "process-group", ("HostMap:node2", "/var/lib/cohort/node2"), ("Retries", "1"), ("Directory", "/tmp"));

        var problems = _agent.Validate(device, []).ToList();

        Assert.That(problems.Select(p => p.Key), Is.EqualTo(new[] { "Cluster:Fencing:Devices:pg:Directory" }));
        Assert.That(problems[0].Expected, Does.Contain("no options"));
    }
}
