using Cohort.Cores;
using Cohort.Membership;
using static Cohort.Fencing.Tests.FencingCluster;

namespace Cohort.Fencing.Tests;

/// <summary>Fence races: the static, random and priority delays before a pass, and what keeps the loser of a
/// two-node race from fencing the survivor later.</summary>
public class RaceTests
{
    private static readonly TimeSpan Five = TimeSpan.FromSeconds(5);

    /// <summary>Two nodes, one IPMI device each (<c>ipmi-1</c>, <c>ipmi-2</c>), with <paramref name="delays"/>.</summary>
    private static FencingTopology TwoNode(IReadOnlyDictionary<string, FenceDelay>? delays = null, TimeSpan? priorityDelay = null, IReadOnlyDictionary<NodeId, int>? priorities = null) =>
        Topologies.Ipmi(2) with
        {
            Delays = delays ?? new Dictionary<string, FenceDelay>(),
            PriorityDelay = priorityDelay ?? TimeSpan.Zero,
            Priorities = priorities ?? new Dictionary<NodeId, int>(),
            ClusterSize = 2,
        };

    /// <summary>Fencing node 2 waits 5 s (DelayBase 5 s for node 2 on its device): the sample's choice.</summary>
    private static FencingTopology Node2Protected() => TwoNode(new Dictionary<string, FenceDelay>
    {
        ["ipmi-1"] = new(TimeSpan.Zero, new Dictionary<NodeId, TimeSpan>(), TimeSpan.Zero),
        ["ipmi-2"] = new(TimeSpan.Zero, new Dictionary<NodeId, TimeSpan> { [new NodeId(2)] = Five }, TimeSpan.Zero),
    });

    /// <summary>A formed two-node cluster split in two; each half installs a view of itself, quorate (two_node).</summary>
    private static FencingCluster Split(FencingTopology topology, FencingMutant mutant = FencingMutant.None)
    {
        var cluster = FencingCluster.Formed(2, topology, mutant);
        cluster.Install([1, 2], quorate: true);
        cluster.Deliver();
        cluster.Partition([1], [2]);
        cluster.Install([1], quorate: true);
        cluster.Install([2], quorate: true);
        cluster.Deliver();
        return cluster;
    }

    [Test]
    public void In_a_split_the_side_fencing_the_protected_node_waits_its_delay_and_the_other_shoots_at_once()
    {
        var cluster = Split(Node2Protected());
        Assert.Multiple(() =>
        {
            Assert.That(cluster[2].Runs, Is.EqualTo(new[] { new RunFenceDevice(1, Inc(1, 1), 1, "ipmi-1", FenceAction.Off, 1) }), "no delay for fencing node 1");
            Assert.That(cluster[1].Runs, Is.Empty, "fencing node 2 waits");
            Assert.That(cluster[1].Published<FenceDelayed>(), Is.EqualTo(new[] { new FenceDelayed(Inc(2, 1), "ipmi-2", Five, "DelayBase 5 s") }));
            Assert.That(cluster[1].Timers["retry"], Is.EqualTo(cluster.Now + Five));
            Assert.That(cluster[1].Core.Status.Pending.Single().State, Is.EqualTo("delayed"));
        });

        cluster.Now += TimeSpan.FromSeconds(4.9);
        cluster.Step(1, new TimerFired("retry"));
        Assert.That(cluster[1].Runs, Is.Empty, "not before the delay is over");

        cluster.FireRetry(1);
        Assert.That(cluster[1].Runs, Is.EqualTo(new[] { new RunFenceDevice(1, Inc(2, 1), 1, "ipmi-2", FenceAction.Off, 1) }), "after it");
    }

    [Test]
    public void The_no_delay_mutant_shoots_from_both_sides_at_once()
    {
        var cluster = Split(Node2Protected(), FencingMutant.NoDelay);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Runs.Select(r => r.Victim), Is.EqualTo(new[] { Inc(2, 1) }));
            Assert.That(cluster[2].Runs.Select(r => r.Victim), Is.EqualTo(new[] { Inc(1, 1) }));
        });
    }

    [TestCase(0.0, 0, 4, 0.0)]
    [TestCase(0.5, 0, 4, 2.0)]
    [TestCase(0.5, 1, 3, 2.0)]
    [TestCase(0.25, 2, 2, 2.0)]
    public void A_random_delay_lies_between_the_static_delay_and_delay_max(double draw, double baseSeconds, double maxSeconds, double expected)
    {
        var topology = TwoNode(new Dictionary<string, FenceDelay>
        {
            ["ipmi-2"] = new(TimeSpan.FromSeconds(baseSeconds), new Dictionary<NodeId, TimeSpan>(), TimeSpan.FromSeconds(maxSeconds)),
        });
        var cluster = new FencingCluster(topology) { Random = () => draw };
        cluster.Start(Inc(1, 1));
        cluster.Start(Inc(2, 1));
        cluster.Install([1, 2], quorate: true);
        cluster.Deliver();
        cluster.Partition([1], [2]);
        cluster.Install([1], quorate: true);
        var delayed = cluster[1].Published<FenceDelayed>().ToList();
        if (expected == 0)
        {
            Assert.That(delayed, Is.Empty);
            Assert.That(cluster[1].Runs.Count(), Is.EqualTo(1), "no delay at all: it runs at once");
        }
        else
        {
            Assert.That(delayed.Single().Delay, Is.EqualTo(TimeSpan.FromSeconds(expected)));
            Assert.That(cluster[1].Runs, Is.Empty);
        }
    }

    [Test]
    public void Without_a_majority_the_more_important_node_is_shot_later_and_a_majority_never_waits_for_priority()
    {
        var priorities = new Dictionary<NodeId, int> { [new NodeId(2)] = 10 };
        var cluster = Split(TwoNode(priorityDelay: TimeSpan.FromSeconds(7), priorities: priorities));
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Published<FenceDelayed>().Single(), Is.EqualTo(new FenceDelayed(Inc(2, 1), "ipmi-2", TimeSpan.FromSeconds(7), "PriorityDelay 7 s (priority 10)")));
            Assert.That(cluster[2].Published<FenceDelayed>(), Is.Empty, "node 1 has the lower priority");
            Assert.That(cluster[2].Runs.Count(), Is.EqualTo(1));
        });

        var three = FencingCluster.Formed(3, Topologies.Ipmi(3) with { PriorityDelay = TimeSpan.FromSeconds(7), Priorities = new Dictionary<NodeId, int> { [new NodeId(3)] = 10 }, ClusterSize = 3 });
        three.Crash(3);
        three.Install([1, 2]);
        Assert.That(three[1].Runs.Select(r => r.Victim), Is.EqualTo(new[] { Inc(3, 1) }), "a majority shoots at once: the minority cannot shoot back");
    }

    [Test]
    public void An_operator_request_waits_the_static_delay_but_not_the_priority_delay()
    {
        var topology = Node2Protected() with { PriorityDelay = TimeSpan.FromSeconds(7), Priorities = new Dictionary<NodeId, int> { [new NodeId(2)] = 10 } };
        var cluster = FencingCluster.Formed(2, topology);
        cluster.Install([1, 2], quorate: true);
        cluster.Deliver();
        cluster.Request(1, new FenceNodeRequest(1, new NodeId(2), null));
        Assert.That(cluster[1].Published<FenceDelayed>().Single().Delay, Is.EqualTo(Five));
    }

    [Test]
    public void Losing_quorum_during_the_delay_cancels_it_and_a_view_change_draws_it_afresh()
    {
        var cluster = Split(Node2Protected());
        cluster.Now += TimeSpan.FromSeconds(3);
        cluster.NotQuorate(1);
        Assert.That(cluster[1].Core.Status.Pending.Single().State, Is.EqualTo("waiting"));
        cluster.Now += TimeSpan.FromSeconds(3);
        cluster.Quorate(1);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Runs, Is.Empty, "the delay starts again: the 3 s waited before do not count");
            Assert.That(cluster[1].Published<FenceDelayed>().Count(), Is.EqualTo(2));
            Assert.That(cluster[1].Timers["retry"], Is.EqualTo(cluster.Now + Five));
        });

        cluster.Now += TimeSpan.FromSeconds(1);
        cluster.Install([1], quorate: true);
        Assert.That(cluster[1].Timers["retry"], Is.EqualTo(cluster.Now + Five), "a new view, a new delay");
    }

    [Test]
    public void The_loser_of_a_race_restarted_fences_nobody_when_the_split_heals()
    {
        var cluster = Split(Node2Protected());
        cluster.CompleteOnly(2, FenceResult.Success, "ipmi-1: off"); // node 2 won: node 1 is dead
        cluster.Crash(1);
        Assert.That(cluster[2].Core.IsOpen(Inc(1, 1)), Is.True);

        var loser = cluster.Restart(1, 2); // its record still names node 2 as its victim
        Assert.That(loser.Core.Status.Pending.Select(p => p.Victim), Is.EqualTo(new[] { Inc(2, 1) }));
        cluster.Install([1], quorate: false); // alone again (wait_for_all): not quorate, fences nobody
        Assert.That(loser.Runs, Is.Empty);

        cluster.Heal();
        cluster.Install([1, 2], quorate: true);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(loser.Runs, Is.Empty, "the survivor is not fenced: the only node that named it is gone");
            Assert.That(loser.Published<VictimOverruled>().Select(o => (o.Victim, string.Join(",", o.Namers))), Is.EqualTo(new[] { (Inc(2, 1), "1#1") }));
            Assert.That(loser.Core.Status.Pending, Is.Empty);
            Assert.That(cluster[2].Core.Status.Pending, Is.Empty);
            Assert.That(cluster[2].Published<SelfIsVictim>(), Is.Empty, "the sync that still named it was overruled on arrival");
            Assert.That(loser.Core.IsOpen(Inc(1, 1)), Is.True, "the loser learned it was fenced");
        });
    }

    [Test]
    public void A_victim_some_live_namer_still_holds_is_fenced_even_when_it_is_back_in_the_view()
    {
        var cluster = FencingCluster.Formed(3, Topologies.Ipmi(3));
        cluster.Partition([1, 2], [3]);
        cluster.Install([1, 2]);
        cluster.Install([3]);
        cluster.Deliver();
        cluster.Restart(1, 2); // one namer is gone, node 2 is not
        cluster.Heal();
        cluster.Install([1, 2, 3]);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.Status.Pending.Select(p => p.Victim), Is.EqualTo(new[] { Inc(3, 1) }));
            Assert.That(cluster[1].Running.Select(r => r.Victim), Is.EqualTo(new[] { Inc(3, 1) }), "node 2 named it and lives: it is fenced");
            Assert.That(cluster[1].Published<VictimOverruled>(), Is.Empty);
        });
    }

    [Test]
    public void A_split_that_heals_before_either_fence_is_done_goes_on_racing_and_the_protected_node_wins()
    {
        var cluster = Split(TwoNode(new Dictionary<string, FenceDelay>
        {
            ["ipmi-1"] = new(TimeSpan.FromSeconds(1), new Dictionary<NodeId, TimeSpan>(), TimeSpan.Zero),
            ["ipmi-2"] = new(TimeSpan.FromSeconds(5), new Dictionary<NodeId, TimeSpan>(), TimeSpan.Zero),
        }));
        cluster.Heal();
        cluster.Install([1, 2], quorate: true);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.Status.Pending.Select(p => (p.Victim, p.Fencer)), Is.EqualTo(new[] { (Inc(1, 1), (NodeId?)new NodeId(2)), (Inc(2, 1), (NodeId?)new NodeId(1)) }), "each fences the other");
            Assert.That(cluster[1].Core.IsOpen(Inc(2, 1)) || cluster[2].Core.IsOpen(Inc(1, 1)), Is.False);
        });

        cluster.Now += TimeSpan.FromSeconds(1);
        cluster.Step(2, new TimerFired("retry"));
        var run = cluster[2].Running.Single();
        Assert.That(run.Victim, Is.EqualTo(Inc(1, 1)), "node 2's shorter delay runs out first");
        cluster.Complete(2, run, FenceResult.Success, "ipmi-1: off");
        cluster.Crash(1);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[2].Core.Status.Pending, Is.Empty, "node 2's own entry lost its only namer");
            Assert.That(cluster[2].Published<VictimOverruled>().Select(o => o.Victim), Is.EqualTo(new[] { Inc(2, 1) }));
            Assert.That(cluster[1].Runs, Is.Empty, "node 1 died waiting");
        });
    }
}
