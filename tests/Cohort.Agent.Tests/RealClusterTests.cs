using System.Net.Sockets;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>Clusters of real agents (three, and four) over the tcp transport on 127.0.0.1.</summary>
[NonParallelizable]
public sealed class RealClusterTests : ClusterTestBase
{
    private static readonly int[] All = [1, 2, 3];

    [Test]
    public async Task Survivors_of_a_sigkill_stay_quorate_the_last_one_is_not_and_restarted_nodes_rejoin_in_a_higher_view()
    {
        WriteCluster(3);
        StartAgents();
        var first = await WaitForViewAsync(All, All);

        Agent(3).Signal(Signals.Kill);
        var two = await WaitForViewAsync([1, 2], [1, 2]);
        Assert.That(EpochOf(two[1]), Is.GreaterThan(EpochOf(first[1])));

        Agent(2).Signal(Signals.Kill);
        var alone = await WaitForViewAsync([1], [1], quorate: false);
        Assert.That(alone[1].GetProperty("quorum").GetProperty("reason").GetString(), Is.EqualTo("1 of 3 expected votes; 2 needed"));
        Assert.That(alone[1].GetProperty("quorum").GetProperty("noQuorumPolicy").GetString(), Is.EqualTo("stop"), "the default: the agent keeps running and answering");

        StartAgents(2, 3);
        var again = await WaitForViewAsync(All, All);
        Assert.Multiple(() =>
        {
            Assert.That(EpochOf(again[1]), Is.GreaterThan(EpochOf(alone[1])), "a higher view");
            Assert.That(IncarnationOf(again[1], 1), Is.EqualTo(1));
            Assert.That(IncarnationOf(again[1], 2), Is.EqualTo(2), "node2 rejoined as a new incarnation");
            Assert.That(IncarnationOf(again[1], 3), Is.EqualTo(2), "node3 rejoined as a new incarnation");
            Assert.That(PeerOf(again[1], 3).GetProperty("sessionResets").GetInt64(), Is.EqualTo(1), "node1's session with node3#1 ended when node3#2 appeared");
        });
    }

    [Test]
    public async Task Under_self_fence_the_last_node_kills_itself_when_it_loses_quorum()
    {
        WriteCluster(3, clusterExtra: """, "Quorum": { "NoQuorumPolicy": "self-fence" }""");
        StartAgents();
        await WaitForViewAsync(All, All);

        Agent(3).Signal(Signals.Kill);
        await WaitForViewAsync([1, 2], [1, 2]);
        Agent(2).Signal(Signals.Kill);

        var code = await Agent(1).WaitForExitAsync();
        Assert.That(code, Is.EqualTo(128 + Signals.Kill), "killed by its own SIGKILL");
        Assert.That(Agent(1).Stderr, Does.Contain("quorum lost (").And.Contain("and Cluster:Quorum:NoQuorumPolicy is self-fence: this node fences itself"));
    }

    [Test]
    public async Task A_paused_agent_is_excluded_and_rejoins_as_the_same_incarnation_over_the_same_sessions()
    {
        WriteCluster(3);
        StartAgents();
        await WaitForViewAsync(All, All);

        var before = QuorumChanges(Agent(3)).Count;
        Agent(3).Signal(Signals.Stop);
        await WaitForViewAsync([1, 2], [1, 2]);
        Agent(3).Signal(Signals.Continue);

        var again = await WaitForViewAsync(All, All);
        Assert.Multiple(() =>
        {
            Assert.That(IncarnationOf(again[1], 3), Is.EqualTo(1), "the same process came back");
            Assert.That(PeerOf(again[1], 3).GetProperty("sessionResets").GetInt64(), Is.Zero, "a pause shorter than the session timeout keeps the session");
            Assert.That(PeerOf(again[3], 1).GetProperty("sessionResets").GetInt64(), Is.Zero);
            Assert.That(QuorumChanges(Agent(3)).Skip(before).Select(c => c.Quorate).FirstOrDefault(true), Is.False, "node3's first word after the pause: its lease ran out, by its own clock");
        });
    }

    [Test]
    public async Task A_node_whose_outbound_traffic_is_cut_stops_being_quorate_before_the_others_are_quorate_without_it()
    {
        WriteCluster(3);
        StartAgents();
        var formed = EpochOf((await WaitForViewAsync(All, All))[1]);

        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node1,node2", "--one-way", "out", "--socket", SocketOf(3));
        Assert.That(code, Is.Zero, stderr);
        await WaitForViewAsync([1, 2], [1, 2]);

        // node3 still hears the others but none of them hears it: its lease runs out on its own clock.
        // Only views after the one all three formed count (nodes 1 and 2 may have been a view of two
        // before node3 joined).
        var lost = QuorumChanges(Agent(3)).Last(c => !c.Quorate);
        var gained = new[] { 1, 2 }.Select(node =>
        {
            var without3 = InstalledViews(Agent(node))
                .Where(v => !v.Members.Contains(3) && long.Parse(v.View.Split('.')[0], System.Globalization.CultureInfo.InvariantCulture) > formed)
                .Select(v => v.View).ToHashSet();
            return QuorumChanges(Agent(node)).First(c => c.Quorate && without3.Contains(c.View));
        }).ToList();
        TestContext.Out.WriteLine($"node3 quorate:false at {lost.Monotonic:F6}; node1 quorate:true in {gained[0].View} at {gained[0].Monotonic:F6}; node2 in {gained[1].View} at {gained[1].Monotonic:F6}");
        Assert.That(lost.Monotonic, Is.LessThan(gained.Min(g => g.Monotonic)), "no moment when node3 and the new view were both quorate");

        (code, _, stderr) = await CohortProcess.RunAsync("debug", "heal", "--socket", SocketOf(3));
        Assert.That(code, Is.Zero, stderr);
        await WaitForViewAsync(All, All);
    }

    [Test]
    public async Task Garbage_an_oversized_length_and_a_replayed_record_each_leave_the_cluster_running()
    {
        // node1 and node3 reach node2 through a proxy that replays one record of the first connection.
        WriteCluster(3);
        var target = Address(2);
        await using var proxy = new TamperingProxy(target, Tamper.Replay, afterDataRecords: 20);
        WriteCluster3WithProxy(proxy.Address);
        StartAgents();
        await WaitForViewAsync(All, All);
        await Poll.UntilAsync("the proxy to replay a record", () => proxy.Tampered);

        var status = await WaitForViewAsync(All, All);
        var malformed = new[] { 1, 3 }.Sum(peer => PeerOf(status[2], peer).GetProperty("malformedFrames").GetInt64());
        Assert.That(malformed, Is.EqualTo(1), "node2 refused the replayed record and counted it");
        Assert.That(All.Sum(n => status[n].GetProperty("transport").GetProperty("peers").EnumerateArray().Sum(p => p.GetProperty("sessionResets").GetInt64())), Is.Zero, "no session was reset: the connection was replaced");
        Assert.That(Agent(2).Stderr, Does.Contain("a record that fails authentication (forged, corrupted, replayed or out of order): connection closed, session kept"));

        foreach (var (bytes, what) in new[] { (Garbage, "bytes that are not a Cohort handshake"), (Oversized, "a handshake message of 65535 bytes (at most 512)") })
        {
            using (var stranger = new TcpClient())
            {
                await stranger.ConnectAsync(System.Net.IPAddress.Loopback, int.Parse(Address(1).Split(':')[1], System.Globalization.CultureInfo.InvariantCulture));
                await stranger.GetStream().WriteAsync(bytes);
                await Poll.UntilAsync($"node1 to refuse {what}", async () => (await StatusAsync(1))?.GetProperty("transport").GetProperty("lastRefusal").GetString()?.EndsWith(what, StringComparison.Ordinal) == true ? "" : null);
            }

            status = await WaitForViewAsync(All, All);
        }

        Assert.That(status[1].GetProperty("transport").GetProperty("refusedConnections").GetInt64(), Is.EqualTo(2));
    }

    [Test]
    public async Task A_node_with_another_key_or_another_cluster_file_never_joins()
    {
        WriteCluster(3);
        WriteKey(Dir.Combine("other.key"));
        WriteNodeFile(3, key: "other.key");
        StartAgents();
        await WaitForViewAsync([1, 2], [1, 2]);
        await Poll.UntilAsync("node1 to refuse node3's key", async () => (await StatusAsync(1))?.GetProperty("transport").GetProperty("lastRefusal").GetString()?.Contains("(the keys differ)", StringComparison.Ordinal) == true ? "" : null);
        var outsider = await StatusAsync(3);
        Assert.That(MembersOf(outsider!.Value), Is.EqualTo(new[] { 3 }), "node3 is alone");
        Assert.That(outsider.Value.GetProperty("quorate").GetBoolean(), Is.False);

        Agent(3).Signal(Signals.Kill);
        await Agent(3).WaitForExitAsync();
        var different = File.ReadAllText(Dir.Combine("cluster.json")).Replace("\"Name\": \"t\"", "\"Name\": \"t\", \"Description\": \"edited on node3 only\"", StringComparison.Ordinal);
        Dir.Write("cluster3.json", different);
        WriteNodeFile(3, bootstrap: "cluster3.json");
        Directory.Delete(Dir.Combine("node3", "ccs"), recursive: true); // a node that starts afresh seeds version 1 from its own file
        StartAgents(3);

        var ours = (await StatusAsync(1))!.Value.GetProperty("config").GetProperty("genesis").GetString();
        var theirs = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Dir.Combine("cluster3.json"))));
        await Poll.UntilAsync("node1 to refuse node3's cluster document", () => Agent(1).Stderr.Contains($"refused 3#2: it was bootstrapped from cluster document {theirs}, this node from {ours}; every node of a cluster seeds version 1 from the same cluster file", StringComparison.Ordinal));
        await WaitForViewAsync([1, 2], [1, 2]);
        Assert.That(MembersOf((await StatusAsync(3))!.Value), Is.EqualTo(new[] { 3 }));
    }

    [Test]
    public async Task The_three_node_sample_forms_a_cluster_as_shipped()
    {
        // The sample's files, its published key included (mode 0644 here, accepted because the sample
        // sets Node:AllowInsecureKeyFile); only the ports and state directories move into this test's.
        WriteCluster(3);
        foreach (var file in new[] { "cluster.json", "cluster.key", "node1.json", "node2.json", "node3.json" })
        {
            Dir.Write(Path.Combine("sample", file), File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "three-node", file)));
        }

        foreach (var node in All)
        {
            var seeds = All.Where(n => n != node).Select((n, i) => $"--Node:Seeds:{i}={Address(n)}");
            Start(["agent", "--config", Dir.Combine("sample", $"node{node}.json"), $"--Node:Listen={Address(node)}", .. seeds,
                $"--Node:StateDirectory={Dir.Combine($"node{node}")}"]);
        }

        var statuses = await WaitForViewAsync(All, All);
        Assert.That(statuses[1].GetProperty("cluster").GetString(), Is.EqualTo("three"));
        Assert.That(statuses.Values.Select(s => s.GetProperty("node").GetString()), Is.EqualTo(new[] { "node1", "node2", "node3" }));
    }

    [Test]
    public async Task Partitioning_from_a_node_that_is_not_a_peer_lists_the_peers()
    {
        WriteCluster(3);
        StartAgents(1);
        await WaitForViewAsync([1], [1], quorate: false);

        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node7", "--socket", SocketOf(1));

        Assert.That(code, Is.EqualTo(Cohort.Host.ExitCodes.Failure));
        Assert.That(Lines(stderr), Is.EqualTo(new[] { "cohort: the agent refused \"debug-partition\": \"node7\" is not a peer of this node; the peers are node2 (2), node3 (3)" }));
    }

    [Test]
    public async Task Four_nodes_with_auto_tie_breaker_split_two_two_leave_exactly_the_lowest_id_half_quorate()
    {
        WriteCluster(4, clusterExtra: """, "Quorum": { "VoteQuorum": { "AutoTieBreaker": true } }""");
        StartAgents();
        int[] four = [1, 2, 3, 4];
        await WaitForViewAsync(four, four);

        foreach (var node in new[] { 1, 2 })
        {
            var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node3,node4", "--socket", SocketOf(node));
            Assert.That(code, Is.Zero, stderr);
        }

        var low = await WaitForViewAsync([1, 2], [1, 2]);
        var high = await WaitForViewAsync([3, 4], [3, 4], quorate: false);
        Assert.That(low[1].GetProperty("quorum").GetProperty("reason").GetString(), Is.EqualTo("2 of 4 expected votes; 3 needed; an exact half holding tie-breaker node 1 (auto_tie_breaker)"));
        Assert.That(high[3].GetProperty("quorum").GetProperty("reason").GetString(), Is.EqualTo("2 of 4 expected votes; 3 needed; an exact half without tie-breaker node 1 (auto_tie_breaker)"));

        var quorum = await JsonOf("quorum", "--json", "--socket", SocketOf(1));
        Assert.That(quorum.GetProperty("quorate").GetBoolean(), Is.True);
        Assert.That(quorum.GetProperty("leaseRemainingMilliseconds").GetDouble(), Is.GreaterThan(0));
        Assert.That(quorum.GetProperty("quorum").GetProperty("flags").EnumerateArray().Select(f => f.GetString()), Is.EqualTo(new[] { "AutoTieBreaker" }));
    }

    [Test]
    public async Task A_listen_address_in_use_stops_the_agent_with_one_line()
    {
        WriteCluster(3);
        var port = int.Parse(Address(1).Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        using var squatter = new TcpListener(System.Net.IPAddress.Loopback, port);
        squatter.Start();

        StartAgents(1);

        Assert.That(await Agent(1).WaitForExitAsync(), Is.EqualTo(Cohort.Host.ExitCodes.OsError));
        Assert.That(Agent(1).Stderr, Does.Contain($"cohort: transport tcp: cannot listen on {Address(1)}: Address already in use"));
    }

    private void WriteCluster3WithProxy(string proxy)
    {
        // The cluster file sends everyone to node2 through the proxy; node2 listens on its own port.
        var cluster = File.ReadAllText(Dir.Combine("cluster.json")).Replace("{ \"Id\": 2, \"Name\": \"node2\" }", $"{{ \"Id\": 2, \"Name\": \"node2\", \"Address\": \"{proxy}\" }}", StringComparison.Ordinal);
        Dir.Write("cluster.json", cluster);
        WriteNodeFile(1, seeds: [Address(3)]);
        WriteNodeFile(3, seeds: [Address(1)]);
    }

    /// <summary>A plausible length, then bytes that are not a hello.</summary>
    private static readonly byte[] Garbage = [29, 0, .. "GET / HTTP/1.1\r\nHost: node1\r\n"u8];

    private static readonly byte[] Oversized = [0xFF, 0xFF, 0, 0, 0, 0];
}
