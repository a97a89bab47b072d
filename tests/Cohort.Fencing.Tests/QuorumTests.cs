using Cohort.Cores;
using Cohort.Membership;
using static Cohort.Fencing.Tests.FencingCluster;

namespace Cohort.Fencing.Tests;

/// <summary>Only a quorate partition fences; partitions heal.</summary>
public class QuorumTests
{
    [Test]
    public void A_minority_that_sees_the_others_depart_makes_no_victims_and_runs_no_device()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Partition([1, 2], [3]);
        cluster.NotQuorate(3);
        cluster.Install([3], on: [3]);
        cluster.Deliver();
        cluster.Now += TimeSpan.FromMinutes(10);
        cluster.Step(3, new TimerFired("retry"));
        var answer = cluster.Request(3, new FenceNodeRequest(1, new NodeId(1), null));
        Assert.Multiple(() =>
        {
            Assert.That(cluster[3].Published<VictimAdded>(), Is.Empty);
            Assert.That(cluster[3].Runs, Is.Empty);
            Assert.That(cluster[3].Core.Status.Pending, Is.Empty);
            Assert.That(cluster[3].Core.IsOpen(Inc(1, 1)), Is.False);
            Assert.That(cluster[3].Core.IsOpen(Inc(2, 1)), Is.False);
            Assert.That(cluster[3].Published<FenceNodeAnswered>().Single().Error, Is.Not.Null, "an operator cannot make a minority fence either");
            Assert.That(answer.OfType<PersistRecord>(), Is.Empty);
        });
    }

    [Test]
    public void Departed_members_that_come_back_before_anyone_was_quorate_are_dropped_as_candidates()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.NotQuorate(1, 2, 3);
        cluster.Partition([1], [2, 3]);
        cluster.Partition([2], [3]);
        cluster.Install([1], on: [1]);
        cluster.Install([2], on: [2]);
        cluster.Install([3], on: [3]);
        cluster.Heal();
        cluster.Install([1, 2, 3]);
        cluster.Quorate(1, 2, 3);
        cluster.Deliver();
        foreach (var node in cluster.Nodes)
        {
            var state = FencingWire.DecodeState(node.Record!);
            Assert.Multiple(() =>
            {
                Assert.That(node.Published<VictimAdded>(), Is.Empty, $"{node}");
                Assert.That(node.Runs, Is.Empty, $"{node}");
                Assert.That(node.Core.Status.Pending, Is.Empty, $"{node}");
                Assert.That(state.Candidates, Is.Empty, $"{node}: no candidate is left over to fence later");
            });
        }

        // Nor does a later quorate view turn the forgotten candidates into victims.
        cluster.Install([1, 2, 3]);
        cluster.Quorate(1, 2, 3);
        Assert.That(cluster.Nodes.SelectMany(n => n.Published<VictimAdded>()), Is.Empty);
    }

    [Test]
    public void A_candidate_back_in_a_newer_incarnation_before_anyone_was_quorate_is_dropped()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.NotQuorate(1, 2);
        cluster.Crash(3);
        cluster.Install([1, 2], quorate: false);
        Assert.That(FencingWire.DecodeState(cluster[1].Record!).Candidates.Single(), Is.EqualTo(new WireVictim(3, 1, (int)FenceReason.Departed, 0)));
        cluster.Restart(3, 2);
        cluster.Install([1, 2, 3]);
        cluster.Quorate(1, 2, 3);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster.Nodes.SelectMany(n => n.Published<VictimAdded>()), Is.Empty);
            Assert.That(cluster.Nodes.SelectMany(n => n.Runs), Is.Empty);
            Assert.That(FencingWire.DecodeState(cluster[1].Record!).Candidates, Is.Empty);
        });
    }

    [Test]
    public void A_candidate_becomes_a_victim_once_the_node_is_quorate_again()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.NotQuorate(1, 2);
        cluster.Crash(3);
        cluster.Install([1, 2], quorate: false);
        cluster.Deliver();
        Assert.That(cluster[1].Published<VictimAdded>(), Is.Empty);
        cluster.Quorate(1, 2);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Published<VictimAdded>().Single().Victim, Is.EqualTo(Inc(3, 1)));
            Assert.That(cluster[1].Running.Single().Victim, Is.EqualTo(Inc(3, 1)));
            Assert.That(cluster[2].Runs, Is.Empty);
        });
    }

    [Test]
    public void Losing_quorum_cancels_running_operations_and_starts_no_new_ones()
    {
        var cluster = Formed(4, Topologies.IpmiThenPdus(4));
        cluster.Crash(4);
        cluster.Install([1, 2, 3]);
        cluster.Deliver();
        var run = cluster[1].Running.Single();
        cluster.NotQuorate(1, 2, 3);
        Assert.That(cluster[1].Published<CancelFenceDevice>(), Is.EqualTo(new[] { new CancelFenceDevice(run.Operation) }));

        // The cut-short operation is answered, and recorded, but nothing follows it.
        cluster.Complete(1, run, FenceResult.Unknown, "cancelled");
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.Status.History.Single().Result, Is.EqualTo(FenceResult.Unknown));
            Assert.That(cluster[1].Runs.Count(), Is.EqualTo(1), "no level 2 without quorum");
            Assert.That(cluster[1].Timers, Does.Not.ContainKey("retry"));
            Assert.That(cluster[1].Core.Status.Pending.Single().State, Is.EqualTo("waiting"));
        });

        // Another member departs meanwhile: without quorum it is not (yet) a victim, and nobody runs anything.
        cluster.Crash(3);
        cluster.Install([1, 2]);
        cluster.Deliver();
        cluster.Now += TimeSpan.FromMinutes(1);
        cluster.Step(1, new TimerFired("retry"));
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Runs.Count(), Is.EqualTo(1));
            Assert.That(cluster[2].Runs, Is.Empty);
            Assert.That(cluster[1].Core.Status.Pending.Select(p => p.Victim), Is.EqualTo(new[] { Inc(4, 1) }));
        });

        // Quorate again: a fresh pass for 4#1, and 3#1 becomes a victim.
        cluster.Quorate(1, 2);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Running.Select(r => (r.Victim, r.Level, r.Attempt)), Is.EqualTo(new[] { (Inc(3, 1), 1, 1), (Inc(4, 1), 1, 2) }));
            Assert.That(cluster[2].Runs, Is.Empty);
        });
    }

    [Test]
    public void A_cut_short_operation_that_still_succeeds_fences()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Crash(3);
        cluster.Install([1, 2]);
        cluster.NotQuorate(1);
        cluster.CompleteOnly(1, FenceResult.Success, "off before the cancel arrived");
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.True, "whatever a cancelled operation answers is recorded");
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.True);
        });
    }

    [Test]
    public void An_incarnation_the_quorate_side_made_a_victim_that_rejoins_after_a_healed_partition_is_fenced_not_welcomed()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Partition([1, 2], [3]);
        cluster.NotQuorate(3);
        cluster.Install([3], on: [3]);
        cluster.Install([1, 2]);
        cluster.Deliver();
        var run = cluster[1].Running.Single();
        Assert.That(run.Victim, Is.EqualTo(Inc(3, 1)));

        cluster.Heal();
        cluster.Install([1, 2, 3]);
        cluster.Quorate(3);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            foreach (var node in cluster.Nodes)
            {
                Assert.That(node.Core.Status.Pending.Select(p => p.Victim), Is.EqualTo(new[] { Inc(3, 1) }), $"{node}");
                Assert.That(node.Core.IsOpen(Inc(3, 1)), Is.False, $"{node}");
            }

            Assert.That(cluster[3].Published<SelfIsVictim>(), Has.Exactly(1).Items);
            Assert.That(cluster[3].Published<VictimAdded>(), Is.EqualTo(new[] { new VictimAdded(Inc(3, 1), FenceReason.Departed) }));
            Assert.That(cluster[3].Runs, Is.Empty, "the minority fenced nobody, before or after");
            Assert.That(cluster[1].Published<CancelFenceDevice>(), Is.Empty, "node 1 is still the fencer");
            Assert.That(cluster[1].Running, Is.EqualTo(new[] { run }), "the operation goes on");
        });

        cluster.Complete(1, run, FenceResult.Failed);
        cluster.FireRetry(1);
        Assert.That(cluster[1].Running.Single().Victim, Is.EqualTo(Inc(3, 1)), "retried although 3#1 is back in the view");
        cluster.CompleteOnly(1, FenceResult.Success);
        cluster.Deliver();
        Assert.That(cluster.Nodes.Select(n => n.Core.IsOpen(Inc(3, 1))), Is.All.True);
    }

    /// <summary>
    /// Regression (a bug this test found in the core, now fixed). Membership publishes <c>ViewInstalled</c> and then, in the same step, <c>QuorumChanged(false)</c>
    /// for the new view (installing a view resets the lease). The fencing core keeps the quorate flag of the previous
    /// view across <see cref="FencingViewInstalled"/> and drives at once: a node that was quorate in {1,2,3} and
    /// installs the minority view {3} makes 1#1 and 2#1 victims and publishes <see cref="RunFenceDevice"/> for both
    /// before it hears that it is not quorate — the minority fences the majority.
    /// </summary>
    [Test]

    public void A_node_quorate_in_the_old_view_fences_nobody_in_a_new_view_until_it_is_quorate_in_it()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Partition([1, 2], [3]);
        cluster.Install([3], on: [3]);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[3].Published<VictimAdded>(), Is.Empty, "not known to be quorate in view {3}");
            Assert.That(cluster[3].Runs, Is.Empty, "not known to be quorate in view {3}");
        });

        // What membership says right after: not quorate in the new view.
        cluster.NotQuorate(3);
        Assert.That(cluster[3].Runs, Is.Empty);
    }

    /// <summary>Part of the same bug: <see cref="FencingQuorum.View"/> is ignored, so a verdict about an older
    /// view makes the node quorate in its current one.</summary>
    [Test]

    public void A_quorum_verdict_about_another_view_does_not_make_the_node_quorate()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        var old = cluster[3].View!.Id;
        cluster.NotQuorate(3);
        cluster.Install([3], on: [3]);
        cluster.Request(3, new FencingQuorum(true, old));
        Assert.That(cluster[3].Runs, Is.Empty);
    }
}
