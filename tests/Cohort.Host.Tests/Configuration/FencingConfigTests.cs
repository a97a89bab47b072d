using Cohort.Fencing;
using Cohort.Host.Configuration;
using Cohort.Membership;

namespace Cohort.Host.Tests.Configuration;

/// <summary><c>Cluster:Fencing</c>: devices, levels per node and their defaults, and errors that name the JSON path.</summary>
public sealed class FencingConfigTests
{
    private const string Nodes = """ "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 2, "Name": "b" }, { "Id": 3, "Name": "c" } ] """;

    private static ClusterDocument Parse(string fencing)
    {
        var json = $$"""{ {{Nodes}}, "Fencing": {{fencing}} }""";
        var source = ConfigSource.Json("cluster.json", System.Text.Encoding.UTF8.GetBytes(json), "/", prefix: "Cluster");
        return ClusterDocument.Parse("cluster.json", source.Root.GetSection("Cluster"), source.Bytes);
    }

    private static IReadOnlyList<string> Problems(string fencing)
    {
        try
        {
            Parse(fencing);
            return [];
        }
        catch (CohortStartupException ex)
        {
            return ex.Problems;
        }
    }

    [Test]
    public void Levels_keep_their_order_and_star_covers_every_node_without_its_own()
    {
        var fencing = Parse("""
            {
              "Action": "reboot",
              "Devices": {
                "ipmi": { "Agent": "external", "Timeout": 7.5, "Retries": 2, "HostMap": { "a": "10", "c": "30" } },
                "pdu1": { "Agent": "script" },
                "pdu2": { "Agent": "script" }
              },
              "Levels": { "c": [ [ "pdu1", "pdu2" ], [ "ipmi" ] ], "*": [ [ "ipmi" ] ] }
            }
            """).Fencing;
        Assert.Multiple(() =>
        {
            Assert.That(fencing.Action, Is.EqualTo(FenceAction.Reboot));
            Assert.That(fencing.Topology.LevelsOf(new NodeId(3)), Is.EqualTo(new[] { new[] { "pdu1", "pdu2" }, new[] { "ipmi" } }));
            Assert.That(fencing.Topology.LevelsOf(new NodeId(1)), Is.EqualTo(new[] { new[] { "ipmi" } }));
            Assert.That(fencing.Devices["ipmi"].Timeout, Is.EqualTo(TimeSpan.FromSeconds(7.5)));
            Assert.That(fencing.Devices["ipmi"].Retries, Is.EqualTo(2));
            Assert.That(fencing.Devices["ipmi"].PlugOf("a"), Is.EqualTo("10"));
            Assert.That(fencing.Devices["ipmi"].PlugOf("b"), Is.EqualTo("b"), "a node the map leaves out is called by its name");
            Assert.That(fencing.Devices["pdu1"].Timeout, Is.EqualTo(TimeSpan.FromSeconds(20)), "the default timeout");
            Assert.That(fencing.MonitorInterval, Is.EqualTo(TimeSpan.FromSeconds(60)));
        });
    }

    [Test]
    public void Without_a_fencing_section_no_node_has_levels()
    {
        var source = ConfigSource.Json("cluster.json", System.Text.Encoding.UTF8.GetBytes($$"""{ {{Nodes}} }"""), "/", prefix: "Cluster");
        var cluster = ClusterDocument.Parse("cluster.json", source.Root.GetSection("Cluster"), source.Bytes);
        Assert.That(cluster.Fencing.Topology.LevelsOf(new NodeId(1)), Is.Empty);
        Assert.That(cluster.Fencing.Action, Is.EqualTo(FenceAction.Off));
    }

    [Test]
    public void Every_problem_is_named_by_its_json_path_at_once()
    {
        var problems = Problems("""
            {
              "Action": "cycle",
              "Colour": "red",
              "Devices": {
                "ipmi": { "Timeout": 0, "Retries": 11, "HostMap": { "z": "1" } }
              },
              "Levels": { "a": [ [ "nope" ] ], "q": [ [ "ipmi" ] ], "b": "ipmi" }
            }
            """);
        Assert.That(problems, Is.EquivalentTo(new[]
        {
            "cluster.json: $.Fencing.Colour: expected no such key: Cluster:Fencing has Action, Devices, Levels, MonitorInterval, got \"red\"",
            "cluster.json: $.Fencing.Action: expected off or reboot, got \"cycle\"",
            "cluster.json: $.Fencing.Devices.ipmi.Agent: expected the name of a fence-agent plugin (external, manual, script, process-group, ...)",
            "cluster.json: $.Fencing.Devices.ipmi.Timeout: expected seconds from 0.1 to 3600, got \"0\"",
            "cluster.json: $.Fencing.Devices.ipmi.Retries: expected an integer from 0 to 10, got \"11\"",
            "cluster.json: $.Fencing.Devices.ipmi.HostMap.z: expected a node name of Cluster:Nodes (a, b, c)",
            "cluster.json: $.Fencing.Levels.a[0][0]: expected the name of a device under Cluster:Fencing:Devices (none defined), got \"nope\"",
            "cluster.json: $.Fencing.Levels.q: expected a node name of Cluster:Nodes (a, b, c) or \"*\" for every other node",
            "cluster.json: $.Fencing.Levels.q[0][0]: expected the name of a device under Cluster:Fencing:Devices (none defined), got \"ipmi\"",
            "cluster.json: $.Fencing.Levels.b: expected an array of levels, each an array of device names: [[\"ipmi\"], [\"pdu1\", \"pdu2\"]], got \"ipmi\"",
        }));
    }
}
