using Cohort.Membership;

namespace Cohort.Quorum.WitnessNode.Tests;

/// <summary>The witness's decision, rule by rule (ffsplit and the exclusive lease).</summary>
public sealed class WitnessArbiterTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxLease = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Started = TimeSpan.FromSeconds(10); // past the quiet period
    private static readonly ViewId Both = new(2, new NodeId(1));
    private static readonly ViewId One = new(3, new NodeId(1));
    private static readonly ViewId Two = new(3, new NodeId(2));

    private static WitnessRequest Ask(int node, ViewId view, int[] members, long incarnation = 1, int tieBreaker = 1, TimeSpan? lease = null) =>
        new("c", new NodeIncarnation(new NodeId(node), incarnation), view, members, tieBreaker, lease ?? Lease, 0.01, 42);

    private static WitnessArbiter Arbiter() => new(MaxLease, TimeSpan.Zero);

    private static TimeSpan At(double seconds) => TimeSpan.FromSeconds(seconds);

    [Test]
    public void A_view_gets_the_vote_and_every_member_renews_it()
    {
        var arbiter = Arbiter();
        var first = arbiter.Ask(Ask(1, Both, [1, 2]), Started);
        var second = arbiter.Ask(Ask(2, Both, [1, 2]), Started + At(0.1));

        Assert.That((first.Granted, first.Reason, first.Stamp), Is.EqualTo((true, "granted", 42L)));
        Assert.That((second.Granted, second.Reason), Is.EqualTo((true, "renewed")));
        Assert.That(arbiter.Holder(Started + At(0.2)), Is.EqualTo(Both));
    }

    [Test]
    public void Another_view_waits_until_every_hold_of_the_old_one_ran_out_with_drift()
    {
        var arbiter = Arbiter();
        arbiter.Ask(Ask(1, Both, [1, 2]), Started);
        arbiter.Ask(Ask(2, Both, [1, 2]), Started);

        // node2 died holding view Both; node1 moved on to a view of its own.
        var early = arbiter.Ask(Ask(1, One, [1]), Started + At(0.504));
        var late = arbiter.Ask(Ask(1, One, [1]), Started + At(0.506));

        Assert.That((early.Granted, early.Holder), Is.EqualTo((false, (ViewId?)Both)), "node2's hold lasts 500 ms × 1.01");
        Assert.That(early.Reason, Does.StartWith($"the vote is view {Both}'s for up to"));
        Assert.That(early.RetryAfter, Is.EqualTo(TimeSpan.FromMilliseconds(1)).Within(TimeSpan.FromTicks(10)), "ask again when node2's hold ends");
        Assert.That(late.Granted, Is.True);
    }

    [Test]
    public void When_every_holder_moves_to_the_new_view_the_vote_moves_at_once()
    {
        var arbiter = Arbiter();
        ViewId three = new(4, new NodeId(1));
        arbiter.Ask(Ask(1, Both, [1, 2]), Started);
        arbiter.Ask(Ask(2, Both, [1, 2]), Started);

        var blocked = arbiter.Ask(Ask(1, three, [1, 2, 3]), Started + At(0.01));
        arbiter.Ask(Ask(2, three, [1, 2, 3]), Started + At(0.02));
        var moved = arbiter.Ask(Ask(1, three, [1, 2, 3]), Started + At(0.03));

        Assert.That(blocked.Granted, Is.False, "node2 still held the old view");
        Assert.That(moved.Granted, Is.True, "both gave the old view up by asking for the new one");
    }

    [Test]
    public void A_free_vote_goes_to_the_partition_more_nodes_ask_for()
    {
        var arbiter = Arbiter();
        ViewId all = new(2, new NodeId(1)), big = new(3, new NodeId(2));
        foreach (var node in new[] { 1, 2, 3 })
        {
            arbiter.Ask(Ask(node, all, [1, 2, 3]), Started);
        }

        // Split {1} | {2, 3}: node2 and node3 ask first, while node1 still holds the old view.
        var t = Started + At(0.1);
        var two = arbiter.Ask(Ask(2, big, [2, 3]), t);
        var three = arbiter.Ask(Ask(3, big, [2, 3]), t);
        var one = arbiter.Ask(Ask(1, One, [1]), t);
        var again = arbiter.Ask(Ask(2, big, [2, 3]), t + At(0.1));

        Assert.That((two.Granted, three.Granted), Is.EqualTo((false, false)), "node1 still held the old view");
        Assert.That((one.Granted, one.Holder), Is.EqualTo((false, (ViewId?)big)));
        Assert.That(one.Reason, Is.EqualTo($"view {big} is preferred: 2 nodes ask for it, 1 for view {One}"));
        Assert.That(again.Granted, Is.True);
    }

    [Test]
    public void Of_equal_partitions_the_one_holding_more_of_the_last_holder_wins_over_the_tie_breaker()
    {
        var arbiter = Arbiter();
        ViewId three = new(2, new NodeId(1)), low = new(3, new NodeId(1)), high = new(3, new NodeId(3));
        foreach (var node in new[] { 1, 2, 3 })
        {
            arbiter.Ask(Ask(node, three, [1, 2, 3], tieBreaker: 4), Started);
        }

        // node4 joins {3, 4} as the old view splits {1, 2} | {3, 4}; node4 is the tie breaker.
        var t = Started + At(0.1);
        arbiter.Ask(Ask(3, high, [3, 4], tieBreaker: 4), t);
        arbiter.Ask(Ask(4, high, [3, 4], tieBreaker: 4), t);
        arbiter.Ask(Ask(1, low, [1, 2], tieBreaker: 4), t);
        var two = arbiter.Ask(Ask(2, low, [1, 2], tieBreaker: 4), t);
        var four = arbiter.Ask(Ask(4, high, [3, 4], tieBreaker: 4), t);

        Assert.That(two.Granted, Is.True, "{1, 2} holds two members of the last holder, {3, 4} one");
        Assert.That(four.Granted, Is.False);
    }

    [Test]
    public void Of_equal_partitions_equally_near_the_last_holder_the_one_holding_the_tie_breaker_wins()
    {
        foreach (var (tieBreaker, winner) in new[] { (1, One), (2, Two) })
        {
            var arbiter = Arbiter();
            arbiter.Ask(Ask(1, Both, [1, 2], tieBreaker: tieBreaker), Started);
            arbiter.Ask(Ask(2, Both, [1, 2], tieBreaker: tieBreaker), Started);

            var t = Started + At(0.1);
            arbiter.Ask(Ask(2, Two, [2], tieBreaker: tieBreaker), t);
            var one = arbiter.Ask(Ask(1, One, [1], tieBreaker: tieBreaker), t);
            var two = arbiter.Ask(Ask(2, Two, [2], tieBreaker: tieBreaker), t);

            Assert.That(new[] { one, two }.Where(a => a.Granted).Select(a => a == one ? One : Two), Is.EqualTo(new[] { winner }), $"tie breaker node {tieBreaker}");
        }
    }

    [Test]
    public void A_witness_grants_nothing_for_the_longest_lease_after_it_starts()
    {
        var arbiter = new WitnessArbiter(MaxLease, startedAt: At(100));
        var quiet = arbiter.Ask(Ask(1, Both, [1, 2]), At(100.5));
        var after = arbiter.Ask(Ask(1, Both, [1, 2]), At(101.011));

        Assert.That(quiet.Granted, Is.False);
        Assert.That(quiet.Reason, Does.StartWith("the witness started 500 ms ago and grants nothing for 1010 ms"));
        Assert.That(after.Granted, Is.True);
    }

    [Test]
    public void Leases_longer_than_the_maximum_old_incarnations_and_older_views_are_refused()
    {
        var arbiter = Arbiter();
        arbiter.Ask(Ask(1, One, [1], incarnation: 2), Started);

        var tooLong = arbiter.Ask(Ask(1, One, [1], incarnation: 2, lease: TimeSpan.FromSeconds(2)), Started);
        var stale = arbiter.Ask(Ask(1, One, [1], incarnation: 1), Started);
        var older = arbiter.Ask(Ask(1, Both, [1, 2], incarnation: 2), Started);

        Assert.That(tooLong.Reason, Is.EqualTo("a lease of 2000 ms is longer than this witness grants (1000 ms, --max-lease)"));
        Assert.That(stale.Reason, Is.EqualTo("incarnation 1 of node 1 was replaced by 2"));
        Assert.That(older.Reason, Is.EqualTo($"view {Both} is older than {One}, which node 1 asked for before"));
        Assert.That(new[] { tooLong, stale, older }.Any(a => a.Granted), Is.False);
    }
}
