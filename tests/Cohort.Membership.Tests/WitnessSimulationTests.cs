using Cohort.Simulation;
using Cohort.TestSupport;

namespace Cohort.Membership.Tests;

/// <summary>
/// The witness-node device under the simulator: the real membership core and the real witness
/// arbiter, simulated clocks and network, the split-brain and view checkers attached.
/// </summary>
public sealed class WitnessSimulationTests
{
    private static SimulatedCluster Cluster(int nodes)
    {
        var cluster = new SimulatedCluster(Clusters.Witnessed(nodes), seed: 7);
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        return cluster;
    }

    private static bool Quorate(SimulatedCluster cluster, int node) =>
        cluster.Nodes[node].Core?.IsQuorate(cluster.Nodes[node].LocalAt(cluster.Now)) == true;

    private static void AssertNoViolation(SimulatedCluster cluster) => Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);

    [TestCase(0)]
    [TestCase(1)]
    public void Either_node_of_two_survives_the_crash_of_the_other_with_the_witness_vote(int victim)
    {
        var cluster = Cluster(2);
        cluster.RunUntil(TimeSpan.FromSeconds(3));
        Assert.That(Quorate(cluster, 0) && Quorate(cluster, 1), Is.True, "formed");

        cluster.Crash(victim);
        cluster.RunFor(TimeSpan.FromSeconds(3));
        var survivor = 1 - victim;
        Assert.That(cluster.Nodes[survivor].Core!.Installed!.Members, Has.Count.EqualTo(1));
        Assert.That(Quorate(cluster, survivor), Is.True, cluster.Nodes[survivor].Core!.QuorumReason);
        Assert.That(cluster.Nodes[survivor].Core!.Decision!.Reason, Is.EqualTo("2 of 3 expected votes (1 from witness-node); 2 needed"));
        AssertNoViolation(cluster);
    }

    [Test]
    public void A_node_cut_off_from_its_peer_and_the_witness_is_not_quorate_and_the_other_is()
    {
        var cluster = Cluster(2);
        cluster.RunUntil(TimeSpan.FromSeconds(3));

        cluster.SetBlocked(0, 1, true);
        cluster.SetBlocked(1, 0, true);
        cluster.SetWitnessBlocked(0, true);
        cluster.RunFor(TimeSpan.FromSeconds(3));

        Assert.That((Quorate(cluster, 0), Quorate(cluster, 1)), Is.EqualTo((false, true)));
        AssertNoViolation(cluster);
    }

    [Test]
    public void In_a_split_where_both_reach_the_witness_only_the_tie_breaker_side_is_quorate()
    {
        var cluster = Cluster(2);
        cluster.RunUntil(TimeSpan.FromSeconds(3));

        cluster.SetBlocked(0, 1, true);
        cluster.SetBlocked(1, 0, true);
        cluster.RunFor(TimeSpan.FromSeconds(3));

        Assert.That((Quorate(cluster, 0), Quorate(cluster, 1)), Is.EqualTo((true, false)), "node 1 breaks the tie");
        AssertNoViolation(cluster);
    }

    [Test]
    public void Either_node_of_two_survives_the_crash_of_the_other_with_a_witness_file()
    {
        foreach (var victim in new[] { 0, 1 })
        {
            var cluster = new SimulatedCluster(Clusters.FileWitnessed(2), seed: 5);
            cluster.Observe(new SplitBrainChecker());
            cluster.RunUntil(TimeSpan.FromSeconds(3));
            cluster.Crash(victim);
            cluster.RunFor(TimeSpan.FromSeconds(3));

            var survivor = 1 - victim;
            Assert.That(Quorate(cluster, survivor), Is.True, cluster.Nodes[survivor].Core!.QuorumReason);
            Assert.That(cluster.Nodes[survivor].Core!.Decision!.Reason, Is.EqualTo("2 of 3 expected votes (1 from witness-file); 2 needed"));
            AssertNoViolation(cluster);
        }
    }

    [TestCase("witness-node")]
    [TestCase("witness-file")]
    public void Random_faults_with_a_quorum_device_break_no_invariant(string device)
    {
        var report = SimulationRunner.Run(new SimulationRequest
        {
            Setup = seed => device == "witness-node" ? Clusters.Witnessed(2 + (int)(seed % 3)) : Clusters.FileWitnessed(2 + (int)(seed % 3)),
            Budget = SimulationBudget.PerSuite / 2, // two devices share one suite's budget
            Span = TimeSpan.FromSeconds(60),
        });

        TestContext.Out.WriteLine($"{report.Schedules} schedules, {report.Faults} faults, {report.ViewsInstalled} views in {report.Elapsed.TotalSeconds:F1} s");
        Assert.That(report.Violations, Is.Empty, () => string.Join("\n", report.Violations.Select(v => $"seed {v.Seed}: {v.Invariant}: {v.Detail}")));
    }
}
