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
            "cluster.json: $.Fencing.Colour: expected no such key: Cluster:Fencing has Action, Devices, Levels, MonitorInterval, Priority, PriorityDelay, got \"red\"",
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

    [Test]
    public void Fence_race_delays_are_per_device_per_node_and_priorities_per_node()
    {
        var fencing = Parse("""
            {
              "PriorityDelay": 15,
              "Priority": { "a": 10, "c": 3 },
              "Devices": {
                "pg": { "Agent": "process-group", "DelayBase": { "b": 5, "c": 2.5 }, "DelayMax": 8 },
                "flat": { "Agent": "script", "DelayBase": 1 },
                "plain": { "Agent": "script" }
              },
              "Levels": { "*": [ [ "pg" ] ] }
            }
            """).Fencing;
        var delays = fencing.Topology.Delays;
        Assert.Multiple(() =>
        {
            Assert.That(delays["pg"].BaseFor(new NodeId(1)), Is.EqualTo(TimeSpan.Zero), "a node the object leaves out has no static delay");
            Assert.That(delays["pg"].BaseFor(new NodeId(2)), Is.EqualTo(TimeSpan.FromSeconds(5)));
            Assert.That(delays["pg"].BaseFor(new NodeId(3)), Is.EqualTo(TimeSpan.FromSeconds(2.5)));
            Assert.That(delays["pg"].Max, Is.EqualTo(TimeSpan.FromSeconds(8)));
            Assert.That(delays["flat"].BaseFor(new NodeId(3)), Is.EqualTo(TimeSpan.FromSeconds(1)), "one number: every node");
            Assert.That(delays.ContainsKey("plain"), Is.False);
            Assert.That(fencing.Topology.PriorityDelay, Is.EqualTo(TimeSpan.FromSeconds(15)));
            Assert.That(fencing.Topology.PriorityOf(new NodeId(1)), Is.EqualTo(10));
            Assert.That(fencing.Topology.PriorityOf(new NodeId(2)), Is.Zero);
            Assert.That(fencing.Topology.ClusterSize, Is.EqualTo(3));
        });
    }

    [Test]
    public void Bad_delays_and_priorities_are_named_by_their_json_path()
    {
        var problems = Problems("""
            {
              "PriorityDelay": -1,
              "Priority": { "a": "high", "z": 1 },
              "Devices": {
                "pg": { "Agent": "process-group", "DelayBase": { "b": 5, "y": 1, "c": "soon" }, "DelayMax": 3 },
                "flat": { "Agent": "script", "DelayBase": 4000 }
              }
            }
            """);
        Assert.That(problems, Is.EquivalentTo(new[]
        {
            "cluster.json: $.Fencing.PriorityDelay: expected seconds from 0 (off) to 3600, got \"-1\"",
            "cluster.json: $.Fencing.Priority.a: expected an integer from 0 to 1000000 (the node's fencing priority), got \"high\"",
            "cluster.json: $.Fencing.Priority.z: expected a node name of Cluster:Nodes (a, b, c)",
            "cluster.json: $.Fencing.Devices.pg.DelayBase.y: expected a node name of Cluster:Nodes (a, b, c)",
            "cluster.json: $.Fencing.Devices.pg.DelayBase.c: expected seconds from 0 to 3600, got \"soon\"",
            "cluster.json: $.Fencing.Devices.pg.DelayMax: expected 0 or at least the largest DelayBase (5 s): DelayMax bounds the static and random delay together, got \"3\"",
            "cluster.json: $.Fencing.Devices.flat.DelayBase: expected seconds from 0 to 3600, or an object of node names and seconds: { \"node2\": 5 }, got \"4000\"",
        }));
    }
}
