using System.Security.Cryptography;
using System.Text.Json;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>CCS between real agents: <c>cohort config</c> against clusters on 127.0.0.1.</summary>
[NonParallelizable]
public sealed class ConfigClusterTests : ClusterTestBase
{
    private static readonly int[] All = [1, 2, 3];

    /// <summary>A cluster document like the test cluster's, with another description (and so another hash).</summary>
    private string WriteChange(string name, string description, int size = 3, string extra = "")
    {
        var nodes = string.Join(", ", Enumerable.Range(1, size).Select(i => $$"""{ "Id": {{i}}, "Name": "node{{i}}" }"""));
        Dir.Write(name, $$"""{ "Name": "t", "Description": "{{description}}", "Nodes": [ {{nodes}} ]{{extra}} }""");
        return Dir.Combine(name);
    }

    private async Task<(int Code, string Stdout, string Stderr)> ConfigAsync(int node, params string[] arguments) =>
        await CohortProcess.RunAsync(["config", .. arguments, "--socket", SocketOf(node)]);

    /// <summary>What a node shows as committed: its version and the hash of its bytes.</summary>
    private async Task<(long Version, string Sha256)> CommittedAsync(int node)
    {
        var (code, json, stderr) = await ConfigAsync(node, "show", "--json");
        Assert.That(code, Is.EqualTo(0), stderr);
        var root = JsonDocument.Parse(json).RootElement;
        return (root.GetProperty("version").GetInt64(), root.GetProperty("sha256").GetString()!);
    }

    private static string Sha256Of(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static Task<string> UntilAsync(string awaited, Func<Task<bool>> condition) =>
        Poll.UntilAsync(awaited, async () => await condition() ? "yes" : null);

    private async Task<long> ConfigVersionOf(int node) =>
        (await StatusAsync(node))!.Value.GetProperty("config").GetProperty("version").GetInt64();

    [Test]
    public async Task A_change_applied_on_one_node_is_committed_with_identical_bytes_on_every_node()
    {
        WriteCluster(3);
        StartAgents();
        await WaitForViewAsync(All, All);
        var change = WriteChange("change.json", "applied on node1");
        var (differs, diff, _) = await ConfigAsync(3, "diff", change);
        Assert.That(differs, Is.EqualTo(1));
        Assert.That(Lines(diff), Is.EqualTo(new[] { "against version 1:", "+ Description: applied on node1" }));

        var (code, stdout, stderr) = await ConfigAsync(1, "apply", change);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout.Trim(), Is.EqualTo("committed: version 2"));

        foreach (var node in new[] { 2, 3 })
        {
            await UntilAsync($"node{node} to hold version 2", async () => await ConfigVersionOf(node) == 2);
            var (version, sha) = await CommittedAsync(node);
            Assert.That(version, Is.EqualTo(2));
            Assert.That(sha, Is.EqualTo(Sha256Of(change)), $"node{node} holds the bytes node1 was given");
            var (_, text, _) = await ConfigAsync(node, "show");
            Assert.That(text, Is.EqualTo(await File.ReadAllTextAsync(change) + "\n"), "config show prints those bytes (the capture adds the line end)");
        }

        var shows = new List<string>();
        foreach (var node in All)
        {
            shows.Add((await ConfigAsync(node, "show", "--json")).Stdout);
        }

        Assert.That(shows.Distinct().Count(), Is.EqualTo(1), "config show --json is identical on every node");
        var (_, history, _) = await ConfigAsync(3, "history", "--json");
        var versions = JsonDocument.Parse(history).RootElement.EnumerateArray().Select(e => e.GetProperty("version").GetInt64()).ToList();
        Assert.That(versions, Is.EqualTo(new long[] { 1, 2 }));
        var (same, nothing, _) = await ConfigAsync(2, "diff", change);
        Assert.That((same, nothing.Trim()), Is.EqualTo((0, "no change from version 2")));
        var (again, unchanged, _) = await ConfigAsync(2, "apply", change);
        Assert.That((again, unchanged.Trim()), Is.EqualTo((0, "committed: version 2 (unchanged: the document is the committed one)")));
    }

    [Test]
    public async Task Of_two_concurrent_applies_on_one_base_version_exactly_one_commits()
    {
        WriteCluster(3);
        StartAgents();
        await WaitForViewAsync(All, All);
        var a = WriteChange("a.json", "from node2");
        var b = WriteChange("b.json", "from node3");

        var results = await Task.WhenAll(ConfigAsync(2, "apply", a, "--expect-version", "1"), ConfigAsync(3, "apply", b, "--expect-version", "1"));
        var codes = results.Select(r => r.Code).Order().ToArray();
        Assert.That(codes, Is.EqualTo(new[] { 0, 3 }), string.Join("\n", results.Select(r => r.Stdout + r.Stderr)));
        var loser = results.Single(r => r.Code == 3);
        Assert.That(loser.Stdout, Does.StartWith("conflict: version 2 is committed"));

        var winner = results[0].Code == 0 ? a : b;
        foreach (var node in All)
        {
            await UntilAsync($"node{node} to hold version 2", async () => await ConfigVersionOf(node) == 2);
            Assert.That((await CommittedAsync(node)).Sha256, Is.EqualTo(Sha256Of(winner)));
        }
    }

    [Test]
    public async Task When_the_proposer_is_killed_mid_commit_the_survivors_agree_and_go_on()
    {
        WriteCluster(3);
        StartAgents();
        await WaitForViewAsync(All, All);
        var change = WriteChange("change.json", "node1 dies while it commits this");

        // node1 leads (the view's coordinator is the lowest id); kill it while its apply is in flight.
        var apply = ConfigAsync(1, "apply", change);
        Agent(1).Signal(Signals.Kill);
        await apply;
        await WaitForViewAsync([2, 3], [2, 3]);

        var survivors = await Poll.UntilAsync("nodes 2 and 3 to agree on the committed version", async () =>
        {
            var two = await CommittedAsync(2);
            var three = await CommittedAsync(3);
            return two == three ? two.Sha256 : null;
        });
        var next = WriteChange("next.json", "after node1 died");
        var (code, stdout, stderr) = await ConfigAsync(2, "apply", next);
        Assert.That(code, Is.EqualTo(0), stdout + stderr);
        await UntilAsync("node3 to hold node2's change", async () => (await CommittedAsync(3)).Sha256 == Sha256Of(next));
        Assert.That(survivors, Is.Not.Empty);

        StartAgents(1);
        await WaitForViewAsync(All, All);
        await UntilAsync("node1, restarted, to catch up", async () => (await CommittedAsync(1)).Sha256 == Sha256Of(next));
    }

    [Test]
    public async Task A_split_two_node_cluster_commits_on_neither_side()
    {
        WriteCluster(2, clusterExtra: """, "Quorum": { "VoteQuorum": { "TwoNode": true } }""");
        StartAgents();
        await WaitForViewAsync([1, 2], [1, 2]);
        var (cut, _, cutError) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node2", "--socket", SocketOf(1));
        Assert.That(cut, Is.EqualTo(0), cutError);
        await WaitForViewAsync([1], [1]);
        await WaitForViewAsync([2], [2]);

        var results = await Task.WhenAll(
            ConfigAsync(1, "apply", WriteChange("one.json", "side one", size: 2, extra: """, "Quorum": { "VoteQuorum": { "TwoNode": true } }""")),
            ConfigAsync(2, "apply", WriteChange("two.json", "side two", size: 2, extra: """, "Quorum": { "VoteQuorum": { "TwoNode": true } }""")));
        Assert.That(results.Select(r => r.Code), Is.All.EqualTo(4), "one vote of two is no majority: the outcome stays unknown on both sides");
        Assert.That(results[0].Stdout, Does.StartWith("outcome unknown"));
        Assert.That(await ConfigVersionOf(1), Is.EqualTo(1));
        Assert.That(await ConfigVersionOf(2), Is.EqualTo(1));

        await CohortProcess.RunAsync("debug", "heal", "--socket", SocketOf(1));
        await WaitForViewAsync([1, 2], [1, 2]);
        var settled = await Poll.UntilAsync("both nodes to agree once healed", async () =>
        {
            var one = await CommittedAsync(1);
            var two = await CommittedAsync(2);
            return one == two ? one.Version.ToString(System.Globalization.CultureInfo.InvariantCulture) : null;
        });
        Assert.That(long.Parse(settled, System.Globalization.CultureInfo.InvariantCulture), Is.LessThanOrEqualTo(2), "at most one of the two documents ever commits");
    }

    [Test]
    public async Task A_damaged_state_record_is_reported_at_start_up_and_never_used()
    {
        WriteCluster(1);
        StartAgents(1);
        await WaitForViewAsync([1], [1]);
        Agent(1).Signal(Signals.Terminate);
        await Agent(1).WaitForExitAsync();

        var log = Dir.Combine("node1", "ccs", "log");
        var bytes = await File.ReadAllBytesAsync(log);
        await File.WriteAllBytesAsync(log, bytes[..(bytes.Length / 2)]);
        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", NodeFile(1));
        Assert.That(code, Is.EqualTo(78));
        Assert.That(stderr, Does.Contain($"{log}: corrupt").And.Contain("refuses to use it"));
    }

    [Test]
    public async Task A_restarted_node_judges_views_under_the_committed_document_not_its_bootstrap_file()
    {
        WriteCluster(3);
        StartAgents();
        await WaitForViewAsync(All, All);
        var (code, _, stderr) = await ConfigAsync(1, "apply", WriteChange("change.json", "committed"));
        Assert.That(code, Is.EqualTo(0), stderr);
        await UntilAsync("node3 to hold version 2", async () => await ConfigVersionOf(3) == 2);

        Agent(3).Signal(Signals.Kill);
        await Agent(3).WaitForExitAsync();
        StartAgents(3);
        var statuses = await WaitForViewAsync(All, All);
        Assert.That(statuses[3].GetProperty("view").GetProperty("configVersion").GetInt64(), Is.EqualTo(2));
        Assert.That(statuses[3].GetProperty("config").GetProperty("genesis").GetString(), Is.EqualTo(statuses[1].GetProperty("config").GetProperty("genesis").GetString()),
            "version 1 identifies the cluster, whatever version a node holds");
    }

    [Test]
    public async Task A_change_of_votes_and_no_quorum_policy_takes_effect_at_the_next_view_on_every_node_without_a_restart()
    {
        WriteCluster(3);
        StartAgents();
        var before = await WaitForViewAsync(All, All);
        Assert.That(before[2].GetProperty("quorum").GetProperty("expected").GetInt32(), Is.EqualTo(3));
        Assert.That(before[2].GetProperty("quorum").GetProperty("noQuorumPolicy").GetString(), Is.EqualTo("stop"));
        Dir.Write("votes.json", """{ "Name": "t", "Nodes": [ { "Id": 1, "Name": "node1", "Votes": 3 }, { "Id": 2, "Name": "node2" }, { "Id": 3, "Name": "node3" } ], "Quorum": { "NoQuorumPolicy": "freeze" } }""");
        var (code, _, stderr) = await ConfigAsync(3, "apply", Dir.Combine("votes.json"));
        Assert.That(code, Is.EqualTo(0), stderr);

        foreach (var node in All)
        {
            await UntilAsync($"node{node} to be quorate in a view under version 2, judged by its votes", async () =>
                await StatusAsync(node) is { } status
                && status.GetProperty("view").GetProperty("configVersion").GetInt64() == 2
                && status.GetProperty("quorum").GetProperty("expected").GetInt32() == 5
                && status.GetProperty("quorum").GetProperty("noQuorumPolicy").GetString() == "freeze"
                && status.GetProperty("quorate").GetBoolean());
        }

        var views = new HashSet<long>();
        foreach (var node in All)
        {
            var status = (await StatusAsync(node))!.Value;
            views.Add(status.GetProperty("view").GetProperty("epoch").GetInt64());
            Assert.That(status.GetProperty("view").GetProperty("members").GetArrayLength(), Is.EqualTo(3));
        }

        Assert.That(views, Has.Count.EqualTo(1), "one view under version 2 on every node");
        Assert.That(before[1].GetProperty("view").GetProperty("epoch").GetInt64(), Is.LessThan(views.Single()), "a new view was installed for it");
    }

    [Test]
    public async Task A_node_with_only_node_local_configuration_joins_once_a_committed_version_lists_it()
    {
        WriteCluster(4); // ports and node files for four; the cluster starts with three
        Dir.Write("cluster.json", """{ "Name": "t", "Nodes": [ { "Id": 1, "Name": "node1" }, { "Id": 2, "Name": "node2" }, { "Id": 3, "Name": "node3" } ] }""");
        StartAgents(1, 2, 3);
        await WaitForViewAsync(All, All);
        Dir.Write("node4.json", $$"""
            { "Node": { "Id": 4, "Listen": "{{Address(4)}}", "Seeds": [ "{{Address(2)}}" ], "KeyFile": "cluster.key", "StateDirectory": "node4" } }
            """);
        StartAgents(4);
        await Poll.UntilAsync("node4 to say it joins through its seeds", () => Agent(4).Stderr.Contains("joining through its seeds", StringComparison.Ordinal));
        var answered = await Poll.UntilAsync("node4 to answer status while it joins", async () =>
            await CohortProcess.RunAsync("status", "--json", "--socket", SocketOf(4)) is (0, var json, _) ? json : null);
        var joining = JsonDocument.Parse(answered).RootElement;
        Assert.That(joining.GetProperty("phase").GetString(), Is.EqualTo("joining"));
        Assert.That(joining.GetProperty("quorate").GetBoolean(), Is.False);
        Assert.That(joining.GetProperty("view").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(joining.GetProperty("quorum").GetProperty("reason").GetString(), Does.Contain("no vote until this node holds a cluster document that lists it"));
        var (_, text, _) = await CohortProcess.RunAsync("status", "--socket", SocketOf(4));
        Assert.That(text, Does.Contain("none yet: joining a running cluster through Node:Seeds"));

        Dir.Write("four.json", $$"""{ "Name": "t", "Nodes": [ { "Id": 1, "Name": "node1" }, { "Id": 2, "Name": "node2" }, { "Id": 3, "Name": "node3" }, { "Id": 4, "Name": "node4", "Address": "{{Address(4)}}" } ] }""");
        var (code, stdout, stderr) = await ConfigAsync(1, "apply", Dir.Combine("four.json"));
        Assert.That(code, Is.EqualTo(0), stdout + stderr);

        var statuses = await WaitForViewAsync([1, 2, 3, 4], [1, 2, 3, 4]);
        Assert.That(Agent(4).Stderr, Does.Contain("joined: holds cluster document version 2"));
        Assert.That(statuses[4].GetProperty("incarnation").GetInt64(), Is.EqualTo(2), "the member is a new incarnation; the one that joined had no vote");
        foreach (var (node, status) in statuses)
        {
            Assert.That(status.GetProperty("view").GetProperty("configVersion").GetInt64(), Is.EqualTo(2), $"node{node}");
            Assert.That(status.GetProperty("quorum").GetProperty("expected").GetInt32(), Is.EqualTo(4), $"node{node}");
            Assert.That(status.GetProperty("config").GetProperty("genesis").GetString(), Is.EqualTo(Sha256Of(Dir.Combine("cluster.json"))), $"node{node} has the cluster's identity");
        }

        Assert.That((await CommittedAsync(4)).Sha256, Is.EqualTo(Sha256Of(Dir.Combine("four.json"))));
        var (_, quorum, _) = await CohortProcess.RunAsync("quorum", "--json", "--socket", SocketOf(1));
        Assert.That(JsonDocument.Parse(quorum).RootElement.GetProperty("nodes").GetArrayLength(), Is.EqualTo(4), "status lists the nodes of the committed version, not of the one the agent started with");

        // Once joined, the node holds the document: killed and started again, it is a member at once.
        Agent(4).Signal(Signals.Kill);
        await Agent(4).WaitForExitAsync();
        StartAgents(4);
        var again = await WaitForViewAsync([1, 2, 3, 4], [1, 2, 3, 4]);
        Assert.That(again[4].GetProperty("incarnation").GetInt64(), Is.EqualTo(3));
        Assert.That(Agent(4).Stderr, Does.Not.Contain("joining through its seeds"), "it does not join again");
    }

    [Test]
    public async Task A_joining_node_that_reaches_no_one_says_so_and_leave_stops_it()
    {
        WriteCluster(2); // a key and two free ports; nothing listens on node1's
        Dir.Write("node2.json", $$"""
            { "Node": { "Id": 2, "Listen": "{{Address(2)}}", "Seeds": [ "{{Address(1)}}" ], "KeyFile": "cluster.key", "StateDirectory": "node2" } }
            """);
        StartAgents(2);
        var answered = await Poll.UntilAsync("node2 to answer status while it joins", async () =>
            await CohortProcess.RunAsync("status", "--json", "--socket", SocketOf(2)) is (0, var json, _) ? json : null);
        Assert.That(JsonDocument.Parse(answered).RootElement.GetProperty("quorum").GetProperty("reason").GetString(), Does.StartWith("joining through Node:Seeds: no node reached yet"));

        var (code, _, stderr) = await CohortProcess.RunAsync("leave", "--socket", SocketOf(2));
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(await Agent(2).WaitForExitAsync(), Is.EqualTo(0));
        Assert.That(File.Exists(SocketOf(2)), Is.False, "the admin socket is removed");
        Assert.That(Directory.Exists(Dir.Combine("node2", "ccs")) && Directory.EnumerateFiles(Dir.Combine("node2", "ccs")).Any(), Is.False, "nothing was fetched, so nothing is held");
    }

    [Test]
    public async Task A_restored_state_directory_holding_another_document_under_a_committed_version_is_reported_on_both_sides()
    {
        WriteCluster(3);
        StartAgents();
        await WaitForViewAsync(All, All);
        await KillAsync(All);
        foreach (var node in new[] { 1, 2 })
        {
            CopyDirectory(Dir.Combine($"node{node}", "ccs"), Dir.Combine($"backup{node}"));
        }

        StartAgents();
        await WaitForViewAsync(All, All);
        var first = WriteChange("a.json", "committed, then lost to a restore on nodes 1 and 2");
        Assert.That((await ConfigAsync(1, "apply", first)).Code, Is.EqualTo(0));
        await UntilAsync("node3 to hold version 2", async () => await ConfigVersionOf(3) == 2);
        await KillAsync(All);
        foreach (var node in new[] { 1, 2 })
        {
            Directory.Delete(Dir.Combine($"node{node}", "ccs"), recursive: true);
            CopyDirectory(Dir.Combine($"backup{node}"), Dir.Combine($"node{node}", "ccs"));
        }

        StartAgents(1, 2);
        await WaitForViewAsync([1, 2], [1, 2]);
        var second = WriteChange("b.json", "committed again under version 2 by the restored nodes");
        Assert.That((await ConfigAsync(1, "apply", second)).Code, Is.EqualTo(0));

        StartAgents(3);
        var mine = Sha256Of(second)[..12];
        var theirs = Sha256Of(first)[..12];
        foreach (var (node, expected) in new[] { (1, $"node 3 holds another document under version 2 (ours {mine}, theirs {theirs})"), (3, $"holds another document under version 2 (ours {theirs}, theirs {mine})") })
        {
            await UntilAsync($"node{node} to report the divergence", async () =>
                await StatusAsync(node) is { } status
                && status.GetProperty("config").GetProperty("diverged").EnumerateArray().Any(d => d.GetString()!.Contains(expected, StringComparison.Ordinal)));
        }

        Assert.That(Agent(1).Stderr, Does.Contain("node 3 holds another document under version 2").And.Contain("a state directory was restored or copied"));
    }

    private async Task KillAsync(IEnumerable<int> nodes)
    {
        foreach (var node in nodes)
        {
            Agent(node).Signal(Signals.Kill);
            await Agent(node).WaitForExitAsync();
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
