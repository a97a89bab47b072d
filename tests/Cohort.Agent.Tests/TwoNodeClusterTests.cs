using System.Text.Json;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// Two-node clusters between real agents (votequorum <c>TwoNode</c>): a split leaves both halves quorate, and the
/// fence race decides. Fencing node2 waits 3 s more than fencing node1 (<c>DelayBase</c>), so node2 shoots first and
/// survives — through
/// <c>process-group</c>, and through the real <c>fence_ipmilan</c> against a simulated BMC. The loser, restarted while
/// the split lasts, is not quorate (<c>WaitForAll</c>) and fences nobody; once the split heals it rejoins and fences
/// nobody either.
/// </summary>
[NonParallelizable]
public sealed class TwoNodeClusterTests : ClusterTestBase
{
    private static readonly int[] Both = [1, 2];

    private readonly List<IpmiSimulator> _bmcs = [];

    [TearDown]
    public void StopBmcs()
    {
        foreach (var bmc in _bmcs)
        {
            bmc.Dispose();
        }

        _bmcs.Clear();
    }

    private const string TwoNodeQuorum = """, "Quorum": { "Policy": "votequorum", "VoteQuorum": { "TwoNode": true } }""";

    /// <summary>A two-node cluster with the given devices (JSON members of <c>Devices</c>) and levels.</summary>
    private void WriteTwoNode(string devices, string levels) =>
        WriteCluster(2, clusterExtra: TwoNodeQuorum + $$"""
            , "Fencing": {
                "MonitorInterval": 0,
                "Devices": { {{devices}} },
                "Levels": {{levels}}
              }
            """);

    private string HostMap => string.Join(", ", Both.Select(i => $"\"node{i}\": {JsonSerializer.Serialize(Dir.Combine($"node{i}"))}"));

    /// <summary>Cuts both nodes' links to each other, from both sides (each agent drops the other's frames).</summary>
    private async Task SplitAsync()
    {
        var one = CohortProcess.RunAsync("debug", "partition", "--peer", "node2", "--socket", SocketOf(1));
        var two = CohortProcess.RunAsync("debug", "partition", "--peer", "node1", "--socket", SocketOf(2));
        foreach (var (code, _, stderr) in await Task.WhenAll(one, two))
        {
            Assert.That(code, Is.Zero, stderr);
        }
    }

    [Test]
    public async Task A_split_kills_the_unprotected_node_the_restarted_loser_fences_nobody_and_rejoins_after_the_heal()
    {
        WriteTwoNode($$""" "pg": { "Agent": "process-group", "Timeout": 10, "DelayBase": { "node1": 1, "node2": 4 }, "HostMap": { {{HostMap}} } } """, """{ "*": [ [ "pg" ] ] }""");
        StartAgents();
        var before = await WaitForViewAsync(Both, Both);
        var loser = IncarnationOf(before[2], 1);
        var winner = IncarnationOf(before[1], 2);

        // node2 waits 1 s too, so node1 surely names node2 its victim (and persists it) before it dies.
        await SplitAsync();
        Assert.That(await Agent(1).WaitForExitAsync(), Is.EqualTo(128 + Signals.Kill), "node1 lost the race: SIGKILL by node2's device");
        var history = await WaitForFencedAsync(2, 1);
        await WaitForViewAsync([2], [2]);
        Assert.Multiple(() =>
        {
            Assert.That(history.Single(e => e.GetProperty("fenced").GetBoolean()).GetProperty("victimIncarnation").GetInt64(), Is.EqualTo(loser));
            Assert.That(history.Any(e => e.GetProperty("victimId").GetInt32() == 2), Is.False, "node1 never got to shoot");
            Assert.That(Agent(1).Stderr, Does.Contain($"fencing node2 (2#{winner}) in 4 s (fence-race delay of device pg: DelayBase 4 s)"));
            Assert.That(Agent(1).Stderr, Does.Not.Contain($"fencing node2 (2#{winner}): level"), "node1 died before its delay was over");
            Assert.That(Agent(2).Stderr, Does.Contain($"fencing node1 (1#{loser}) in 1 s"));
        });

        // node1 comes back while node2 still cuts it off: alone, waiting for all, not quorate — and its record still
        // names node2 as its victim, which it must not act on.
        StartAgents(1);
        var alone = (await Poll.UntilAsync("the restarted node1 to settle alone, not quorate, with node2 pending", async () =>
            await StatusAsync(1) is { } s && s.GetProperty("view").ValueKind == JsonValueKind.Object && MembersOf(s).SequenceEqual([1])
                && !s.GetProperty("quorate").GetBoolean()
                && s.GetProperty("fencing").GetProperty("pending").EnumerateArray().Any(p => p.GetProperty("victim").GetString() == "node2")
                ? new[] { s } : null, TimeSpan.FromSeconds(30)))[0];
        var pending = alone.GetProperty("fencing").GetProperty("pending").EnumerateArray().Single();
        Assert.Multiple(() =>
        {
            Assert.That(pending.GetProperty("state").GetString(), Is.EqualTo("waiting"), "not quorate: it fences nobody");
            Assert.That(alone.GetProperty("quorum").GetProperty("reason").GetString(), Does.Contain("wait_for_all"));
        });

        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "heal", "--socket", SocketOf(2));
        Assert.That(code, Is.Zero, stderr);
        var after = await WaitForViewAsync(Both, Both);
        Assert.That(IncarnationOf(after[1], 2), Is.EqualTo(winner), "the survivor is the same incarnation");
        await Poll.UntilAsync("node1 to overrule its old victim", () => Agent(1).Stderr.Contains($"not fencing node2 (2#{winner})", StringComparison.Ordinal));
        var status = (await StatusAsync(1))!.Value;
        var known = await HistoryAsync(1);
        Assert.Multiple(() =>
        {
            Assert.That(status.GetProperty("fencing").GetProperty("pending").GetArrayLength(), Is.Zero);
            Assert.That(known.Count(e => e.GetProperty("victimId").GetInt32() == 2), Is.Zero, "no operation against the survivor, ever");
            Assert.That(known.Count(e => e.GetProperty("victimId").GetInt32() == 1 && e.GetProperty("fenced").GetBoolean()), Is.EqualTo(1), "node1 learned it was fenced");
            Assert.That(Agent(2).Process.HasExited, Is.False);
        });
    }

    [Test]
    public async Task A_split_powers_the_unprotected_node_off_through_fence_ipmilan_and_the_survivor_stays_quorate()
    {
        foreach (var node in Both)
        {
            _bmcs.Add(await IpmiSimulator.StartAsync(Dir.Combine($"node{node}")));
        }

        var devices = string.Join(",\n", Both.Select(node => $$"""
            "ipmi{{node}}": { "Agent": "external", "Program": "fence_ipmilan", "Timeout": 30, {{(node == 2 ? "\"DelayBase\": 3, " : "")}}"Options": {{JsonSerializer.Serialize(_bmcs[node - 1].FenceOptions())}} }
            """));
        WriteTwoNode(devices, """{ "node1": [ [ "ipmi1" ] ], "node2": [ [ "ipmi2" ] ] }""");
        StartAgents();
        var before = await WaitForViewAsync(Both, Both);
        var loser = IncarnationOf(before[2], 1);
        var pgid = Agent(1).Pid;

        await SplitAsync();
        var history = await WaitForFencedAsync(2, 1);
        var fenced = history.Single(e => e.GetProperty("fenced").GetBoolean());
        Assert.Multiple(() =>
        {
            Assert.That(fenced.GetProperty("victimIncarnation").GetInt64(), Is.EqualTo(loser));
            Assert.That(fenced.GetProperty("device").GetString(), Is.EqualTo("ipmi1"));
            Assert.That(fenced.GetProperty("detail").GetString(), Does.Contain("fence_ipmilan"));
        });
        Assert.That(await Agent(1).WaitForExitAsync(), Is.EqualTo(128 + Signals.Kill), "node1's chassis was powered off");
        Assert.That(Signals.SendToGroup(pgid, 0), Is.False, "its process group is gone");
        await WaitForViewAsync([2], [2]);
        Assert.Multiple(() =>
        {
            Assert.That(_bmcs[0].PoweredOffAt(), Has.Count.EqualTo(1), "node1 was powered off once");
            Assert.That(_bmcs[1].PoweredOffAt(), Is.Empty, "node2 never was");
            Assert.That(Agent(2).Process.HasExited, Is.False);
        });
    }
}
