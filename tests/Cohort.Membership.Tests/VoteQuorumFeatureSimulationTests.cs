using Cohort.Quorum.VoteQuorum;
using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>
/// votequorum's features under the simulator: the real membership core, simulated clocks, network and
/// disks, and the split-brain and view checkers attached (a decision that declares dual quorum is the
/// documented exception of the split-brain checker).
/// </summary>
public sealed class VoteQuorumFeatureSimulationTests
{
    private static SimulatedCluster Cluster(int nodes, params (string Key, string Value)[] options)
    {
        var keys = ClusterSetup.GeneratedKeys(nodes, VoteQuorumPolicy.Name).ToDictionary();
        foreach (var (key, value) in options)
        {
            keys[VoteQuorumOptions.Section + ":" + key] = value;
        }

        var members = Enumerable.Range(1, nodes).Select(id => new ClusterNode(new NodeId(id), $"n{id}", 1)).ToList();
        var cluster = new SimulatedCluster(ClusterSetup.From(members, keys, () => new VoteQuorumPolicy()), seed: 11);
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        return cluster;
    }

    private static bool Quorate(SimulatedCluster cluster, int node) =>
        cluster.Nodes[node].Core?.IsQuorate(cluster.Nodes[node].LocalAt(cluster.Now)) == true;

    private static void Isolate(SimulatedCluster cluster, int node, bool cut)
    {
        for (var other = 0; other < cluster.Nodes.Count; other++)
        {
            if (other != node)
            {
                cluster.SetBlocked(node, other, cut);
                cluster.SetBlocked(other, node, cut);
            }
        }
    }

    private static void AssertNoViolation(SimulatedCluster cluster) => Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);

    [Test]
    public void Two_node_keeps_both_halves_of_a_split_quorate_and_a_node_restarted_alone_waits_for_the_other()
    {
        var cluster = Cluster(2, ("TwoNode", "true"));
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        Assert.That(Quorate(cluster, 0) && Quorate(cluster, 1), Is.True, "formed");

        Isolate(cluster, 1, cut: true);
        cluster.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(Quorate(cluster, 0) && Quorate(cluster, 1), Is.True, "two_node: each half alone stays quorate (fencing decides)");
        AssertNoViolation(cluster);

        cluster.Crash(1);
        cluster.Restart(1);
        cluster.RunFor(TimeSpan.FromSeconds(10));
        Assert.That(Quorate(cluster, 1), Is.False, "a node restarted while the split lasts waits for all (no fence loop)");
        Assert.That(Quorate(cluster, 0), Is.True);

        Isolate(cluster, 1, cut: false);
        cluster.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(Quorate(cluster, 0) && Quorate(cluster, 1), Is.True, "both seen at once: quorate again");
        AssertNoViolation(cluster);
    }

    [Test]
    public void Wait_for_all_keeps_a_majority_waiting_until_every_node_was_seen_and_not_after()
    {
        var cluster = Cluster(3, ("WaitForAll", "true"));
        Isolate(cluster, 2, cut: true);
        cluster.RunUntil(TimeSpan.FromSeconds(3));
        Assert.That(cluster.Nodes[0].Core!.Installed!.Members.Count, Is.EqualTo(2), "nodes 1 and 2 formed a view");
        Assert.That(Quorate(cluster, 0) || Quorate(cluster, 1), Is.False, "a majority, but node 3 was never seen");

        Isolate(cluster, 2, cut: false);
        cluster.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(Enumerable.Range(0, 3).All(n => Quorate(cluster, n)), Is.True, "everyone seen at once");

        cluster.Crash(2);
        cluster.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(Quorate(cluster, 0) && Quorate(cluster, 1), Is.True, "once everyone was seen, a majority will do");
        AssertNoViolation(cluster);
    }

    [Test]
    public void Expected_votes_tracking_survives_a_restart_and_keeps_a_shrunken_cluster_from_lowering_the_bar()
    {
        // ExpectedVotes 3 in a 4-node document; all four were seen, so 4 is remembered (and persisted).
        var cluster = Cluster(4, ("ExpectedVotes", "3"), ("ExpectedVotesTracking", "true"));
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        Assert.That(Enumerable.Range(0, 4).All(n => Quorate(cluster, n)), Is.True, "formed");

        cluster.Crash(2);
        cluster.Crash(3);
        cluster.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(Quorate(cluster, 0) || Quorate(cluster, 1), Is.False, "2 of a remembered 4 votes is no majority");

        cluster.Crash(0);
        cluster.Restart(0);
        cluster.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(cluster.Nodes[0].Core!.Decision!.ExpectedVotes, Is.EqualTo(4), "remembered across the restart");
        Assert.That(Quorate(cluster, 0), Is.False);
        AssertNoViolation(cluster);
    }

    [Test]
    public void Without_tracking_the_same_cluster_lowers_the_bar_and_says_both_sides_may_be_quorate()
    {
        var cluster = Cluster(4, ("ExpectedVotes", "3"));
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        cluster.Crash(2);
        cluster.Crash(3);
        cluster.RunFor(TimeSpan.FromSeconds(3));

        Assert.That(Quorate(cluster, 0) && Quorate(cluster, 1), Is.True);
        Assert.That(cluster.Nodes[0].Core!.Decision!.DualQuorum, Is.True);
    }

    [TestCase("lowest", 0, 1)]
    [TestCase("highest", 2, 3)]
    public void Auto_tie_breaker_keeps_only_the_half_with_the_tie_breaker_quorate_in_a_two_two_split(string tieBreaker, int winnerA, int winnerB)
    {
        var cluster = Cluster(4, ("AutoTieBreaker", "true"), ("AutoTieBreakerNode", tieBreaker));
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        foreach (var a in new[] { 0, 1 })
        {
            foreach (var b in new[] { 2, 3 })
            {
                cluster.SetBlocked(a, b, true);
                cluster.SetBlocked(b, a, true);
            }
        }

        cluster.RunFor(TimeSpan.FromSeconds(3));

        var quorate = Enumerable.Range(0, 4).Where(n => Quorate(cluster, n)).ToArray();
        Assert.That(quorate, Is.EqualTo(new[] { winnerA, winnerB }));
        Assert.That(cluster.Nodes[winnerA].Core!.Installed!.Members.Count, Is.EqualTo(2));
        AssertNoViolation(cluster);
    }

    [Test]
    public void Last_man_standing_lets_a_cluster_lose_nodes_one_window_at_a_time_down_to_the_tie_breaker()
    {
        var cluster = Cluster(4, ("LastManStanding", "true"), ("LastManStandingWindow", "2000"), ("AutoTieBreaker", "true"));
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        Assert.That(Enumerable.Range(0, 4).All(n => Quorate(cluster, n)), Is.True, "formed");

        // Each loss waits out the window; then the survivors expect only their own votes.
        foreach (var (crash, survivors) in new[] { (3, new[] { 0, 1, 2 }), (2, new[] { 0, 1 }), (1, new[] { 0 }) })
        {
            cluster.Crash(crash);
            cluster.RunFor(TimeSpan.FromSeconds(4));
            Assert.That(survivors.All(n => Quorate(cluster, n)), Is.True, $"after node {crash + 1} crashed: {cluster.Nodes[0].Core!.QuorumReason}");
            Assert.That(cluster.Nodes[0].Core!.Decision!.ExpectedVotes, Is.EqualTo(survivors.Length), "lowered after the window");
        }

        AssertNoViolation(cluster);
    }

    [Test]
    public void Without_last_man_standing_two_losses_of_four_end_quorum()
    {
        var cluster = Cluster(4);
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        cluster.Crash(3);
        cluster.RunFor(TimeSpan.FromSeconds(4));
        cluster.Crash(2);
        cluster.RunFor(TimeSpan.FromSeconds(4));

        Assert.That(Quorate(cluster, 0) || Quorate(cluster, 1), Is.False, "2 of 4 is no majority");
        AssertNoViolation(cluster);
    }
}
