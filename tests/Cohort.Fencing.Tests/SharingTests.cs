using Cohort.Membership;
using static Cohort.Fencing.Tests.FencingCluster;

namespace Cohort.Fencing.Tests;

/// <summary>Victims and results reach every member; the fencer moves with the view.</summary>
public class SharingTests
{
    [Test]
    public void A_result_reaches_every_member_and_opens_its_gate()
    {
        var cluster = Formed(5, Topologies.Ipmi(5));
        cluster.Crash(5);
        cluster.Install([1, 2, 3, 4]);
        cluster.Deliver();
        cluster.CompleteOnly(1, FenceResult.Success, "chassis power off");
        var record = cluster[1].Core.Status.History.Single();
        Assert.That(cluster[2].Core.IsOpen(Inc(5, 1)), Is.False, "not before the result arrives");
        cluster.Deliver();
        foreach (var id in new[] { 2, 3, 4 })
        {
            var node = cluster[id];
            Assert.Multiple(() =>
            {
                Assert.That(node.Core.IsOpen(Inc(5, 1)), Is.True, $"{node}");
                Assert.That(node.Published<FenceRecorded>(), Is.EqualTo(new[] { new FenceRecorded(record, false) }), $"{node}");
                Assert.That(node.Published<FenceGateOpenedEvent>(), Is.EqualTo(new[] { new FenceGateOpenedEvent(Inc(5, 1), false, "ipmi-5") }), $"{node}");
                Assert.That(node.Core.Status.History, Is.EqualTo(new[] { record }), $"{node}");
                Assert.That(node.Core.Status.Pending, Is.Empty, $"{node}");
                Assert.That(node.Runs, Is.Empty, $"{node}");
            });
        }
    }

    [Test]
    public void Failed_attempts_are_shared_too()
    {
        var cluster = Formed(3, Topologies.IpmiThenPdus(3));
        cluster.Crash(3);
        cluster.Install([1, 2]);
        cluster.CompleteOnly(1, FenceResult.Failed, "ipmi: auth failed");
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[2].Core.Status.History, Is.EqualTo(cluster[1].Core.Status.History));
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.False);
        });
    }

    [Test]
    public void A_node_that_joins_later_learns_victims_and_history_from_the_sync_sent_at_view_install()
    {
        var cluster = Formed(3, Topologies.IpmiThenPdus(5));
        cluster.Crash(3);
        cluster.Install([1, 2]);
        cluster.Deliver();
        cluster.CompleteOnly(1, FenceResult.Failed, "ipmi: no answer");
        cluster.Deliver();

        cluster.Start(Inc(4, 1));
        cluster.Install([1, 2, 4]);
        cluster.Quorate(4);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[4].Core.Status.Pending, Is.EqualTo(new[] { new PendingFence(Inc(3, 1), FenceReason.Departed, new NodeId(1), "elsewhere", 0, 0, null) }));
            Assert.That(cluster[4].Core.Status.History, Is.EqualTo(cluster[1].Core.Status.History));
            Assert.That(cluster[4].Published<VictimAdded>(), Is.EqualTo(new[] { new VictimAdded(Inc(3, 1), FenceReason.Departed) }));
            Assert.That(cluster[4].Core.IsOpen(Inc(3, 1)), Is.False);
            Assert.That(cluster[4].Runs, Is.Empty);
        });

        // Fenced meanwhile: a node that joins after that learns the gate is open.
        cluster.CompleteOnly(1, FenceResult.Success);
        cluster.CompleteOnly(1, FenceResult.Success);
        cluster.Deliver();
        Assert.That(cluster[4].Core.IsOpen(Inc(3, 1)), Is.True);
        cluster.Start(Inc(5, 1));
        cluster.Install([1, 2, 4, 5]);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[5].Core.IsOpen(Inc(3, 1)), Is.True);
            Assert.That(cluster[5].Core.IsOpen(Inc(3, 2)), Is.False);
            Assert.That(cluster[5].Core.Status.Fenced, Is.EqualTo(new Dictionary<NodeId, long> { [new NodeId(3)] = 1 }));
            Assert.That(cluster[5].Core.Status.History, Is.EqualTo(cluster[1].Core.Status.History));
            Assert.That(cluster[5].Core.Status.Pending, Is.Empty);
        });
    }

    [Test]
    public void When_the_fencer_departs_the_next_lowest_member_takes_over()
    {
        var cluster = Formed(5, Topologies.Ipmi(5));
        cluster.Crash(5);
        cluster.Install([1, 2, 3, 4]);
        cluster.Deliver();
        Assert.That(cluster[1].Running.Single().Victim, Is.EqualTo(Inc(5, 1)));
        cluster.Crash(1);
        cluster.Install([2, 3, 4]);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[2].Running.Select(r => (r.Victim, r.Level, r.Attempt)), Is.EqualTo(new[] { (Inc(1, 1), 1, 1), (Inc(5, 1), 1, 1) }));
            Assert.That(cluster[3].Runs, Is.Empty);
            Assert.That(cluster[4].Runs, Is.Empty);
            Assert.That(cluster[3].Core.Status.Pending.Select(p => (p.Victim, p.Fencer)), Is.EqualTo(new[] { (Inc(1, 1), (NodeId?)new NodeId(2)), (Inc(5, 1), new NodeId(2)) }));
        });

        foreach (var run in cluster[2].Running.ToList())
        {
            cluster.Complete(2, run, FenceResult.Success);
        }

        cluster.Deliver();
        Assert.That(new[] { 2, 3, 4 }.Select(id => cluster[id].Core.IsOpen(Inc(5, 1)) && cluster[id].Core.IsOpen(Inc(1, 1))), Is.All.True);
    }

    [Test]
    public void A_victim_member_is_never_a_fencer()
    {
        // An operator names node 1 (the lowest id) a victim: node 2 fences it, and fences the other victims too.
        var cluster = Formed(4, Topologies.Ipmi(4));
        cluster.Request(3, new FenceNodeRequest(1, new NodeId(1), null));
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Runs, Is.Empty);
            Assert.That(cluster[1].Published<SelfIsVictim>(), Has.Exactly(1).Items);
            Assert.That(cluster[2].Running.Single().Victim, Is.EqualTo(Inc(1, 1)));
        });

        cluster.Crash(4);
        cluster.Install([1, 2, 3]);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Runs, Is.Empty, "1#1 is a victim itself");
            Assert.That(cluster[2].Running.Select(r => r.Victim), Is.EqualTo(new[] { Inc(1, 1), Inc(4, 1) }));
        });
    }

    [TestCase(FenceResult.Failed)]
    [TestCase(FenceResult.Success)]
    public void An_operation_of_a_node_that_is_no_longer_the_fencer_is_cancelled(FenceResult answer)
    {
        var cluster = new FencingCluster(Topologies.Ipmi(4));
        foreach (var id in new[] { 2, 3, 4 })
        {
            cluster.Start(Inc(id, 1));
        }

        cluster.Install([2, 3, 4]);
        cluster.Quorate(2, 3, 4);
        cluster.Crash(4);
        cluster.Install([2, 3]);
        cluster.Deliver();
        var run = cluster[2].Running.Single();

        // Node 1 joins: the lowest id, so the fencer of 4#1 from now on.
        cluster.Start(Inc(1, 1));
        cluster.Install([1, 2, 3]);
        cluster.Quorate(1);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[2].Published<CancelFenceDevice>(), Is.EqualTo(new[] { new CancelFenceDevice(run.Operation) }));
            Assert.That(cluster[1].Running.Single(), Has.Property(nameof(RunFenceDevice.Victim)).EqualTo(Inc(4, 1)).And.Property(nameof(RunFenceDevice.Attempt)).EqualTo(1));
            Assert.That(cluster[2].Core.Status.Pending.Single().Fencer, Is.EqualTo(new NodeId(1)));
        });

        // The cut-short operation still answers; its answer is recorded and shared, and node 2 starts nothing more.
        cluster.Complete(2, run, answer);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[2].Runs.Count(), Is.EqualTo(1));
            Assert.That(cluster[2].Timers, Does.Not.ContainKey("retry"));
            Assert.That(cluster[2].Core.Status.History.Single(), Has.Property(nameof(FenceRecord.Requester)).EqualTo(Inc(2, 1)).And.Property(nameof(FenceRecord.Result)).EqualTo(answer));
            Assert.That(cluster[1].Core.Status.History.Single().Requester, Is.EqualTo(Inc(2, 1)));
            Assert.That(cluster[1].Core.IsOpen(Inc(4, 1)), Is.EqualTo(answer == FenceResult.Success));
            Assert.That(cluster[3].Core.IsOpen(Inc(4, 1)), Is.EqualTo(answer == FenceResult.Success));
        });

        if (answer == FenceResult.Success)
        {
            Assert.That(cluster[1].Published<CancelFenceDevice>().Single().Operation, Is.EqualTo(cluster[1].Runs.Single().Operation), "node 1's own operation is moot now");
        }
        else
        {
            cluster.CompleteOnly(1, FenceResult.Success);
            cluster.Deliver();
            Assert.That(new[] { 1, 2, 3 }.Select(id => cluster[id].Core.IsOpen(Inc(4, 1))), Is.All.True);
        }
    }

    /// <summary>
    /// Regression (fencer choice, now fixed). Node 1 crashes and is made a victim; it restarts as 1#2 and joins again.
    /// The lowest-id non-victim member is now 1#2, so node 1's new incarnation is told to run node 1's own fence
    /// device against 1#1: it powers off (or reboots) itself mid-operation, never answers, and the victim waits
    /// for the next view. The fencer should be the lowest-id member on another node (node 2), as the operator path
    /// already holds ("a node does not fence itself").
    /// </summary>
    [Test]

    public void A_restarted_victim_does_not_fence_its_own_old_incarnation()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Crash(1);
        cluster.Install([2, 3]);
        cluster.Deliver();
        Assert.That(cluster[2].Running.Single().Victim, Is.EqualTo(Inc(1, 1)));
        cluster.Restart(1, 2);
        cluster.Install([1, 2, 3]);
        cluster.Quorate(1);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Runs, Is.Empty, "1#2 runs node 1's own fence device");
            Assert.That(cluster[2].Published<CancelFenceDevice>(), Is.Empty, "node 2 should stay the fencer of 1#1");
        });
    }
}
