using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.External.Tests;

/// <summary>The real <c>fence_ipmilan</c> against <c>ipmi_sim</c> where it must not succeed, and what off does to the
/// node's record; the contract itself is <see cref="IpmiConformanceTests"/>.</summary>
[NonParallelizable]
public sealed class IpmiFenceAgentTests
{
    private const string Path = "Cluster:Fencing:Devices:ipmi";

    private readonly ExternalFenceAgent _agent = new();

    private static IConfigurationSection Device(IReadOnlyDictionary<string, string> options, params (string Key, string? Value)[] more) =>
        FenceDevices.Section("ipmi", "external", [.. IpmiDevice.Keys(options).Select(k => (k.Key, k.Value)), .. more]);

    private static FenceRequest Request(IConfigurationSection device, FenceAction action) =>
        new("ipmi", device, action, new NodeIncarnation(new NodeId(2), 3), "node2", "node2", new TaskCompletionSource().Task);

    [Test]
    public async Task Off_kills_the_recorded_group_through_the_chassis_and_logs_when_it_was_gone()
    {
        await using var node = await IpmiNode.StartAsync();
        var before = TimeProvider.System.GetTimestamp() / (double)TimeProvider.System.TimestampFrequency;

        var off = await _agent.RunAsync(Request(Device(node.Bmc.FenceOptions()), FenceAction.Off), CancellationToken.None);

        Assert.That(off.Result, Is.EqualTo(FenceResult.Success), $"{off.Detail}\npower log: {Log(node.Bmc)}");
        Assert.That(node.Victim.IsGone, Is.True);
        var goneAt = node.Bmc.PoweredOffAt();
        Assert.That(goneAt, Has.Count.EqualTo(1), Log(node.Bmc));
        Assert.That(goneAt[0], Is.GreaterThanOrEqualTo(before), "the verb reports CLOCK_MONOTONIC, the clock this process reads too");
        var (code, output) = await node.Bmc.IpmitoolAsync("chassis", "power", "status");
        Assert.That((code, output.Trim()), Is.EqualTo((0, "Chassis Power is off")));
    }

    [Test]
    public async Task A_wrong_password_fails_and_kills_nothing()
    {
        await using var node = await IpmiNode.StartAsync();

        var off = await _agent.RunAsync(Request(Device(node.Bmc.FenceOptions(password: "wrong")), FenceAction.Off), CancellationToken.None);

        Assert.That(off.Result, Is.EqualTo(FenceResult.Failed), off.Detail);
        Assert.That(node.Victim.IsGone, Is.False);
        Assert.That(node.Bmc.PoweredOffAt(), Is.Empty);
    }

    [Test]
    public async Task A_bmc_that_is_down_is_never_a_success()
    {
        await using var node = await IpmiNode.StartAsync();
        node.Bmc.Stop();

        // fence_ipmilan gives up after power_timeout seconds (20 by default).
        var off = await _agent.RunAsync(Request(Device(node.Bmc.FenceOptions(), ("Options:power_timeout", "4")), FenceAction.Off), CancellationToken.None);
        var status = await _agent.RunAsync(Request(Device(node.Bmc.FenceOptions(), ("Options:power_timeout", "4")), FenceAction.Status), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(off.Result, Is.Not.EqualTo(FenceResult.Success), off.Detail);
            Assert.That(status.Result, Is.Not.EqualTo(FenceResult.Success), status.Detail);
            Assert.That(node.Victim.IsGone, Is.False);
        });
    }

    [Test]
    public async Task A_record_whose_pid_was_reused_is_refused_by_the_chassis_so_off_fails()
    {
        await using var node = await IpmiNode.StartAsync();
        // The same pid with another start time: the verb must refuse to kill the live group, so the BMC's
        // chassis control fails and fence_ipmilan cannot report the node off.
        File.WriteAllText(System.IO.Path.Combine(node.Bmc.StateDirectory, "agent.pid"), node.Victim.Record(incarnation: 3, startTime: node.Victim.StartTime + 1));

        var off = await _agent.RunAsync(Request(Device(node.Bmc.FenceOptions(), ("Options:power_timeout", "4")), FenceAction.Off), CancellationToken.None);

        Assert.That(off.Result, Is.Not.EqualTo(FenceResult.Success), $"{off.Detail}\npower log: {Log(node.Bmc)}");
        Assert.That(node.Victim.IsGone, Is.False, "another process's group is never killed");
    }

    [Test]
    public void Validate_accepts_fence_ipmilan_options_and_names_a_misspelt_one()
    {
        var options = new Dictionary<string, string>
        {
            ["ip"] = "127.0.0.1", ["ipport"] = "9001", ["username"] = "admin", ["password"] = "secret", ["lanplus"] = "1", ["cipher"] = "3",
        };
        var good = _agent.Validate(Device(options), []).ToList();
        options.Remove("password");
        options["pasword"] = "secret";
        var bad = _agent.Validate(Device(options), []).ToList();

        Assert.That(good, Is.Empty, string.Join("; ", good));
        Assert.That(bad.Select(p => p.Key), Is.EqualTo(new[] { $"{Path}:Options:pasword" }));
        Assert.That(bad[0].Expected, Does.Contain("fence_ipmilan"));
    }

    private static string Log(IpmiSimulator bmc) => File.Exists(bmc.PowerLog) ? File.ReadAllText(bmc.PowerLog) : "(none)";
}
