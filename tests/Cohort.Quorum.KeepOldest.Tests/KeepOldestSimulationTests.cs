using Cohort.Membership;
using Cohort.Simulation;

namespace Cohort.Quorum.KeepOldest.Tests;

/// <summary>keep-oldest under the simulator: the real membership core, the split-brain and view checkers attached.</summary>
public sealed class KeepOldestSimulationTests
{
    private static SimulatedCluster Cluster(int nodes)
    {
        var members = Enumerable.Range(1, nodes).Select(id => new ClusterNode(new NodeId(id), $"n{id}", 1)).ToList();
        var cluster = new SimulatedCluster(ClusterSetup.From(members, ClusterSetup.GeneratedKeys(nodes, KeepOldestPolicy.Name), () => new KeepOldestPolicy()), seed: 3);
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        return cluster;
    }

    private static bool Quorate(SimulatedCluster cluster, int node) =>
        cluster.Nodes[node].Core?.IsQuorate(cluster.Nodes[node].LocalAt(cluster.Now)) == true;

    private static void Split(SimulatedCluster cluster, int[] left, int[] right)
    {
        foreach (var a in left)
        {
            foreach (var b in right)
            {
                cluster.SetBlocked(a, b, true);
                cluster.SetBlocked(b, a, true);
            }
        }
    }

    [Test]
    public void In_a_two_two_split_the_half_with_the_oldest_acts_as_dual_quorum()
    {
        var cluster = Cluster(4);
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        Assert.That(Enumerable.Range(0, 4).All(n => Quorate(cluster, n)), Is.True, "formed");
        Assert.That(cluster.Nodes[0].Core!.QuorumIsDual, Is.False, "a majority is quorate by itself");

        Split(cluster, [0, 1], [2, 3]);
        cluster.RunFor(TimeSpan.FromSeconds(3));

        Assert.That(Enumerable.Range(0, 4).Where(n => Quorate(cluster, n)), Is.EqualTo(new[] { 0, 1 }));
        Assert.That(cluster.Nodes[0].Core!.QuorumIsDual, Is.True, "a minority acting on age");
        Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
    }

    [Test]
    public void An_oldest_node_cut_off_alone_gives_way_to_the_rest()
    {
        var cluster = Cluster(2);
        cluster.RunUntil(TimeSpan.FromSeconds(2));

        Split(cluster, [0], [1]);
        cluster.RunFor(TimeSpan.FromSeconds(3));

        Assert.That((Quorate(cluster, 0), Quorate(cluster, 1)), Is.EqualTo((false, true)));
        Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
    }

    [Test]
    public void Random_faults_break_no_invariant()
    {
        var report = SimulationRunner.Run(new SimulationRequest
        {
            Setup = seed =>
            {
                var nodes = 2 + (int)(seed % 4);
                var members = Enumerable.Range(1, nodes).Select(id => new ClusterNode(new NodeId(id), $"n{id}", 1)).ToList();
                return ClusterSetup.From(members, ClusterSetup.GeneratedKeys(nodes, KeepOldestPolicy.Name), () => new KeepOldestPolicy());
            },
            Budget = TimeSpan.FromSeconds(10),
            Span = TimeSpan.FromSeconds(60),
        });

        Assert.That(report.Violations, Is.Empty, () => string.Join("\n", report.Violations.Select(v => $"seed {v.Seed}: {v.Invariant}: {v.Detail}")));
    }
}
