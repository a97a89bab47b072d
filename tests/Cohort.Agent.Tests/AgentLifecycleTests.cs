using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Native;
using Cohort.Host.State;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

[NonParallelizable]
public sealed class AgentLifecycleTests : AgentTestBase
{
    private const string OneNode = """{ "Name": "t", "Nodes": [ { "Id": 1, "Name": "n1" } ] }""";

    [Test]
    public async Task The_single_node_sample_runs_and_reports_its_status()
    {
        // The sample as shipped, but with its state in this test's directory.
        foreach (var file in new[] { "node.json", "cluster.json" })
        {
            Dir.Write(file, File.ReadAllText(Path.Combine(RepoPaths.Root, "samples", "single-node", file)));
        }

        var node = Dir.Combine("node.json");
        await StartAgentAsync(node, $"--Node:StateDirectory={Dir.Combine("state")}");

        var (code, stdout, stderr) = await CohortProcess.RunAsync("status", "--json", "--config", node, $"--socket", Socket);
        Assert.That(code, Is.Zero, stderr);
        var status = JsonDocument.Parse(stdout).RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(status.GetProperty("node").GetString(), Is.EqualTo("solo"));
            Assert.That(status.GetProperty("nodeId").GetInt32(), Is.EqualTo(1));
            Assert.That(status.GetProperty("incarnation").GetInt64(), Is.EqualTo(1));
            Assert.That(status.GetProperty("view").GetProperty("epoch").GetInt64(), Is.EqualTo(1));
            Assert.That(status.GetProperty("view").GetProperty("coordinator").GetInt32(), Is.EqualTo(1));
            Assert.That(status.GetProperty("view").GetProperty("members")[0].GetProperty("incarnation").GetInt64(), Is.EqualTo(1));
            Assert.That(status.GetProperty("quorate").GetBoolean(), Is.True);
            Assert.That(status.GetProperty("phase").GetString(), Is.EqualTo("member"));
            Assert.That(status.GetProperty("configHash").GetString(), Is.EqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Dir.Combine("cluster.json"))))));
            Assert.That(status.GetProperty("quorum").GetProperty("policy").GetString(), Is.EqualTo("percent"), "the sample selects the samples/ quorum policy");
            Assert.That(status.GetProperty("plugins").EnumerateArray().Select(p => p.GetProperty("name").GetString()), Does.Contain("percent"));
        });

        var human = await CohortProcess.RunAsync("status", "--socket", Socket);
        Assert.That(human.Stdout, Does.Contain("quorum   quorate: 1 of 1 votes; 51% is 1 [policy percent]"));
    }

    [Test]
    public async Task The_quorum_policy_reads_its_options_from_the_cluster_file()
    {
        // A one-node cluster expecting 3 votes: one vote of three is no majority.
        var node = WriteConfig("""{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "VoteQuorum": { "ExpectedVotes": 3 } } }""");

        var (_, status) = await StartAgentAsync(node);

        Assert.That(status.GetProperty("quorate").GetBoolean(), Is.False);
        Assert.That(status.GetProperty("quorum").GetProperty("reason").GetString(), Is.EqualTo("1 of 3 expected votes; 2 needed"));
        Assert.That(status.GetProperty("quorum").GetProperty("expected").GetInt32(), Is.EqualTo(3));
    }

    [Test]
    public async Task Cohort_quorum_shows_votes_expected_needed_and_why_not()
    {
        var node = WriteConfig("""{ "Nodes": [ { "Id": 1, "Name": "n1" }, { "Id": 2, "Name": "n2", "Votes": 0 } ], "Quorum": { "VoteQuorum": { "ExpectedVotes": 3, "WaitForAll": true } } }""",
            nodeExtra: ", \"Listen\": \"127.0.0.1:0\", \"KeyFile\": \"k\"");
        Dir.Write("k", Convert.ToBase64String(new byte[32]));
        File.SetUnixFileMode(Dir.Combine("k"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await StartAgentAsync(node);

        var quorum = await JsonOf("quorum", "--json", "--config", node);
        var human = await CohortProcess.RunAsync("quorum", "--config", node);

        Assert.Multiple(() =>
        {
            Assert.That(quorum.GetProperty("quorate").GetBoolean(), Is.False);
            Assert.That(quorum.GetProperty("leaseRemainingMilliseconds").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(quorum.GetProperty("quorum").GetProperty("votes").GetInt32(), Is.EqualTo(1));
            Assert.That(quorum.GetProperty("quorum").GetProperty("expected").GetInt32(), Is.EqualTo(3));
            Assert.That(quorum.GetProperty("quorum").GetProperty("needed").GetInt32(), Is.EqualTo(2));
            Assert.That(quorum.GetProperty("quorum").GetProperty("flags").EnumerateArray().Select(f => f.GetString()), Is.EqualTo(new[] { "WaitForAll (waiting)" }));
            Assert.That(quorum.GetProperty("nodes").EnumerateArray().Select(n => (n.GetProperty("name").GetString(), n.GetProperty("votes").GetInt32(), n.GetProperty("member").GetBoolean())),
                Is.EqualTo(new[] { ("n1", 1, true), ("n2", 0, false) }));
            Assert.That(human.Stdout, Does.Contain("votes        1 of 3 expected; 2 needed").And.Contain("quorate      NO").And.Contain("node         n2 (2): 0 votes, absent"));
        });
    }

    [Test]
    public async Task Client_verbs_find_the_agent_by_config_or_by_environment()
    {
        var node = WriteConfig(OneNode);
        await StartAgentAsync(node);

        var byConfig = await JsonOf("status", "--json", "--config", node);
        var plugins = await JsonOf("plugins", "--json", "--config", node);

        Assert.That(byConfig.GetProperty("node").GetString(), Is.EqualTo("n1"));
        var votequorum = plugins.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "votequorum");
        Assert.Multiple(() =>
        {
            Assert.That(votequorum.GetProperty("slot").GetString(), Is.EqualTo("quorum-policy"));
            Assert.That(votequorum.GetProperty("version").GetString(), Is.Not.Empty);
            Assert.That(votequorum.GetProperty("selected").GetBoolean(), Is.True);
            Assert.That(votequorum.GetProperty("path").GetString(), Does.StartWith(RepoPaths.Plugins));
        });
    }

    [Test]
    public async Task After_sigkill_a_restart_gets_a_higher_incarnation_and_replaces_the_stale_socket()
    {
        var node = WriteConfig(OneNode);
        var (agent, first) = await StartAgentAsync(node);

        agent.Signal(Signals.Kill);
        await agent.WaitForExitAsync();
        Assert.That(File.Exists(Socket), Is.True, "a killed agent leaves its socket file");
        var (again, second) = await StartAgentAsync(node);

        Assert.Multiple(() =>
        {
            Assert.That(second.GetProperty("incarnation").GetInt64(), Is.GreaterThan(first.GetProperty("incarnation").GetInt64()));
            Assert.That(second.GetProperty("view").GetProperty("epoch").GetInt64(), Is.GreaterThan(first.GetProperty("view").GetProperty("epoch").GetInt64()));
            Assert.That(second.GetProperty("pid").GetInt32(), Is.EqualTo(again.Pid));
        });
        await Poll.UntilAsync("the replaced-stale-socket warning", () => again.Stderr.Contains("replaced the stale admin socket", StringComparison.Ordinal));
    }

    [Test]
    public async Task Sigterm_stops_the_agent_cleanly_and_removes_its_socket()
    {
        var node = WriteConfig(OneNode);
        var (agent, _) = await StartAgentAsync(node);

        agent.Signal(Signals.Terminate);

        Assert.That(await agent.WaitForExitAsync(), Is.Zero);
        Assert.That(agent.Stderr, Does.Contain("leaving: draining services").And.Contain("left cleanly"), "SIGTERM is a clean leave");
        Assert.That(File.Exists(Socket), Is.False);
        var (code, _, stderr) = await CohortProcess.RunAsync("status", "--socket", Socket);
        Assert.That(code, Is.EqualTo(ExitCodes.Unavailable));
        Assert.That(Lines(stderr), Is.EqualTo(new[] { $"cohort: no agent answers on {Socket} (the socket does not exist); is `cohort agent` running?" }));
    }

    [Test]
    public async Task Cohort_leave_drains_leaves_cleanly_and_the_agent_exits()
    {
        var node = WriteConfig(OneNode);
        var (agent, _) = await StartAgentAsync(node);

        var (code, stdout, stderr) = await CohortProcess.RunAsync("leave", "--wait", "--config", node);

        Assert.That(code, Is.Zero, stderr);
        Assert.That(Lines(stdout), Is.EqualTo(new[] { "leaving: the node drains, the cluster excludes it, then its agent exits", "left" }));
        Assert.That(await agent.WaitForExitAsync(), Is.Zero);
        Assert.That(agent.Stderr, Does.Contain("leaving: draining services").And.Contain("left cleanly (alone)"));
        var (again, status) = await StartAgentAsync(node);
        Assert.That(status.GetProperty("incarnation").GetInt64(), Is.EqualTo(2));
        Assert.That(status.GetProperty("view").GetProperty("epoch").GetInt64(), Is.EqualTo(2), "view ids keep growing across restarts");
        again.Signal(Signals.Terminate);
        Assert.That(await again.WaitForExitAsync(), Is.Zero);
    }

    [Test]
    public async Task A_clean_leave_runs_the_plugins_drain_hooks()
    {
        Deploy("Cohort.TestPlugins.DrainProbe");
        var marker = Dir.Combine("drained.marker");
        var node = WriteConfig($$"""{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "Policy": "drain-probe", "DrainProbe": { "Marker": "{{marker}}" } } }""", nodeExtra: ", \"PluginDirectory\": \"plugins\"");
        var (agent, _) = await StartAgentAsync(node);

        agent.Signal(Signals.Terminate);

        Assert.That(await agent.WaitForExitAsync(), Is.Zero);
        Assert.That(File.ReadAllText(marker), Is.EqualTo("drained; fencing gate of 99#1 open: False"), "the hook ran, with the host's fencing gate resolved from the plugin's scope");
        Assert.That(agent.Stderr, Does.Contain("left cleanly"));
    }

    [Test]
    public async Task A_drain_that_hangs_ends_at_the_drain_timeout_as_an_unclean_exit()
    {
        Deploy("Cohort.TestPlugins.DrainProbe");
        var node = WriteConfig("""{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "Policy": "drain-probe", "DrainProbe": { "Hang": "true" } } }""", nodeExtra: ", \"PluginDirectory\": \"plugins\", \"DrainTimeout\": 1");
        var (agent, _) = await StartAgentAsync(node);

        agent.Signal(Signals.Terminate);

        Assert.That(await agent.WaitForExitAsync(), Is.Zero);
        Assert.That(agent.Stderr, Does.Contain("Node:DrainTimeout (1 s) ran out before the node left cleanly"));
        Assert.That(agent.Stderr, Does.Not.Contain("left cleanly ("));
    }

    /// <summary>An agent that goes away in the middle of a request (it is stopping) is "no answer",
    /// not an OS error. (`cohort leave --wait` failed with exit 71 on a connection reset before.)</summary>
    [Test]
    public async Task An_agent_that_resets_the_connection_mid_request_is_no_answer()
    {
        var path = Dir.Combine("reset.sock");
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        listener.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        listener.Listen();
        var serve = Task.Run(async () =>
        {
            using var connection = await listener.AcceptAsync();
            await Poll.UntilAsync("the request to arrive", () => connection.Available > 0);
            connection.Close(); // unread data: the peer sees ECONNRESET
        });

        var (code, _, stderr) = await CohortProcess.RunAsync("status", "--socket", path);
        await serve;

        Assert.That(code, Is.EqualTo(ExitCodes.Unavailable), stderr);
        Assert.That(Lines(stderr), Is.EqualTo(new[] { $"cohort: the agent on {path} closed the connection without answering \"status\"" }));
    }

    [Test]
    public async Task A_second_agent_on_the_same_state_directory_is_refused()
    {
        var node = WriteConfig(OneNode);
        var (agent, _) = await StartAgentAsync(node);

        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", node);

        Assert.That(code, Is.EqualTo(ExitCodes.InUse));
        Assert.That(Lines(stderr), Is.EqualTo(new[] { $"cohort: state directory {Dir.Combine("state")}: in use by another agent (pid {agent.Pid}, incarnation 1); one agent per state directory" }));
        Assert.That(agent.Process.HasExited, Is.False);
    }

    [Test]
    public async Task The_agent_leads_its_own_process_group_and_records_it_in_agent_pid()
    {
        var node = WriteConfig(OneNode);
        var (agent, status) = await StartAgentAsync(node);

        var info = JsonSerializer.Deserialize<JsonElement>(File.ReadAllText(Dir.Combine("state", "agent.pid")));

        Assert.Multiple(() =>
        {
            Assert.That(info.GetProperty("pid").GetInt32(), Is.EqualTo(agent.Pid));
            Assert.That(info.GetProperty("pgid").GetInt32(), Is.EqualTo(agent.Pid), "the agent leads its own group");
            Assert.That(info.GetProperty("incarnation").GetInt64(), Is.EqualTo(status.GetProperty("incarnation").GetInt64()));
            Assert.That(info.GetProperty("startTime").GetInt64(), Is.EqualTo(AgentProcessInfo.ReadStartTime(agent.Pid)));
        });
    }

    [Test]
    public async Task A_client_with_no_agent_prints_one_line_and_fails()
    {
        var (code, stdout, stderr) = await CohortProcess.RunAsync("status", "--socket", Dir.Combine("nobody.sock"));

        Assert.That(code, Is.EqualTo(ExitCodes.Unavailable));
        Assert.That(stdout, Is.Empty);
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.StartWith($"cohort: no agent answers on {Dir.Combine("nobody.sock")}"));
    }

    [Test]
    public async Task A_configuration_error_is_one_line_naming_file_and_key()
    {
        var node = WriteConfig(OneNode, nodeExtra: ", \"Trasnport\": \"tcp\"");

        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", node);

        Assert.That(code, Is.EqualTo(ExitCodes.Config));
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.StartWith($"cohort: {node}: Node:Trasnport: unknown key; Node has "));
        Assert.That(Directory.Exists(Dir.Combine("state")), Is.False, "nothing is touched before the configuration is valid");
    }

    [Test]
    public async Task A_state_directory_that_cannot_be_created_is_one_line()
    {
        var node = WriteConfig(OneNode);
        Dir.Write("state", "a file where the state directory should be");

        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", node);

        Assert.That(code, Is.EqualTo(ExitCodes.OsError));
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.StartWith($"cohort: state directory {Dir.Combine("state")}: cannot create it: "));
    }

    [Test]
    public async Task A_quorum_device_that_cannot_start_stops_the_agent_naming_the_device_and_why()
    {
        var node = WriteConfig("""{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "Device": "witness-node", "WitnessNode": { "Address": "127.0.0.1:9" } } }""");

        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", node);

        Assert.That(code, Is.EqualTo(ExitCodes.Config));
        Assert.That(Lines(stderr).Where(l => l.StartsWith("cohort: ", StringComparison.Ordinal)), Is.EqualTo(new[] { "cohort: quorum device witness-node: witness-node needs the cluster key (Node:KeyFile) to prove itself to the witness" }));
    }

    [Test]
    public async Task An_unknown_quorum_policy_lists_the_policies_found()
    {
        var node = WriteConfig("""{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "Policy": "majority" } }""");

        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", node);

        Assert.That(code, Is.EqualTo(ExitCodes.Config));
        Assert.That(Lines(stderr), Is.EqualTo(new[] { $"cohort: {Dir.Combine("cluster.json")}: $.Quorum.Policy: expected the name of a quorum-policy plugin in {RepoPaths.Plugins} (found: keep-oldest, percent, rule, static, votequorum), got \"majority\"" }));
    }

    [Test]
    public async Task The_debug_verbs_are_refused_without_fault_injection_and_without_a_transport()
    {
        var node = WriteConfig(OneNode);
        var (agent, _) = await StartAgentAsync(node);

        var off = await CohortProcess.RunAsync("debug", "partition", "--peer", "n2", "--config", node);
        agent.Signal(Signals.Kill);
        await agent.WaitForExitAsync();
        var on = WriteConfig(OneNode, nodeExtra: ", \"FaultInjection\": true", name: "on.json");
        await StartAgentAsync(on);
        var alone = await CohortProcess.RunAsync("debug", "heal", "--config", on);

        Assert.Multiple(() =>
        {
            Assert.That(off.ExitCode, Is.EqualTo(ExitCodes.Failure));
            Assert.That(Lines(off.Stderr), Is.EqualTo(new[] { "cohort: the agent refused \"debug-partition\": fault injection is off on this node: set Node:FaultInjection to true in its node file (for tests only)" }));
            Assert.That(Lines(alone.Stderr), Is.EqualTo(new[] { "cohort: the agent refused \"debug-heal\": this node has no transport (a one-node cluster): nothing to cut" }));
        });
    }

    [Test]
    public async Task Quorum_listeners_hear_each_change_with_the_no_quorum_policy()
    {
        Deploy("Cohort.TestPlugins.DrainProbe");
        var log = Dir.Combine("quorum.log");
        var node = WriteConfig($$"""{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "Policy": "drain-probe", "NoQuorumPolicy": "freeze", "DrainProbe": { "QuorumLog": "{{log}}" } } }""", nodeExtra: ", \"PluginDirectory\": \"plugins\"");
        var (agent, status) = await StartAgentAsync(node);

        await Poll.UntilAsync("the listener to hear of quorum", () => File.Exists(log));
        Assert.That(status.GetProperty("quorum").GetProperty("noQuorumPolicy").GetString(), Is.EqualTo("freeze"));
        agent.Signal(Signals.Terminate);
        Assert.That(await agent.WaitForExitAsync(), Is.Zero);
        Assert.That(File.ReadAllLines(log), Is.EqualTo(new[] { "quorate:True Freeze", "quorate:False Freeze" }), "quorum at start, then given up to leave");
    }

    [Test]
    public async Task An_unknown_transport_is_refused_with_the_known_ones()
    {
        var node = WriteConfig("""{ "Nodes": [ { "Id": 1, "Name": "n1" }, { "Id": 2, "Name": "n2" } ] }""", nodeExtra: ", \"Transport\": \"udp\"");

        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", node);

        Assert.That(code, Is.EqualTo(ExitCodes.Config));
        Assert.That(Lines(stderr), Is.EqualTo(new[] { $"cohort: {node}: Node:Transport: expected the name of a transport plugin in {RepoPaths.Plugins} (found: tcp), got \"udp\"" }));
    }

    [Test]
    public async Task A_cluster_of_several_nodes_needs_a_listen_address_and_a_key_before_anything_is_touched()
    {
        var node = WriteConfig("""{ "Nodes": [ { "Id": 1, "Name": "n1" }, { "Id": 2, "Name": "n2" } ] }""");

        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", node);

        Assert.That(code, Is.EqualTo(ExitCodes.Config));
        Assert.That(Lines(stderr), Has.Length.EqualTo(2).And.Some.Contains("Node:Listen").And.Some.Contains("Node:KeyFile"));
        Assert.That(Directory.Exists(Dir.Combine("state")), Is.False, "a configuration error touches no state");
    }

    [Test]
    public async Task Keygen_writes_a_private_key_and_will_not_overwrite_it_by_accident()
    {
        var key = Dir.Combine("cluster.key");

        var first = await CohortProcess.RunAsync("keygen", "--output", key);
        var contents = File.ReadAllText(key);
        var again = await CohortProcess.RunAsync("keygen", "--output", key);
        var forced = await CohortProcess.RunAsync("keygen", "--output", key, "--force");

        Assert.Multiple(() =>
        {
            Assert.That(first.ExitCode, Is.Zero, first.Stderr);
            Assert.That(Convert.FromBase64String(contents.Trim()), Has.Length.EqualTo(32));
            Assert.That(File.GetUnixFileMode(key), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(again.ExitCode, Is.Not.Zero);
            Assert.That(again.Stderr, Does.Contain("pass --force to replace it"));
            Assert.That(forced.ExitCode, Is.Zero);
            Assert.That(File.ReadAllText(key), Is.Not.EqualTo(contents));
        });
    }
}
