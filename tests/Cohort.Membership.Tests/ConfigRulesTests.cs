using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>
/// Views under versions of the cluster document: a committed version takes effect at the next view,
/// which carries it; new quorum rules wait out the old rules' leases; a node about to acknowledge new
/// rules stops supporting views under the old ones; a node behind stays out of views until it catches up.
/// Each rule is shown to matter by the mutant that breaks it.
/// </summary>
public class ConfigRulesTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(5);

    private static (SimulatedCluster Cluster, EventLog Events) Formed(MembershipMutant mutant = MembershipMutant.None, int size = 3)
    {
        var cluster = new SimulatedCluster(Clusters.VoteQuorum(size, Clusters.Mutant(mutant)), 7);
        var events = new EventLog();
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        cluster.Observe(events);
        Convergence.RunUntil(cluster, [.. Enumerable.Range(0, size)], TimeSpan.FromSeconds(3), Step);
        return (cluster, events);
    }

    /// <summary>Version <paramref name="version"/> of the simulated cluster's document with these votes (node ids from 1).</summary>
    private static MembershipRules Rules(SimulatedCluster cluster, long version, params int[] votes)
    {
        var setup = cluster.Setup;
        ClusterNode[] nodes = [.. votes.Select((v, i) => new ClusterNode(new NodeId(i + 1), $"node{i + 1}", v))];
        return new MembershipRules(version, nodes, setup.Cluster, setup.Policy(), setup.Membership, null, MembershipRules.Describe(nodes, setup.Cluster, null));
    }

    private static bool AllQuorateUnder(SimulatedCluster cluster, long version, IEnumerable<int> nodes) =>
        nodes.All(i => cluster.Nodes[i].Core is { Installed: { } view } core && view.ConfigVersion == version && core.IsQuorate(cluster.Nodes[i].LocalAt(cluster.Now)));

    private static TimeSpan RunUntilQuorateUnder(SimulatedCluster cluster, long version, int[] nodes, TimeSpan within)
    {
        var deadline = cluster.Now + within;
        while (!AllQuorateUnder(cluster, version, nodes))
        {
            Assert.That(cluster.Now, Is.LessThan(deadline), $"nodes {string.Join(", ", nodes)} are not quorate under version {version}: {string.Join("; ", nodes.Select(i => cluster.Nodes[i].Core!.QuorumReason))}");
            cluster.RunFor(Step);
        }

        Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
        return cluster.Now;
    }

    [TestCase(MembershipMutant.None, true)]
    [TestCase(MembershipMutant.NoHoldDown, false)]
    public void New_quorum_rules_take_effect_at_the_next_view_after_the_old_leases_ran_out(MembershipMutant mutant, bool holds)
    {
        var (cluster, _) = Formed(mutant);
        var adopted = cluster.Now;
        for (var i = 0; i < 3; i++)
        {
            cluster.Request(i, new AdoptConfiguration(Rules(cluster, 2, 3, 1, 1)));
        }

        var quorate = RunUntilQuorateUnder(cluster, 2, [0, 1, 2], TimeSpan.FromSeconds(3));
        var decision = cluster.Nodes[1].Core!.Decision!;
        Assert.That(decision.ExpectedVotes, Is.EqualTo(5), "the view is judged by the new votes");
        var lease = cluster.Setup.Membership.QuorumLease;
        if (holds)
        {
            Assert.That(quorate - adopted, Is.GreaterThanOrEqualTo(lease), "quorate under new rules before a lease under the old ones could have run out");
        }
        else
        {
            Assert.That(quorate - adopted, Is.LessThan(lease), "the mutant waits too: the test cannot tell it from the real core");
        }
    }

    [Test]
    public void A_version_that_judges_alike_takes_effect_at_once()
    {
        var (cluster, events) = Formed();
        var adopted = cluster.Now;
        for (var i = 0; i < 3; i++)
        {
            cluster.Request(i, new AdoptConfiguration(Rules(cluster, 2, 1, 1, 1)));
        }

        var quorate = RunUntilQuorateUnder(cluster, 2, [0, 1, 2], TimeSpan.FromSeconds(3));
        Assert.That(quorate - adopted, Is.LessThan(cluster.Setup.Membership.QuorumLease));
        var installed = events.Of<ViewInstalled>(cluster.Nodes[2].Self).Last();
        Assert.That(installed.View.ConfigVersion, Is.EqualTo(2));
        Assert.That(installed.ToString(), Does.EndWith("under config version 2"));
    }

    [TestCase(MembershipMutant.None, false)]
    [TestCase(MembershipMutant.EchoWhileAccepting, true)]
    public void A_node_about_to_acknowledge_new_rules_stops_supporting_views_under_the_old_ones(MembershipMutant mutant, bool stillQuorate)
    {
        var (cluster, _) = Formed(mutant);
        var node = cluster.Nodes[1];
        cluster.Request(1, new ConfigurationPending(2, Rules(cluster, 2, 3, 1, 1).QuorumRules));
        cluster.RunFor(cluster.Setup.Membership.QuorumLease * 2);
        Assert.That(node.Core!.IsQuorate(node.LocalAt(cluster.Now)), Is.EqualTo(stillQuorate), node.Core.QuorumReason);
        if (!stillQuorate)
        {
            Assert.That(node.Core.QuorumReason, Does.Contain("version 2 is being committed"));
        }

        // Nodes 1 and 3 still acknowledge each other: a majority under the old rules goes on.
        Assert.That(AllQuorateUnder(cluster, 0, [0, 2]), Is.True);
        Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
    }

    [Test]
    public void A_pending_version_that_judges_alike_changes_nothing()
    {
        var (cluster, _) = Formed();
        cluster.Request(1, new ConfigurationPending(2, Rules(cluster, 2, 1, 1, 1).QuorumRules));
        cluster.RunFor(cluster.Setup.Membership.QuorumLease * 2);
        Assert.That(AllQuorateUnder(cluster, 0, [0, 1, 2]), Is.True);
    }

    [Test]
    public void A_node_behind_stays_out_of_views_until_it_catches_up()
    {
        var (cluster, events) = Formed();
        cluster.Request(0, new AdoptConfiguration(Rules(cluster, 2, 1, 1, 1)));
        cluster.Request(1, new AdoptConfiguration(Rules(cluster, 2, 1, 1, 1)));
        RunUntilQuorateUnder(cluster, 2, [0, 1], TimeSpan.FromSeconds(3));
        Assert.That(cluster.Nodes[0].Core!.Installed!.Members, Is.EqualTo(new[] { cluster.Nodes[0].Self, cluster.Nodes[1].Self }));
        var behind = cluster.Nodes[2];
        Assert.That(events.Of<ConfigurationAhead>(behind.Self).Select(a => a.Version), Does.Contain(2L), "the node behind is told to catch up");

        cluster.Request(2, new AdoptConfiguration(Rules(cluster, 2, 1, 1, 1)));
        RunUntilQuorateUnder(cluster, 2, [0, 1, 2], TimeSpan.FromSeconds(3));
        Assert.That(behind.Core!.Installed!.Members, Has.Count.EqualTo(3));
    }

    [Test]
    public void A_node_a_version_drops_joins_no_view_under_it()
    {
        var (cluster, _) = Formed();
        for (var i = 0; i < 3; i++)
        {
            cluster.Request(i, new AdoptConfiguration(Rules(cluster, 2, 1, 1)));
        }

        RunUntilQuorateUnder(cluster, 2, [0, 1], TimeSpan.FromSeconds(3));
        var dropped = cluster.Nodes[2].Core!;
        Assert.That(cluster.Nodes[0].Core!.Installed!.Members, Has.Count.EqualTo(2));
        Assert.That(dropped.IsQuorate(cluster.Nodes[2].LocalAt(cluster.Now)), Is.False);
        Assert.That(dropped.QuorumReason, Does.Contain("does not list this node"));
    }

    /// <summary>
    /// The split the two rules exist for, checked by the split-brain checker against what every node
    /// believes: nodes 1–3 form a quorate view under version 1 (3 of 5 votes) while 4 and 5 are cut off;
    /// then version 2 gives 4 and 5 three votes each (6 of 9: a majority by themselves) and commits
    /// through the acknowledgements of 3, 4 and 5 (the CCS side is played by requests: node 3 is told
    /// the version is pending, 4 and 5 also that it committed). Without the hold-down, 4 and 5 are quorate
    /// under version 2 while 1 and 2 still hold their leases under version 1; with node 3 still
    /// acknowledging heartbeats under version 1, nodes 1–3 stay quorate for good.
    /// </summary>
    [TestCase(MembershipMutant.None)]
    [TestCase(MembershipMutant.NoHoldDown)]
    [TestCase(MembershipMutant.EchoWhileAccepting)]
    public void Old_and_new_rules_never_make_two_disjoint_quorate_views_across_a_split(MembershipMutant mutant)
    {
        var (cluster, _) = Formed(mutant, size: 5);
        foreach (var near in new[] { 0, 1, 2 })
        {
            foreach (var far in new[] { 3, 4 })
            {
                cluster.SetBlocked(near, far, true);
                cluster.SetBlocked(far, near, true);
            }
        }

        var split = cluster.Now + TimeSpan.FromSeconds(3);
        while (!(AllQuorateUnder(cluster, 0, [0, 1, 2]) && cluster.Nodes[0].Core!.Installed!.Members.Count == 3 && cluster.Nodes[3].Core!.Installed!.Members.Count == 2))
        {
            Assert.That(cluster.Now, Is.LessThan(split), "the split forms views [1,2,3] and [4,5]");
            cluster.RunFor(Step);
        }

        var v2 = Rules(cluster, 2, 1, 1, 1, 3, 3);
        foreach (var acknowledger in new[] { 2, 3, 4 })
        {
            cluster.Request(acknowledger, new ConfigurationPending(2, v2.QuorumRules));
        }

        cluster.Request(3, new AdoptConfiguration(v2));
        cluster.Request(4, new AdoptConfiguration(v2));
        var deadline = cluster.Now + TimeSpan.FromSeconds(3);
        while (cluster.Violation is null && cluster.Now < deadline)
        {
            cluster.RunFor(Step);
        }

        if (mutant == MembershipMutant.None)
        {
            Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
            Assert.That(AllQuorateUnder(cluster, 2, [3, 4]), Is.True, "4 and 5 go on under version 2");
            Assert.That(cluster.Nodes[0].Core!.IsQuorate(cluster.Nodes[0].LocalAt(cluster.Now)), Is.False, "1 and 2 hold 2 of 5 old votes without 3");
        }
        else
        {
            Assert.That(cluster.Violation?.Invariant, Is.EqualTo(SplitBrainChecker.Name), $"the {mutant} mutant is caught by the checker");
        }
    }
}
