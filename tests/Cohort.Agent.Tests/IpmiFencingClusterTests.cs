using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// IPMI fencing between real agents: each node has a simulated BMC (OpenIPMI's <c>ipmi_sim</c>, see
/// <see cref="IpmiSimulator"/>) whose chassis power is that node's agent process group, and the cluster fences through
/// the <c>external</c> agent running the real <c>fence_ipmilan</c> over RMCP+ on 127.0.0.1.
/// </summary>
[NonParallelizable]
public sealed partial class IpmiFencingClusterTests : ClusterTestBase
{
    private static readonly int[] All = [1, 2, 3];

    private readonly List<IpmiSimulator> _bmcs = [];

    [TearDown]
    public void StopBmcs()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            foreach (var bmc in _bmcs)
            {
                TestContext.Out.WriteLine($"--- BMC of {bmc.StateDirectory} (port {bmc.Port}) power log:\n{(File.Exists(bmc.PowerLog) ? File.ReadAllText(bmc.PowerLog) : "(none)")}\nipmi_sim said:\n{bmc.Output}");
            }
        }

        foreach (var bmc in _bmcs)
        {
            bmc.Dispose();
        }

        _bmcs.Clear();
    }

    /// <summary>Starts one BMC per node, each powering that node's state directory.</summary>
    private async Task<IpmiSimulator[]> StartBmcsAsync()
    {
        foreach (var node in All)
        {
            _bmcs.Add(await IpmiSimulator.StartAsync(Dir.Combine($"node{node}")));
        }

        return [.. _bmcs];
    }

    /// <summary>A cluster with one fence_ipmilan device per node (<c>ipmiN</c>, reaching node N's BMC) and a
    /// process-group device <c>pg</c>; <paramref name="levels"/> is the JSON of <c>Cluster:Fencing:Levels</c>.</summary>
    private void WriteIpmiCluster(IpmiSimulator[] bmcs, string levels, string? wrongPasswordFor = null)
    {
        var devices = string.Join(",\n", All.Select(node =>
        {
            var options = bmcs[node - 1].FenceOptions(password: $"node{node}" == wrongPasswordFor ? "wrong" : null);
            return $$"""
                "ipmi{{node}}": { "Agent": "external", "Program": "fence_ipmilan", "Options": {{JsonSerializer.Serialize(options)}} }
                """;
        }));
        var hostMap = string.Join(", ", All.Select(i => $"\"node{i}\": {JsonSerializer.Serialize(Dir.Combine($"node{i}"))}"));
        WriteCluster(3, clusterExtra: $$"""
            , "Fencing": {
                "MonitorInterval": 0,
                "Devices": {
                  {{devices}},
                  "pg": { "Agent": "process-group", "Timeout": 10, "HostMap": { {{hostMap}} } }
                },
                "Levels": {{levels}}
              }
            """);
    }

    private async Task IsolateAsync(int node)
    {
        var others = string.Join(",", All.Where(n => n != node).Select(n => $"node{n}"));
        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", others, "--socket", SocketOf(node));
        Assert.That(code, Is.Zero, stderr);
    }

    [Test]
    public async Task An_isolated_node_is_powered_off_through_its_bmc_and_the_gate_opens_only_after_its_group_is_gone()
    {
        var bmcs = await StartBmcsAsync();
        WriteIpmiCluster(bmcs, """{ "node1": [ [ "ipmi1" ] ], "node2": [ [ "ipmi2" ] ], "node3": [ [ "ipmi3" ] ] }""");
        StartAgents();
        var before = await WaitForViewAsync(All, All);
        var incarnation = IncarnationOf(before[1], 3);
        var pgid = Agent(3).Pid; // the agent leads its own group
        var (code, output) = await bmcs[2].IpmitoolAsync("chassis", "power", "status");
        Assert.That((code, output.Trim()), Is.EqualTo((0, "Chassis Power is on")), "node3's BMC sees its agent running");

        await IsolateAsync(3);
        var history = await WaitForFencedAsync(1, 3);

        var fenced = history.Single(e => e.GetProperty("victimId").GetInt32() == 3 && e.GetProperty("fenced").GetBoolean());
        Assert.Multiple(() =>
        {
            Assert.That(fenced.GetProperty("victimIncarnation").GetInt64(), Is.EqualTo(incarnation));
            Assert.That(fenced.GetProperty("device").GetString(), Is.EqualTo("ipmi3"));
            Assert.That(fenced.GetProperty("action").GetString(), Is.EqualTo("off"));
            Assert.That(fenced.GetProperty("result").GetString(), Is.EqualTo("success"));
            Assert.That(fenced.GetProperty("requester").GetString(), Is.EqualTo("node1"));
            Assert.That(fenced.GetProperty("detail").GetString(), Does.Contain("fence_ipmilan"));
        });
        Assert.That(await Agent(3).WaitForExitAsync(), Is.EqualTo(128 + Signals.Kill), "node3 was alive, cut off, and powered off: SIGKILL");
        Assert.That(Signals.SendToGroup(pgid, 0), Is.False, "its process group is gone");

        // Ordering, on one clock (CLOCK_MONOTONIC): the BMC's power verb saw ESRCH before the fencer logged the
        // record, and the gate opened after that record.
        var goneAt = bmcs[2].PoweredOffAt();
        Assert.That(goneAt, Has.Count.EqualTo(1), "node3 was powered off once");
        var gate = $"fencing gate of 3#{incarnation} open";
        await Poll.UntilAsync($"node1 to log \"{gate}\"", () => Agent(1).Stderr.Contains(gate, StringComparison.Ordinal));
        var log = Agent(1).Stderr;
        var record = FencedLine().Matches(log).Single(m => m.Groups[1].Value == $"3#{incarnation}");
        var recordedAt = double.Parse(record.Groups[2].Value, CultureInfo.InvariantCulture);
        TestContext.Out.WriteLine($"node3's group gone at monotonic {goneAt[0]:F6}; the fence recorded at {recordedAt:F6}");
        Assert.Multiple(() =>
        {
            Assert.That(goneAt[0], Is.LessThanOrEqualTo(recordedAt), "the group was gone before the fence was recorded as done");
            Assert.That(log.IndexOf(gate, StringComparison.Ordinal), Is.GreaterThan(record.Index), "the gate opened after the record");
            Assert.That(bmcs[0].PoweredOffAt().Concat(bmcs[1].PoweredOffAt()), Is.Empty, "nobody else was powered off");
        });
        await WaitForViewAsync([1, 2], [1, 2]);
    }

    [Test]
    public async Task A_bmc_with_a_wrong_password_fails_its_level_and_the_next_level_fences()
    {
        var bmcs = await StartBmcsAsync();
        WriteIpmiCluster(bmcs, """{ "*": [ [ "ipmi3" ], [ "pg" ] ] }""", wrongPasswordFor: "node3");
        StartAgents();
        await WaitForViewAsync(All, All);

        await IsolateAsync(3);
        var history = await WaitForFencedAsync(1, 3);

        var forNode3 = history.Where(e => e.GetProperty("victimId").GetInt32() == 3).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(forNode3.Select(e => (e.GetProperty("level").GetInt32(), e.GetProperty("device").GetString(), e.GetProperty("result").GetString())),
                Is.EqualTo(new[] { (1, "ipmi3", "failed"), (2, "pg", "success") }));
            Assert.That(forNode3.Select(e => e.GetProperty("fenced").GetBoolean()), Is.EqualTo(new[] { false, true }));
            Assert.That(bmcs[2].PoweredOffAt(), Is.Empty, "the BMC refused the session: nothing was powered off through it");
        });
        Assert.That(await Agent(3).WaitForExitAsync(), Is.EqualTo(128 + Signals.Kill));
    }

    // FencingService.LogSucceeded: "fenced:True node3 (3#17): level 1, device ipmi3, ... at monotonic 1234.567890".
    [GeneratedRegex(@"fenced:True \S+ \((\d+#\d+)\): .* at monotonic (\d+\.\d+)")]
    private static partial Regex FencedLine();
}
