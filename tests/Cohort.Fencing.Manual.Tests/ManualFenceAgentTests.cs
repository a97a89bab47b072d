using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Cohort.Fencing.Manual.Tests;

public sealed class ManualFenceAgentTests
{
    private const string Path = "Cluster:Fencing:Devices:hand";

    private OperatorLog _log = null!;

    [SetUp]
    public void NewLog() => _log = new OperatorLog();

    private static IConfigurationSection Device(params (string Key, string? Value)[] keys) => FenceDevices.Section("hand", "manual", keys);

    private static FenceRequest Request(IConfigurationSection device, FenceAction action, Task acknowledged) =>
        new("hand", device, action, new NodeIncarnation(new NodeId(4), 12), "node4", "node4", acknowledged);

    [Test]
    public async Task Off_tells_the_operator_exactly_what_to_do_and_succeeds_when_acknowledged()
    {
        var ack = new TaskCompletionSource();
        var agent = new ManualFenceAgent(_log);

        var run = agent.RunAsync(Request(Device(("Instructions", "Call Sam on 555-0100.")), FenceAction.Off, ack.Task), CancellationToken.None);
        Assert.That(run.IsCompleted, Is.False, "off waits for the acknowledgement");
        ack.SetResult();
        var outcome = await run;

        Assert.That(outcome, Is.EqualTo(FenceOutcome.Succeeded("acknowledged by an operator")));
        Assert.That(_log.Entries, Is.EqualTo(new[]
        {
            (LogLevel.Warning, "fence node4 (incarnation 12) by hand — power it off or make sure its agent is dead — then run: cohort fence ack node4 Call Sam on 555-0100."),
        }));
    }

    [Test]
    public async Task Without_instructions_the_message_ends_with_the_command()
    {
        var outcome = await new ManualFenceAgent(_log).RunAsync(Request(Device(), FenceAction.Reboot, Task.CompletedTask), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success));
        Assert.That(_log.Entries.Single().Message, Does.EndWith("then run: cohort fence ack node4"));
    }

    [Test]
    public async Task Status_cannot_tell_and_monitor_succeeds()
    {
        var agent = new ManualFenceAgent(_log);

        var status = await agent.RunAsync(Request(Device(), FenceAction.Status, Task.CompletedTask), CancellationToken.None);
        var monitor = await agent.RunAsync(new FenceRequest("hand", Device(), FenceAction.Monitor, null, null, null, new TaskCompletionSource().Task), CancellationToken.None);

        Assert.That(status, Is.EqualTo(new FenceOutcome(FenceResult.Failed, "manual cannot tell", FencePower.Unknown)));
        Assert.That(monitor.Result, Is.EqualTo(FenceResult.Success));
        Assert.That(_log.Entries, Is.Empty, "nobody is asked to do anything");
    }

    [Test]
    public void Instructions_must_be_text()
    {
        var problems = new ManualFenceAgent(_log).Validate(Device(("Instructions:0", "a"), ("Instructions:1", "b")), []).ToList();

        Assert.That(problems.Select(p => p.Key), Is.EqualTo(new[] { $"{Path}:Instructions" }));
    }
}
