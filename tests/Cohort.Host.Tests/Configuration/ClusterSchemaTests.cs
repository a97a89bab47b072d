using Cohort.Host.Configuration;
using Cohort.TestSupport;
using NJsonSchema;

namespace Cohort.Host.Tests.Configuration;

/// <summary>The published schema of the cluster document (docs/cluster.schema.json) stays in step with
/// the validator: every shipped cluster file passes both, every core key is in the schema, and what the
/// schema refuses the validator refuses too.</summary>
public class ClusterSchemaTests
{
    private static readonly Lazy<JsonSchema> Schema = new(() =>
        JsonSchema.FromJsonAsync(File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "cluster.schema.json"))).GetAwaiter().GetResult());

    private static IEnumerable<string> ShippedClusterFiles() =>
        Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "samples"), "cluster.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    [TestCaseSource(nameof(ShippedClusterFiles))]
    public void A_shipped_cluster_file_passes_the_schema(string path)
    {
        var errors = Schema.Value.Validate(File.ReadAllText(path));
        Assert.That(errors.Select(e => $"{e.Path}: {e.Kind}"), Is.Empty);
    }

    [Test]
    public void Every_core_key_is_in_the_schema()
    {
        var root = Schema.Value;
        foreach (var key in ClusterDocument.CoreKeys)
        {
            var schema = root;
            foreach (var part in key.Split(':'))
            {
                Assert.That(schema.ActualProperties.ContainsKey(part), $"the schema describes Cluster:{key}");
                schema = schema.ActualProperties[part].ActualSchema;
            }
        }

        var node = root.ActualProperties["Nodes"].ActualSchema.Item!.ActualSchema;
        Assert.That(node.ActualProperties.Keys, Is.EquivalentTo(ClusterDocument.NodeKeys));
    }

    [TestCase("""{ "Nodes": [ { "Id": 1 } ] }""", "a node without a name")]
    [TestCase("""{ "Nodes": [ { "Id": 0, "Name": "a" } ] }""", "node id 0")]
    [TestCase("""{ "Nodes": [ { "Id": 1, "Name": "a", "Votes": -1 } ] }""", "negative votes")]
    [TestCase("""{ "Nodes": [] }""", "no nodes")]
    [TestCase("""{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Quorum": { "NoQuorumPolicy": "panic" } }""", "an unknown no-quorum policy")]
    [TestCase("""{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Membership": { "HeartbeatIntervall": 50 } }""", "a misspelt membership key")]
    [TestCase("""{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Fencing": { "Action": "cycle" } }""", "an unknown fence action")]
    [TestCase("""{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Fencing": { "Devices": { "d": { "Timeout": 5 } } } }""", "a device without an agent")]
    [TestCase("""{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Fencing": { "Levles": { "a": [ [ "d" ] ] } } }""", "a misspelt fencing key")]
    [TestCase("""{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Fencing": { "Levels": { "a": [] } } }""", "a node with no levels")]
    public void What_the_schema_refuses_the_validator_refuses(string document, string what)
    {
        Assert.That(Schema.Value.Validate(document), Is.Not.Empty, $"the schema refuses {what}");
        var source = ConfigSource.Json("doc", System.Text.Encoding.UTF8.GetBytes(document), "/", prefix: "Cluster");
        Assert.That(() =>
        {
            var cluster = ClusterDocument.Parse("doc", source.Root.GetSection("Cluster"), source.Bytes);
            ConfigurationLoader.CheckClusterKeys(new CohortConfiguration([source], new NodeOptions { Id = 1 }, cluster), []);
        }, Throws.TypeOf<CohortStartupException>(), $"the validator refuses {what}");
    }

    [Test]
    public void A_version_key_is_refused_it_is_not_a_bare_document()
    {
        Assert.That(Schema.Value.Validate("""{ "version": 3, "Nodes": [ { "Id": 1, "Name": "a" } ] }"""), Is.Not.Empty);
    }
}
