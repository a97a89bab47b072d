using Cohort.Host.Configuration;
using Cohort.TestSupport;

namespace Cohort.Host.Tests.Configuration;

public sealed class ConfigurationLoaderTests : TempDirectoryTest
{
    private const string OneNodeCluster = """{ "Nodes": [ { "Id": 1, "Name": "n1" } ] }""";
    private static readonly Dictionary<string, string> NoEnvironment = [];
    [Test]
    public void Node_option_defaults_are_the_documented_ones()
    {
        var options = new NodeOptions();
        Assert.Multiple(() =>
        {
            Assert.That(options.Id, Is.Zero);
            Assert.That(options.Name, Is.Null);
            Assert.That(options.Transport, Is.EqualTo("tcp"));
            Assert.That(options.Bootstrap, Is.Null);
            Assert.That(options.StateDirectory, Is.EqualTo("/var/lib/cohort"));
            Assert.That(options.EffectivePluginDirectory, Is.EqualTo(Path.Combine(AppContext.BaseDirectory, "plugins")));
            Assert.That(options.EffectiveAdminSocket, Is.EqualTo("/var/lib/cohort/admin.sock"));
            Assert.That(options.DrainTimeout, Is.EqualTo(30));
            Assert.That(options.Listen, Is.Null);
            Assert.That(options.Seeds, Is.Empty);
            Assert.That(options.KeyFile, Is.Null);
            Assert.That(options.AllowInsecureKeyFile, Is.False);
            Assert.That(options.FaultInjection, Is.False);
        });
    }

    [TestCase("Cluster", "$")]
    [TestCase("Cluster:Nodes:12:Votes", "$.Nodes[12].Votes")]
    [TestCase("cluster:Quorum:My Plugin:x'y", "$.Quorum['My Plugin']['x\\'y']")]
    [TestCase("Cluster:Transport:Tcp:Idle-Timeout", "$.Transport.Tcp.Idle-Timeout")]
    [TestCase("Node:Seeds:0", "Node:Seeds:0")]
    [TestCase("Clusters:Name", "Clusters:Name")]
    public void Errors_name_cluster_document_keys_by_json_path_and_node_keys_by_key_path(string key, string named)
    {
        Assert.That(ConfigErrors.Name(key), Is.EqualTo(named));
    }

    [Test]
    public void Seeds_come_from_a_json_array_a_comma_list_or_indexed_keys_and_a_later_source_replaces_them()
    {
        Dir.Write("cluster.json", OneNodeCluster);
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json", "Seeds": [ "127.0.0.1:7402", "127.0.0.1:7403" ], "KeyFile": "k", "FaultInjection": true } }""");

        var fromFile = ConfigurationLoader.Load(node, [], NoEnvironment).Node;
        var fromEnvironment = ConfigurationLoader.Load(node, [], new Dictionary<string, string> { ["COHORT_Node__Seeds"] = "10.0.0.1:1, 10.0.0.2:2" }).Node;
        var fromCommandLine = ConfigurationLoader.Load(node, ["--Node:Seeds:0=[::1]:7405"], NoEnvironment).Node;

        Assert.Multiple(() =>
        {
            Assert.That(fromFile.Seeds, Is.EqualTo(new[] { "127.0.0.1:7402", "127.0.0.1:7403" }));
            Assert.That(fromFile.KeyFile, Is.EqualTo(Dir.Combine("k")), "the key file resolves against the node file's folder");
            Assert.That(fromFile.FaultInjection, Is.True);
            Assert.That(fromEnvironment.Seeds, Is.EqualTo(new[] { "10.0.0.1:1", "10.0.0.2:2" }));
            Assert.That(fromCommandLine.Seeds, Is.EqualTo(new[] { "[::1]:7405" }));
        });
    }

    [Test]
    public void Bad_addresses_and_flags_name_their_keys()
    {
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Listen": "localhost", "Seeds": [ "127.0.0.1:7402", "::1:7403" ], "AllowInsecureKeyFile": "yes" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Problems, Is.EquivalentTo(new[]
        {
            $"{node}: Node:AllowInsecureKeyFile: expected true or false, got \"yes\"",
        }), "values that do not parse are reported first, semantic checks once everything parsed");
        Dir.Write("node.json", """{ "Node": { "Id": 1, "Listen": "localhost", "Seeds": [ "127.0.0.1:7402", "::1:7403" ] } }""");
        error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;
        Assert.That(error.Problems, Is.EquivalentTo(new[]
        {
            $"{node}: Node:Listen: expected host:port, such as 127.0.0.1:7401, got \"localhost\"",
            $"{node}: Node:Seeds:1: expected host:port, such as 127.0.0.1:7402, got \"::1:7403\"",
        }));
    }

    [Test]
    public void A_bad_seed_in_a_comma_list_is_blamed_on_the_environment()
    {
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1 } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], new Dictionary<string, string> { ["COHORT_Node__Seeds"] = "127.0.0.1:1,nowhere" }))!;

        Assert.That(error.Message, Is.EqualTo("environment (COHORT_*): Node:Seeds:1: expected host:port, such as 127.0.0.1:7402, got \"nowhere\""));
    }

    [Test]
    public void The_no_quorum_policy_defaults_to_stop_and_a_bad_one_names_the_choices()
    {
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");
        Dir.Write("cluster.json", OneNodeCluster);
        var defaults = ConfigurationLoader.Load(node, [], NoEnvironment).Cluster!;
        var cluster = Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "NoQuorumPolicy": "suicide" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(defaults.NoQuorumPolicy, Is.EqualTo(Cohort.Quorum.NoQuorumPolicy.Stop));
        Assert.That(error.Message, Is.EqualTo($"{cluster}: $.Quorum.NoQuorumPolicy: expected one of stop, freeze, ignore, self-fence, got \"suicide\""));
    }

    [Test]
    public void A_quorum_device_is_off_by_default_and_its_votes_need_a_device()
    {
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");
        Dir.Write("cluster.json", OneNodeCluster);
        var defaults = ConfigurationLoader.Load(node, [], NoEnvironment).Cluster!;
        Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "Device": "witness-node", "DeviceVotes": 2 } }""");
        var withDevice = ConfigurationLoader.Load(node, [], NoEnvironment).Cluster!;
        var cluster = Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "DeviceVotes": 0 } }""");
        var bad = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;
        Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "DeviceVotes": 1 } }""");
        var orphan = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That((defaults.QuorumDevice, defaults.DeviceVotes), Is.EqualTo(((string?)null, 1)));
        Assert.That((withDevice.QuorumDevice, withDevice.DeviceVotes), Is.EqualTo(("witness-node", 2)));
        Assert.That(bad.Message, Is.EqualTo($"{cluster}: $.Quorum.DeviceVotes: expected an integer from 1 to 1000000, got \"0\""));
        Assert.That(orphan.Message, Is.EqualTo($"{cluster}: $.Quorum.DeviceVotes: expected no value unless $.Quorum.Device names a device, got \"1\""));
    }

    [Test]
    public void A_node_address_in_the_cluster_file_must_be_host_and_port()
    {
        var cluster = Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "n1", "Address": "127.0.0.1" } ] }""");
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Message, Is.EqualTo($"{cluster}: $.Nodes[0].Address: expected host:port, such as 127.0.0.1:7401, got \"127.0.0.1\""));
    }

    [Test]
    public void Relative_paths_in_a_node_file_resolve_against_its_folder()
    {
        Dir.Write("conf/cluster.json", OneNodeCluster);
        var node = Dir.Write("conf/node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json", "StateDirectory": "../state" } }""");

        var config = ConfigurationLoader.Load(node, [], NoEnvironment);

        Assert.Multiple(() =>
        {
            Assert.That(config.Node.Bootstrap, Is.EqualTo(Dir.Combine("conf", "cluster.json")));
            Assert.That(config.Node.StateDirectory, Is.EqualTo(Dir.Combine("state")));
            Assert.That(config.Node.EffectiveAdminSocket, Is.EqualTo(Dir.Combine("state", "admin.sock")));
            Assert.That(config.Node.Name, Is.EqualTo("n1"), "the name comes from the cluster document");
            Assert.That(config.Cluster!.Nodes.Single().Votes, Is.EqualTo(1), "votes default to 1");
            Assert.That(config.Cluster.QuorumPolicy, Is.EqualTo("votequorum"));
        });
    }

    [Test]
    public void Environment_and_command_line_override_the_file_in_that_order()
    {
        Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 2, "Name": "b" }, { "Id": 3, "Name": "c" } ] }""");
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");

        var config = ConfigurationLoader.Load(node, ["--Node:Id=3"], new Dictionary<string, string> { ["COHORT_Node__Id"] = "2", ["COHORT_Node__Transport"] = "udp" });

        Assert.Multiple(() =>
        {
            Assert.That(config.Node.Id, Is.EqualTo(3));
            Assert.That(config.Node.Transport, Is.EqualTo("udp"));
            Assert.That(config.Node.Name, Is.EqualTo("c"));
            Assert.That(config.DescribeSource("Node:Id"), Is.EqualTo("command line"));
            Assert.That(config.DescribeSource("Node:Transport"), Is.EqualTo("environment (COHORT_*)"));
        });
    }

    [Test]
    public void An_unknown_node_key_names_the_file_and_the_key()
    {
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "StateDirecotry": "x" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Problems, Has.Count.EqualTo(1));
        Assert.That(error.Problems[0], Is.EqualTo($"{node}: Node:StateDirecotry: unknown key; Node has AdminSocket, AllowInsecureKeyFile, Bootstrap, DrainTimeout, FaultInjection, Id, KeyFile, Listen, Name, PluginDirectory, Seeds, StateDirectory, Transport"));
        Assert.That(error.ExitCode, Is.EqualTo(ExitCodes.Config));
    }

    [Test]
    public void A_cluster_key_in_node_local_configuration_is_refused()
    {
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1 }, "Cluster": { "Quorum": { "Policy": "static" } } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Problems.Single(), Is.EqualTo($"{node}: Cluster:Quorum:Policy: cluster-wide keys belong in the cluster document (its first version is the file Node:Bootstrap names; change it with `cohort config apply`), not in node-local configuration"));
    }

    [Test]
    public void Every_problem_is_reported_at_once()
    {
        var node = Dir.Write("node.json", """{ "Node": { "Id": "one", "Colour": "blue" }, "Extra": 1 }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Problems, Is.EquivalentTo(new[]
        {
            $"{node}: Node:Id: expected an integer, got \"one\"",
            $"{node}: Node:Colour: unknown key; Node has AdminSocket, AllowInsecureKeyFile, Bootstrap, DrainTimeout, FaultInjection, Id, KeyFile, Listen, Name, PluginDirectory, Seeds, StateDirectory, Transport",
            $"{node}: Extra: unknown key; a node file holds the sections Node and Logging",
        }));
    }

    [Test]
    public void A_missing_node_id_is_refused()
    {
        var node = Dir.Write("node.json", """{ "Node": { "Name": "x" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Message, Is.EqualTo("defaults: Node:Id: expected a node id of at least 1, got 0"));
    }

    [Test]
    public void A_missing_node_file_and_a_missing_cluster_file_are_named()
    {
        var missing = Dir.Combine("nope.json");
        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(missing, [], NoEnvironment))!;
        Assert.That(error.Message, Is.EqualTo($"{missing}: node file not found"));

        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "gone.json" } }""");
        error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;
        Assert.That(error.Message, Is.EqualTo($"{node}: Node:Bootstrap: expected an existing cluster file, got \"{Dir.Combine("gone.json")}\""));
    }

    [Test]
    public void A_cluster_file_that_is_not_json_is_named()
    {
        Dir.Write("cluster.json", "{ \"Nodes\": [ ");
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Message, Does.StartWith($"{Dir.Combine("cluster.json")}: expected a JSON object: "));
    }

    [Test]
    public void Cluster_document_errors_name_the_cluster_file_and_json_path()
    {
        var cluster = Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 1, "Name": "b", "Votes": -2 }, { "Name": "bad name" } ] }""");
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Problems, Is.EquivalentTo(new[]
        {
            $"{cluster}: $.Nodes[1].Votes: expected an integer from 0 to 1000000, got \"-2\"",
            $"{cluster}: $.Nodes[2].Id: expected an integer from 1 to 2147483647",
            $"{cluster}: $.Nodes[2].Name: expected a node name of letters, digits, '-', '_' or '.', got \"bad name\"",
        }));
    }

    [Test]
    public void Duplicate_node_ids_are_refused()
    {
        var cluster = Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 1, "Name": "b" } ] }""");
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Problems.Single(), Is.EqualTo($"{cluster}: $.Nodes: expected unique node ids, got \"id 1 is listed 2 times\""));
    }

    [Test]
    public void A_node_absent_from_the_cluster_document_is_refused()
    {
        var cluster = Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 2, "Name": "b" } ] }""");
        var node = Dir.Write("node.json", """{ "Node": { "Id": 7, "Bootstrap": "cluster.json" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Message, Is.EqualTo($"{cluster}: $.Nodes: expected an entry for this node (Node:Id 7, set in {node}); listed ids: 1, 2"));
    }

    [Test]
    public void Unknown_cluster_keys_are_errors_unless_a_plugin_owns_their_section()
    {
        var cluster = Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "a", "Colour": "red" } ], "Quorum": { "Polcy": "x", "Mine": { "Anything": 1 } } }""");
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");
        var config = ConfigurationLoader.Load(node, [], NoEnvironment);

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.CheckClusterKeys(config, ["Cluster:Quorum:Mine"]))!;

        Assert.That(error.Problems, Has.Count.EqualTo(2));
        Assert.That(error.Problems, Has.One.EqualTo($"{cluster}: $.Nodes[0].Colour: unknown key; a node entry has Address, Id, Name, Votes"));
        Assert.That(error.Problems, Has.One.EqualTo($"{cluster}: $.Quorum.Polcy: unknown key; the document knows $.Description, $.Dlm, $.Fencing, $.Membership.ClockDriftBound, $.Membership.FailureTimeout, $.Membership.HeartbeatInterval, $.Membership.QuorumLease, $.Name, $.Nodes, $.Quorum.Device, $.Quorum.DeviceVotes, $.Quorum.Mine, $.Quorum.NoQuorumPolicy, $.Quorum.Policy"));
    }

    [Test]
    public void A_socket_path_too_long_for_unix_is_refused()
    {
        var node = Dir.Write("node.json", $$"""{ "Node": { "Id": 1, "AdminSocket": "/{{new string('s', 120)}}" } }""");

        var error = Assert.Throws<CohortStartupException>(() => ConfigurationLoader.Load(node, [], NoEnvironment))!;

        Assert.That(error.Message, Does.StartWith($"{node}: Node:AdminSocket: expected a path of at most 107 bytes"));
    }
}
