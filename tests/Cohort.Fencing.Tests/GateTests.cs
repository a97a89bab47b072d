using Cohort.Membership;
using static Cohort.Fencing.Tests.FencingCluster;

namespace Cohort.Fencing.Tests;

/// <summary>The fencing gate: what <see cref="FencingCore.IsOpen"/> lets through.</summary>
public class GateTests
{
    [Test]
    public void A_fence_opens_the_gate_of_that_incarnation_and_older_ones_of_the_node_not_of_a_newer_one()
    {
        var cluster = new FencingCluster(Topologies.Ipmi(3));
        cluster.Start(Inc(1, 1));
        cluster.Start(Inc(2, 1));
        cluster.Start(Inc(3, 5));
        cluster.Install([1, 2, 3]);
        cluster.Quorate(1, 2, 3);
        cluster.Crash(3);
        cluster.Install([1, 2]);
        cluster.Deliver();
        Assert.That(cluster[1].Running.Single().Victim, Is.EqualTo(Inc(3, 5)));
        cluster.CompleteOnly(1, FenceResult.Success);
        cluster.Deliver();
        foreach (var node in new[] { cluster[1], cluster[2] })
        {
            Assert.Multiple(() =>
            {
                Assert.That(node.Core.IsOpen(Inc(3, 5)), Is.True, $"{node}: the fenced incarnation");
                Assert.That(node.Core.IsOpen(Inc(3, 4)), Is.True, $"{node}: an older incarnation");
                Assert.That(node.Core.IsOpen(Inc(3, 1)), Is.True, $"{node}: an older incarnation");
                Assert.That(node.Core.IsOpen(Inc(3, 6)), Is.False, $"{node}: a newer incarnation is alive for all we know");
                Assert.That(node.Core.IsOpen(Inc(2, 1)), Is.False, $"{node}: another node");
                Assert.That(node.Core.Status.Fenced, Is.EqualTo(new Dictionary<NodeId, long> { [new NodeId(3)] = 5 }));
            });
        }
    }

    [Test]
    public void The_gate_of_a_member_nobody_fenced_is_closed()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        Assert.Multiple(() =>
        {
            foreach (var node in cluster.Nodes)
            {
                for (var other = 1; other <= 3; other++)
                {
                    Assert.That(node.Core.IsOpen(Inc(other, 1)), Is.False, $"{node} about {other}#1");
                }
            }
        });
    }

    [Test]
    public void A_clean_leaver_opens_its_gate_without_being_fenced()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Install([1, 2], clean: [Inc(3, 1)]);
        cluster.Deliver();
        foreach (var node in new[] { cluster[1], cluster[2] })
        {
            Assert.Multiple(() =>
            {
                Assert.That(node.Core.IsOpen(Inc(3, 1)), Is.True, $"{node}");
                Assert.That(node.Core.IsOpen(Inc(3, 2)), Is.False, $"{node}: only the incarnation that left");
                Assert.That(node.Published<FenceGateOpenedEvent>(), Is.EqualTo(new[] { new FenceGateOpenedEvent(Inc(3, 1), true, null) }));
                Assert.That(node.Published<VictimAdded>(), Is.Empty);
                Assert.That(node.Runs, Is.Empty);
                Assert.That(node.Core.Status.Pending, Is.Empty);
                Assert.That(node.Core.Status.Fenced, Is.Empty, "not fenced: it left");
            });
        }
    }

    [Test]
    public void A_clean_leaver_is_known_to_a_node_that_joins_later()
    {
        var cluster = Formed(3, Topologies.Ipmi(4));
        cluster.Install([1, 2], clean: [Inc(3, 1)]);
        cluster.Deliver();
        cluster.Start(Inc(4, 1));
        cluster.Install([1, 2, 4]);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[4].Core.IsOpen(Inc(3, 1)), Is.True);
            Assert.That(cluster[4].Published<FenceGateOpenedEvent>(), Is.EqualTo(new[] { new FenceGateOpenedEvent(Inc(3, 1), true, null) }));
        });
    }

    /// <summary>A victim that came back (a healed partition) and then drains was excluded once already: it is
    /// still fenced; leaving cleanly exempts only an incarnation nobody has excluded.</summary>
    [Test]
    public void A_victim_that_then_leaves_cleanly_is_still_fenced()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Partition([1, 2], [3]);
        cluster.NotQuorate(3);
        cluster.Install([1, 2]);
        cluster.Install([3]);
        cluster.Deliver();
        var run = cluster[1].Running.Single();
        cluster.Complete(1, run, FenceResult.Timeout);
        cluster.Heal();
        cluster.Install([1, 2, 3]);
        cluster.Deliver();
        cluster.Install([1, 2], clean: [Inc(3, 1)]);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.False);
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.False);
            Assert.That(cluster[1].Core.Status.Pending.Single().Victim, Is.EqualTo(Inc(3, 1)));
            Assert.That(cluster[1].Published<FenceGateOpenedEvent>(), Is.Empty);
        });
    }

    /// <summary>
    /// Regression (a bug this test found in the core, now fixed): the clean leavers a node remembers are capped at <see cref="FencingCore.HistoryLength"/> by
    /// dropping the smallest (node, incarnation), not the oldest. Once 256 incarnations of node 2 left cleanly, node
    /// 1's clean leave is dropped the moment it is added: <see cref="FenceGateOpenedEvent"/> says its gate opened,
    /// and <see cref="FencingCore.IsOpen"/> says it is closed — and nobody will ever fence it, so whatever it held
    /// is never recovered.
    /// </summary>
    [Test]

    public void A_clean_leaver_stays_open_however_many_clean_leaves_came_before()
    {
        var cluster = new FencingCluster(Topologies.Ipmi(3));
        cluster.Start(Inc(1, 1));
        cluster.Start(Inc(3, 1));
        for (var incarnation = 1; incarnation <= FencingCore.HistoryLength; incarnation++)
        {
            cluster.Start(Inc(2, incarnation));
            cluster.Install([1, 2, 3], on: [3]);
            cluster.Install([3], on: [3], clean: [Inc(2, incarnation)]);
        }

        cluster.Install([1, 3], on: [3]);
        cluster.Install([3], on: [3], clean: [Inc(1, 1)]);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[3].Published<FenceGateOpenedEvent>().Last(), Is.EqualTo(new FenceGateOpenedEvent(Inc(1, 1), true, null)));
            Assert.That(cluster[3].Core.IsOpen(Inc(1, 1)), Is.True, "the gate the core just reported open");
        });
    }
}
