using System.Text.Json;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// Fencing between real agents on 127.0.0.1: the quorate partition fences a departed incarnation through its
/// levels with real devices — <c>process-group</c> (which kills the victim agent's process group) and
/// <c>script</c> — and the history every node shares shows it.
/// </summary>
[NonParallelizable]
public sealed class FencingClusterTests : ClusterTestBase
{
    private static readonly int[] All = [1, 2, 3];

    /// <summary>A cluster whose nodes are fenced through <paramref name="levels"/> (the JSON of
    /// <c>Cluster:Fencing:Levels</c>), with a process-group device <c>pg</c> and any extra devices.</summary>
    private void WriteFencedCluster(string levels, string extraDevices = "")
    {
        var hostMap = string.Join(", ", Enumerable.Range(1, 3).Select(i => $"\"node{i}\": {JsonSerializer.Serialize(Dir.Combine($"node{i}"))}"));
        WriteCluster(3, clusterExtra: $$"""
            , "Fencing": {
                "MonitorInterval": 1,
                "Devices": {
                  "pg": { "Agent": "process-group", "Timeout": 10, "HostMap": { {{hostMap}} } }{{extraDevices}}
                },
                "Levels": {{levels}}
              }
            """);
    }

    private static bool GroupIsGone(int pgid) => VictimGroup.IsGroupGone(pgid);

    [Test]
    public async Task A_killed_node_is_fenced_by_the_lowest_survivor_and_every_node_shares_the_record()
    {
        WriteFencedCluster("""{ "*": [ [ "pg" ] ] }""");
        StartAgents();
        var before = await WaitForViewAsync(All, All);
        var incarnation = IncarnationOf(before[1], 3);

        Agent(3).Signal(Signals.Kill);
        await WaitForViewAsync([1, 2], [1, 2]);
        var history = await WaitForFencedAsync(1, 3);
        var fenced = history.Single(e => e.GetProperty("fenced").GetBoolean());
        Assert.Multiple(() =>
        {
            Assert.That(fenced.GetProperty("victim").GetString(), Is.EqualTo("node3"));
            Assert.That(fenced.GetProperty("victimIncarnation").GetInt64(), Is.EqualTo(incarnation));
            Assert.That(fenced.GetProperty("level").GetInt32(), Is.EqualTo(1));
            Assert.That(fenced.GetProperty("device").GetString(), Is.EqualTo("pg"));
            Assert.That(fenced.GetProperty("action").GetString(), Is.EqualTo("off"));
            Assert.That(fenced.GetProperty("result").GetString(), Is.EqualTo("success"));
            Assert.That(fenced.GetProperty("requester").GetString(), Is.EqualTo("node1"), "the lowest-id survivor fences");
            Assert.That(history.Count(e => e.GetProperty("victimId").GetInt32() == 3), Is.EqualTo(1), "one fencer, one operation");
        });

        // Shared: node2 holds the same record, and nothing is pending anywhere.
        var shared = await WaitForFencedAsync(2, 3);
        Assert.That(shared.Single(e => e.GetProperty("fenced").GetBoolean()).GetProperty("requesterIncarnation").GetInt64(), Is.EqualTo(fenced.GetProperty("requesterIncarnation").GetInt64()));
        var status = (await StatusAsync(2))!.Value;
        Assert.That(status.GetProperty("fencing").GetProperty("pending").GetArrayLength(), Is.Zero);
        Assert.That(status.GetProperty("fencing").GetProperty("last").EnumerateArray().Single().GetProperty("result").GetString(), Is.EqualTo("success"));
        var log = Agent(1).Stderr;
        var fencedAt = log.IndexOf($"fenced:True node3 (3#{incarnation})", StringComparison.Ordinal);
        var openedAt = log.IndexOf($"fencing gate of 3#{incarnation} open", StringComparison.Ordinal);
        Assert.That(fencedAt, Is.Not.Negative, log);
        Assert.That(openedAt, Is.GreaterThan(fencedAt), "the gate opens only once the device reported node3 dead");
    }

    [Test]
    public async Task An_isolated_node_is_fenced_and_its_process_group_is_gone_before_the_record_says_so()
    {
        WriteFencedCluster("""{ "*": [ [ "pg" ] ] }""");
        StartAgents();
        await WaitForViewAsync(All, All);
        var pgid = Agent(3).Pid; // the agent leads its own group

        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node1,node2", "--socket", SocketOf(3));
        Assert.That(code, Is.Zero, stderr);
        await WaitForFencedAsync(1, 3);
        Assert.That(GroupIsGone(pgid), Is.True, "the device reports success only once no live process is left in the group");
        Assert.That(await Agent(3).WaitForExitAsync(), Is.EqualTo(128 + Signals.Kill), "node3 was alive, cut off, and is now killed");
        await WaitForViewAsync([1, 2], [1, 2]);
    }

    [Test]
    public async Task A_failing_level_falls_through_to_the_next()
    {
        WriteFencedCluster("""{ "*": [ [ "broken" ], [ "pg" ] ] }""", """, "broken": { "Agent": "script", "Command": "/bin/false" }""");
        StartAgents();
        await WaitForViewAsync(All, All);

        Agent(3).Signal(Signals.Kill);
        var history = await WaitForFencedAsync(1, 3);
        var forNode3 = history.Where(e => e.GetProperty("victimId").GetInt32() == 3).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(forNode3.Select(e => (e.GetProperty("level").GetInt32(), e.GetProperty("device").GetString(), e.GetProperty("result").GetString())),
                Is.EqualTo(new[] { (1, "broken", "failed"), (2, "pg", "success") }));
            Assert.That(forNode3[1].GetProperty("fenced").GetBoolean(), Is.True);
        });
    }

    [Test]
    public async Task When_every_level_fails_the_victim_is_retried_and_never_reported_fenced()
    {
        WriteFencedCluster("""{ "*": [ [ "broken" ] ] }""", """, "broken": { "Agent": "script", "Command": "/bin/false" }""");
        StartAgents();
        await WaitForViewAsync(All, All);

        Agent(3).Signal(Signals.Kill);
        var history = await Poll.UntilAsync("two failed passes over node3's levels", async () =>
        {
            var all = await HistoryAsync(1);
            return all.Count(e => e.GetProperty("victimId").GetInt32() == 3) >= 2 ? all : null;
        }, TimeSpan.FromSeconds(60));
        var status = (await StatusAsync(1))!.Value;
        var pending = status.GetProperty("fencing").GetProperty("pending").EnumerateArray().Single();
        Assert.Multiple(() =>
        {
            Assert.That(history.Where(e => e.GetProperty("victimId").GetInt32() == 3).Select(e => e.GetProperty("attempt").GetInt32()).Take(2), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(history.Any(e => e.GetProperty("fenced").GetBoolean() || e.GetProperty("result").GetString() == "success"), Is.False);
            Assert.That(pending.GetProperty("victim").GetString(), Is.EqualTo("node3"));
            Assert.That(pending.GetProperty("fencer").GetString(), Is.EqualTo("node1"));
            Assert.That(Agent(1).Stderr, Does.Contain("every level failed in pass 1"));
        });
    }

    [Test]
    public async Task A_node_that_rejoins_after_a_healed_partition_with_the_same_incarnation_is_fenced_not_welcomed()
    {
        // Level 1 is a gate device that fails while the flag exists, then the process-group kill.
        var flag = Dir.Combine("hold-fencing");
        File.WriteAllText(flag, "");
        WriteFencedCluster("""{ "*": [ [ "gate", "pg" ] ] }""",
            $$""", "gate": { "Agent": "script", "Command": "/bin/sh", "Arguments": [ "-c", {{JsonSerializer.Serialize($"test ! -e '{flag}'")}} ] }""");
        StartAgents();
        var before = await WaitForViewAsync(All, All);
        var incarnation = IncarnationOf(before[1], 3);

        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node1,node2", "--socket", SocketOf(3));
        Assert.That(code, Is.Zero, stderr);
        await Poll.UntilAsync("node1 to fail to fence node3 while the gate device holds", async () =>
            (await HistoryAsync(1)).Any(e => e.GetProperty("device").GetString() == "gate") ? "" : null, TimeSpan.FromSeconds(60));

        (code, _, stderr) = await CohortProcess.RunAsync("debug", "heal", "--socket", SocketOf(3));
        Assert.That(code, Is.Zero, stderr);
        var healed = await WaitForViewAsync(All, All);
        Assert.That(IncarnationOf(healed[1], 3), Is.EqualTo(incarnation), "node3 is back in the view as the same incarnation");
        var pending = healed[1].GetProperty("fencing").GetProperty("pending").EnumerateArray().Select(p => (p.GetProperty("victim").GetString(), p.GetProperty("victimIncarnation").GetInt64()));
        Assert.That(pending, Does.Contain(("node3", incarnation)), "still a victim: what it held was given up when it was excluded");

        File.Delete(flag);
        var history = await WaitForFencedAsync(1, 3);
        Assert.That(history.Single(e => e.GetProperty("fenced").GetBoolean()).GetProperty("victimIncarnation").GetInt64(), Is.EqualTo(incarnation));
        Assert.That(await Agent(3).WaitForExitAsync(), Is.EqualTo(128 + Signals.Kill));
    }

    [Test]
    public async Task A_victim_without_levels_waits_until_a_committed_change_gives_it_some()
    {
        WriteCluster(3);
        StartAgents();
        await WaitForViewAsync(All, All);

        Agent(3).Signal(Signals.Kill);
        await Poll.UntilAsync("node1 to find node3 has no fencing levels", async () =>
            (await HistoryAsync(1)).Any(e => e.GetProperty("device").GetString() == "(none)") ? "" : null, TimeSpan.FromSeconds(60));
        Assert.That((await HistoryAsync(1)).Any(e => e.GetProperty("fenced").GetBoolean()), Is.False);

        // Give every node a process-group level through CCS: the next pass uses it.
        var hostMap = string.Join(", ", All.Select(i => $"\"node{i}\": {JsonSerializer.Serialize(Dir.Combine($"node{i}"))}"));
        var nodes = string.Join(", ", All.Select(i => $$"""{ "Id": {{i}}, "Name": "node{{i}}" }"""));
        var change = Dir.Write("fenced.json", $$"""
            { "Name": "t", "Nodes": [ {{nodes}} ],
              "Fencing": { "Devices": { "pg": { "Agent": "process-group", "HostMap": { {{hostMap}} } } }, "Levels": { "*": [ [ "pg" ] ] } } }
            """);
        var (code, stdout, stderr) = await CohortProcess.RunAsync("config", "apply", change, "--socket", SocketOf(2));
        Assert.That(code, Is.Zero, stdout + stderr);
        var fenced = (await WaitForFencedAsync(1, 3)).Single(e => e.GetProperty("fenced").GetBoolean());
        Assert.That((fenced.GetProperty("device").GetString(), fenced.GetProperty("requester").GetString()), Is.EqualTo(("pg", "node1")));
    }

    [Test]
    public async Task A_manual_device_waits_for_the_operator_s_ack_given_on_another_node()
    {
        WriteFencedCluster("""{ "*": [ [ "human" ] ] }""", """, "human": { "Agent": "manual", "Timeout": 120, "Instructions": "check the rack" }""");
        StartAgents();
        await WaitForViewAsync(All, All);

        Agent(3).Signal(Signals.Kill);
        await Poll.UntilAsync("node1's manual device to tell the operator what to do", () =>
            Agent(1).Stderr.Contains("then run: cohort fence ack node3", StringComparison.Ordinal) && Agent(1).Stderr.Contains("check the rack", StringComparison.Ordinal));
        var pending = (await StatusAsync(2))!.Value.GetProperty("fencing").GetProperty("pending").EnumerateArray().Single();
        Assert.That((pending.GetProperty("victim").GetString(), pending.GetProperty("state").GetString()), Is.EqualTo(("node3", "elsewhere")), "node1 fences; node2 waits");
        Assert.That((await HistoryAsync(1)).Any(e => e.GetProperty("victimId").GetInt32() == 3), Is.False, "nothing is recorded while the operator has not answered");

        var (code, stdout, stderr) = await CohortProcess.RunAsync("fence", "ack", "node3", "--socket", SocketOf(2));
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.StartWith("acknowledged node3"));
        var fenced = (await WaitForFencedAsync(1, 3)).Single(e => e.GetProperty("fenced").GetBoolean());
        Assert.That((fenced.GetProperty("device").GetString(), fenced.GetProperty("result").GetString()), Is.EqualTo(("human", "success")));
    }

    [Test]
    public async Task An_operator_fences_a_live_member_and_fence_devices_shows_the_topology_and_monitor_results()
    {
        WriteFencedCluster("""{ "*": [ [ "pg" ] ] }""");
        StartAgents();
        await WaitForViewAsync(All, All);

        var text = await Poll.UntilAsync("the pg device to be monitored", async () =>
        {
            var (code, stdout, _) = await CohortProcess.RunAsync("fence", "devices", "--json", "--socket", SocketOf(2));
            return code == 0 && JsonDocument.Parse(stdout).RootElement.GetProperty("devices")[0].GetProperty("monitor").ValueKind == JsonValueKind.String ? stdout : null;
        });
        var devices = JsonDocument.Parse(text).RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(devices.GetProperty("devices")[0].GetProperty("agent").GetString(), Is.EqualTo("process-group"));
            Assert.That(devices.GetProperty("devices")[0].GetProperty("monitor").GetString(), Is.EqualTo("success"));
            Assert.That(devices.GetProperty("levels").EnumerateArray().Select(l => l.GetProperty("levels")[0][0].GetString()), Is.EqualTo(new[] { "pg", "pg", "pg" }));
        });

        var (code, stdout, stderr) = await CohortProcess.RunAsync("fence", "node3", "--socket", SocketOf(2));
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.StartWith("fencing node3 (incarnation "));
        var history = await WaitForFencedAsync(1, 3);
        Assert.That(history.Single(e => e.GetProperty("fenced").GetBoolean()).GetProperty("reason").GetString(), Is.EqualTo("operator"));
        Assert.That(await Agent(3).WaitForExitAsync(), Is.EqualTo(128 + Signals.Kill));

        // Asked during the view change that follows, too: the answer does not depend on quorum.
        (code, _, stderr) = await CohortProcess.RunAsync("fence", "node2", "--socket", SocketOf(2));
        Assert.That(code, Is.Not.Zero);
        Assert.That(stderr, Does.Contain("a node does not fence itself"));
    }
}
