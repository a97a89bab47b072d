using Cohort.Host.Configuration;
using Cohort.Locking;
using Cohort.Membership;

namespace Cohort.Host.Tests.Configuration;

/// <summary><c>Cluster:Dlm</c>: directory weights by node name, the cache time, their defaults, and errors that name the JSON path.</summary>
public sealed class DlmConfigTests
{
    private const string Nodes = """ "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 2, "Name": "b" }, { "Id": 3, "Name": "c" } ] """;

    private static ClusterDocument Parse(string? dlm)
    {
        var json = dlm is null ? $$"""{ {{Nodes}} }""" : $$"""{ {{Nodes}}, "Dlm": {{dlm}} }""";
        var source = ConfigSource.Json("cluster.json", System.Text.Encoding.UTF8.GetBytes(json), "/", prefix: "Cluster");
        var cluster = ClusterDocument.Parse("cluster.json", source.Root.GetSection("Cluster"), source.Bytes);
        ConfigurationLoader.CheckClusterKeys(new CohortConfiguration([source], new NodeOptions { Id = 1 }, cluster), []);
        return cluster;
    }

    private static IReadOnlyList<string> Problems(string dlm)
    {
        try
        {
            Parse(dlm);
            return [];
        }
        catch (CohortStartupException ex)
        {
            return ex.Problems;
        }
    }

    [Test]
    public void Dlm_defaults_are_the_documented_ones()
    {
        var dlm = Parse(null).Dlm;
        Assert.Multiple(() =>
        {
            Assert.That(dlm.Weights, Is.Empty, "every node weighs 1");
            Assert.That(dlm.CacheTime, Is.EqualTo(LockManagerSetup.DefaultCacheTime));
            Assert.That(LockManagerSetup.DefaultCacheTime, Is.EqualTo(TimeSpan.FromSeconds(10)));
        });
    }

    [Test]
    public void Dlm_weights_are_read_by_node_name_into_the_core_setup()
    {
        var setup = Parse("""{ "Weight": { "a": 2, "C": 0 }, "CacheTime": 2.5 }""").Dlm.Setup;
        Assert.Multiple(() =>
        {
            Assert.That(setup.DirectoryWeights, Is.EquivalentTo(new Dictionary<NodeId, int> { [new NodeId(1)] = 2, [new NodeId(3)] = 0 }));
            Assert.That(setup.CacheTime, Is.EqualTo(TimeSpan.FromSeconds(2.5)));
        });
    }

    [Test]
    public void Dlm_errors_name_the_file_the_key_and_what_was_expected()
    {
        Assert.That(Problems("""{ "Weight": { "a": -1, "z": 1, "b": "x" }, "CacheTime": 0, "Cache": 5 }"""), Is.EquivalentTo(new[]
        {
            "cluster.json: $.Dlm.Cache: expected no such key: Cluster:Dlm has CacheTime, Weight, got \"5\"",
            "cluster.json: $.Dlm.CacheTime: expected seconds above 0, at most 3600, got \"0\"",
            "cluster.json: $.Dlm.Weight.a: expected an integer from 0 (never a directory node) to 1000, got \"-1\"",
            "cluster.json: $.Dlm.Weight.b: expected an integer from 0 (never a directory node) to 1000, got \"x\"",
            "cluster.json: $.Dlm.Weight.z: expected a node name of Cluster:Nodes (a, b, c)",
        }));
    }

    [Test]
    public void Dlm_refuses_a_cluster_without_a_directory_node()
    {
        Assert.That(Problems("""{ "Weight": { "a": 0, "b": 0, "c": 0 } }"""), Is.EqualTo(new[]
        {
            "cluster.json: $.Dlm.Weight: expected at least one node with a weight above 0 (a lockspace needs a directory node)",
        }));
    }
}
