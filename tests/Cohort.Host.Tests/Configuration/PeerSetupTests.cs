using Cohort.Host.Agent;
using Cohort.Host.Configuration;
using Cohort.Membership;
using Cohort.TestSupport;

namespace Cohort.Host.Tests.Configuration;

public sealed class PeerSetupTests : TempDirectoryTest
{
    private const string Key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    private static readonly Dictionary<string, string> NoEnvironment = [];

    private CohortConfiguration Load(string nodeExtra, string cluster = """{ "Nodes": [ { "Id": 1, "Name": "n1" }, { "Id": 2, "Name": "n2", "Address": "127.0.0.1:7402" } ] }""")
    {
        Dir.Write("cluster.json", cluster);
        var node = Dir.Write("node.json", $$"""{ "Node": { "Id": 1, "Bootstrap": "cluster.json"{{nodeExtra}} } }""");
        return ConfigurationLoader.Load(node, [], NoEnvironment);
    }

    private string WriteKey(string contents = Key, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Dir.Write("cluster.key", contents + "\n");
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Test]
    public void A_multi_node_cluster_gets_its_listen_address_peers_seeds_and_key()
    {
        WriteKey();
        var configuration = Load(""", "Listen": "127.0.0.1:7401", "Seeds": [ "127.0.0.1:7409" ], "KeyFile": "cluster.key" """);

        var setup = PeerSetup.From(configuration, configuration.Cluster!);
        var start = setup.StartInfo(new NodeIncarnation(new NodeId(1), 4));

        Assert.Multiple(() =>
        {
            Assert.That(start.ListenAddress, Is.EqualTo("127.0.0.1:7401"));
            Assert.That(start.Peers.Select(p => (p.Node.Value, p.Address)), Is.EqualTo(new[] { (2, (string?)"127.0.0.1:7402") }), "every other node, with its cluster-file address");
            Assert.That(start.Seeds, Is.EqualTo(new[] { "127.0.0.1:7409" }));
            Assert.That(start.ClusterKey.ToArray(), Is.EqualTo(Convert.FromBase64String(Key)));
            Assert.That(start.Local, Is.EqualTo(new NodeIncarnation(new NodeId(1), 4)));
        });
    }

    [Test]
    public void The_listen_address_defaults_to_the_nodes_address_in_the_cluster_file()
    {
        WriteKey();
        var configuration = Load(""", "KeyFile": "cluster.key" """, """{ "Nodes": [ { "Id": 1, "Name": "n1", "Address": "127.0.0.1:7501" }, { "Id": 2, "Name": "n2" } ] }""");

        Assert.That(PeerSetup.From(configuration, configuration.Cluster!).Listen, Is.EqualTo("127.0.0.1:7501"));
    }

    [Test]
    public void Without_a_listen_address_or_a_key_file_every_missing_piece_is_named()
    {
        var configuration = Load("");

        var error = Assert.Throws<CohortStartupException>(() => PeerSetup.From(configuration, configuration.Cluster!))!;

        Assert.That(error.Problems, Is.EqualTo(new[]
        {
            $"defaults: Node:Listen: expected the address this node listens on (host:port), or an Address for node 1 in {Dir.Combine("cluster.json")}; a cluster of 2 nodes needs one",
            "defaults: Node:KeyFile: expected the cluster key file (make one with `cohort keygen` and copy it to every node); a cluster of 2 nodes needs one",
        }));
    }

    [Test]
    public void A_key_file_others_can_read_is_refused_unless_allowed()
    {
        var path = WriteKey(mode: UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var strict = Load(""", "Listen": "127.0.0.1:7401", "KeyFile": "cluster.key" """);
        var lenient = Load(""", "Listen": "127.0.0.1:7401", "KeyFile": "cluster.key", "AllowInsecureKeyFile": true """);

        var error = Assert.Throws<CohortStartupException>(() => PeerSetup.From(strict, strict.Cluster!))!;

        Assert.That(error.Message, Is.EqualTo($"{path}: Node:KeyFile: expected a key only its owner can read (mode 0600), got mode 0644: run `chmod 600 {path}`, or set Node:AllowInsecureKeyFile to true for a key that is public anyway (a demo)"));
        Assert.That(PeerSetup.From(lenient, lenient.Cluster!).Key, Is.EqualTo(Convert.FromBase64String(Key)));
    }

    [TestCase("not base64 at all!", "not base64")]
    [TestCase("AAECAwQFBgc=", "8 bytes")]
    public void A_key_file_that_holds_no_key_is_refused(string contents, string got)
    {
        var path = WriteKey(contents);
        var configuration = Load(""", "Listen": "127.0.0.1:7401", "KeyFile": "cluster.key" """);

        var error = Assert.Throws<CohortStartupException>(() => PeerSetup.From(configuration, configuration.Cluster!))!;

        Assert.That(error.Message, Is.EqualTo($"{path}: Node:KeyFile: expected the base64 of a key of at least 16 bytes, as `cohort keygen` writes it, got \"{got}\""));
    }

    [Test]
    public void A_missing_key_file_is_named_with_where_it_was_set()
    {
        var configuration = Load(""", "Listen": "127.0.0.1:7401", "KeyFile": "nope.key" """);

        var error = Assert.Throws<CohortStartupException>(() => PeerSetup.From(configuration, configuration.Cluster!))!;

        Assert.That(error.Message, Is.EqualTo($"{Dir.Combine("node.json")}: Node:KeyFile: expected an existing cluster key file (make one with `cohort keygen` and copy it to every node), got \"{Dir.Combine("nope.key")}\""));
    }
}
