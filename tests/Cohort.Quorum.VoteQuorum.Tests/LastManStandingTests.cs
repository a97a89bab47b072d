using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum.Tests;

/// <summary>votequorum's last_man_standing, step by step: the window, the cascade, the tie breaker's last step, a restart.</summary>
public sealed class LastManStandingTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    private static QuorumDecision Decide(int nodes, long seq, int[] members, TimeSpan now, ReadOnlyMemory<byte> state, long incarnation = 1, bool tieBreaker = false)
    {
        var all = Enumerable.Range(1, nodes).Select(i => new ClusterNode(new NodeId(i), $"n{i}", 1)).ToList();
        var view = new View(new ViewId(seq, new NodeId(members[0])), members.Select(m => new NodeIncarnation(new NodeId(m), 1)));
        var options = new Dictionary<string, string?> { [VoteQuorumOptions.Section + ":LastManStanding"] = "true" };
        if (tieBreaker)
        {
            options[VoteQuorumOptions.Section + ":AutoTieBreaker"] = "true";
        }

        var cluster = new ConfigurationBuilder().AddInMemoryCollection(options).Build();
        return new VoteQuorumPolicy().Decide(new QuorumContext(new NodeId(members[0]), view, all, cluster, now, state, incarnation));
    }

    /// <summary>Decides as the host does: again at once when the decision asks to be re-evaluated now.</summary>
    private static QuorumDecision Settle(int nodes, long seq, int[] members, TimeSpan now, ref ReadOnlyMemory<byte> state, bool tieBreaker = false)
    {
        var decision = Decide(nodes, seq, members, now, state, tieBreaker: tieBreaker);
        state = decision.State;
        if (decision.ReevaluateAt == now)
        {
            decision = Decide(nodes, seq, members, now, state, tieBreaker: tieBreaker);
            state = decision.State;
        }

        return decision;
    }

    [Test]
    public void A_quorate_view_that_stood_through_the_window_becomes_the_expected_votes()
    {
        ReadOnlyMemory<byte> state = default;
        var fresh = Settle(5, 2, [1, 2, 3], TimeSpan.Zero, ref state);
        var early = Settle(5, 2, [1, 2, 3], Window - TimeSpan.FromTicks(1), ref state);
        var lowered = Settle(5, 2, [1, 2, 3], Window, ref state);

        Assert.Multiple(() =>
        {
            Assert.That((fresh.Verdict, fresh.ExpectedVotes, fresh.ReevaluateAt, fresh.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, 5, (TimeSpan?)Window, false)));
            Assert.That(early.ExpectedVotes, Is.EqualTo(5));
            Assert.That((lowered.Verdict, lowered.ExpectedVotes, lowered.Needed, lowered.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, 3, 2, true)));
            Assert.That(lowered.Reason, Is.EqualTo("3 of 3 expected votes; 2 needed (last_man_standing lowered the expected votes to 3: both sides of a split may be quorate)"));
            Assert.That(lowered.Flags, Does.Contain("LastManStanding (lowered)"));
            Assert.That(lowered.ReevaluateAt, Is.Null, "nothing more to lower");
        });
    }

    [Test]
    public void The_cluster_cascades_down_to_two_and_with_the_tie_breaker_to_one()
    {
        foreach (var tieBreaker in new[] { false, true })
        {
            ReadOnlyMemory<byte> state = default;
            var t = TimeSpan.Zero;
            Settle(4, 2, [1, 2, 3, 4], t, ref state, tieBreaker);
            Settle(4, 3, [1, 2, 3], t += TimeSpan.FromSeconds(1), ref state, tieBreaker);
            var three = Settle(4, 3, [1, 2, 3], t += Window, ref state, tieBreaker);
            var two = Settle(4, 4, [1, 2], t += TimeSpan.FromSeconds(1), ref state, tieBreaker);
            var twoLowered = Settle(4, 4, [1, 2], t += Window, ref state, tieBreaker);
            var one = Settle(4, 5, [1], t += TimeSpan.FromSeconds(1), ref state, tieBreaker);
            var oneLater = Settle(4, 5, [1], t += Window, ref state, tieBreaker);

            Assert.Multiple(() =>
            {
                Assert.That(three.ExpectedVotes, Is.EqualTo(3));
                Assert.That((two.Verdict, two.ExpectedVotes), Is.EqualTo((QuorumVerdict.Quorate, 3)), "2 of the lowered 3");
                Assert.That(twoLowered.ExpectedVotes, Is.EqualTo(2));
                Assert.That(one.Verdict, Is.EqualTo(tieBreaker ? QuorumVerdict.Quorate : QuorumVerdict.NotQuorate), "1 of 2: only the tie breaker's half");
                Assert.That(oneLater.ExpectedVotes, Is.EqualTo(tieBreaker ? 1 : 2), "down to one only with the tie breaker");
            });
        }
    }

    [Test]
    public void Returning_nodes_raise_it_again_and_a_restart_forgets_it()
    {
        ReadOnlyMemory<byte> state = default;
        Settle(5, 2, [1, 2, 3], TimeSpan.Zero, ref state);
        Settle(5, 2, [1, 2, 3], Window, ref state);
        var back = Settle(5, 3, [1, 2, 3, 4, 5], Window + TimeSpan.FromSeconds(1), ref state);
        var split = Settle(5, 4, [1, 2], Window + TimeSpan.FromSeconds(2), ref state);

        ReadOnlyMemory<byte> other = default;
        Settle(5, 2, [1, 2, 3], TimeSpan.Zero, ref other);
        Settle(5, 2, [1, 2, 3], Window, ref other);
        var restarted = Decide(5, 2, [1, 2, 3], TimeSpan.Zero, other, incarnation: 2);

        Assert.Multiple(() =>
        {
            Assert.That((back.ExpectedVotes, back.DualQuorum), Is.EqualTo((5, false)));
            Assert.That((split.Verdict, split.ExpectedVotes), Is.EqualTo((QuorumVerdict.NotQuorate, 5)), "2 of 5 once all came back");
            Assert.That((restarted.ExpectedVotes, restarted.DualQuorum), Is.EqualTo((5, false)), "a new incarnation starts from the document");
        });
    }

    [Test]
    public void Nothing_is_lowered_while_the_view_is_not_quorate()
    {
        ReadOnlyMemory<byte> state = default;
        Settle(5, 2, [1, 2], TimeSpan.Zero, ref state);
        var later = Settle(5, 2, [1, 2], Window * 3, ref state);

        Assert.That((later.Verdict, later.ExpectedVotes, later.ReevaluateAt), Is.EqualTo((QuorumVerdict.NotQuorate, 5, (TimeSpan?)null)));
    }
}
