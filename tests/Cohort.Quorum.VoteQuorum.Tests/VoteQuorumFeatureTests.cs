using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum.Tests;

/// <summary>The votequorum(5) features, one at a time: two_node, wait_for_all, expected_votes_tracking.</summary>
public sealed class VoteQuorumFeatureTests
{
    private static QuorumDecision Decide(int nodes, int[] members, ReadOnlyMemory<byte> state = default, long incarnation = 1, params (string Key, string Value)[] options) =>
        Decide(nodes, members, device: null, state, incarnation, options);

    private static QuorumDecision Decide(int nodes, int[] members, QuorumDeviceVote? device, ReadOnlyMemory<byte> state = default, long incarnation = 1, params (string Key, string Value)[] options)
    {
        var all = Enumerable.Range(1, nodes).Select(i => new ClusterNode(new NodeId(i), $"n{i}", 1)).ToList();
        var view = new View(new ViewId(1, new NodeId(members[0])), members.Select(m => new NodeIncarnation(new NodeId(m), m == members[0] ? incarnation : 1)));
        var cluster = new ConfigurationBuilder()
            .AddInMemoryCollection(options.Select(o => new KeyValuePair<string, string?>(VoteQuorumOptions.Section + ":" + o.Key, o.Value)))
            .Build();
        return new VoteQuorumPolicy().Decide(new QuorumContext(new NodeId(members[0]), view, all, cluster, TimeSpan.Zero, state, incarnation, device is null ? null : [device]));
    }

    [Test]
    public void A_quorum_device_is_expected_and_its_vote_counts_only_for_the_view_holding_it()
    {
        var held = Decide(2, [1], new QuorumDeviceVote("witness-node", 1, Granted: true, "granted"));
        var notHeld = Decide(2, [1], new QuorumDeviceVote("witness-node", 1, Granted: false, "held by view (4, 2)"));

        Assert.Multiple(() =>
        {
            Assert.That((held.Verdict, held.Votes, held.ExpectedVotes, held.Needed, held.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, 2, 3, 2, false)));
            Assert.That(held.Reason, Is.EqualTo("2 of 3 expected votes (1 from witness-node); 2 needed"));
            Assert.That((notHeld.Verdict, notHeld.Votes, notHeld.ExpectedVotes), Is.EqualTo((QuorumVerdict.NotQuorate, 1, 3)));
            Assert.That(notHeld.Reason, Is.EqualTo("1 of 3 expected votes (witness-node: held by view (4, 2)); 2 needed"));
        });
    }

    [Test]
    public void A_quorum_device_replaces_two_node_mode_and_what_it_implies()
    {
        var alone = Decide(2, [1], new QuorumDeviceVote("witness-node", 1, Granted: false, "witness unreachable"), options: ("TwoNode", "true"));
        var withVote = Decide(2, [1], new QuorumDeviceVote("witness-node", 1, Granted: true, "granted"), options: ("TwoNode", "true"));

        Assert.Multiple(() =>
        {
            Assert.That((alone.Verdict, alone.DualQuorum, alone.Needed), Is.EqualTo((QuorumVerdict.NotQuorate, false, 2)));
            Assert.That(alone.Reason, Does.EndWith("TwoNode is off while a quorum device is configured"));
            Assert.That(alone.Flags, Does.Not.Contain("TwoNode"));
            Assert.That(withVote.Verdict, Is.EqualTo(QuorumVerdict.Quorate), "no wait_for_all implied: the device's vote suffices at start");
        });
    }

    [Test]
    public void Two_node_makes_either_node_alone_quorate_once_both_were_seen_and_declares_dual_quorum()
    {
        var together = Decide(2, [1, 2], options: ("TwoNode", "true"));
        var alone = Decide(2, [1], together.State, options: ("TwoNode", "true"));

        Assert.Multiple(() =>
        {
            Assert.That((together.Verdict, together.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, true)));
            Assert.That((alone.Verdict, alone.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, true)));
            Assert.That(alone.Reason, Is.EqualTo("1 of 2 expected votes; 1 needed (two_node: either node alone is quorate; fencing decides)"));
        });
    }

    [Test]
    public void Two_node_implies_wait_for_all_so_a_node_started_alone_is_not_quorate()
    {
        var alone = Decide(2, [1], options: ("TwoNode", "true"));
        var overridden = Decide(2, [1], options: [("TwoNode", "true"), ("WaitForAll", "false")]);

        Assert.That(alone.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
        Assert.That(alone.Reason, Does.Contain("waiting for all nodes to be seen at once since this node started (wait_for_all)"));
        Assert.That(overridden.Verdict, Is.EqualTo(QuorumVerdict.Quorate), "WaitForAll: false overrides what two_node implies");
    }

    [Test]
    public void Two_node_switches_itself_off_above_two_nodes()
    {
        var decision = Decide(3, [1], options: ("TwoNode", "true"));

        Assert.That((decision.Verdict, decision.DualQuorum), Is.EqualTo((QuorumVerdict.NotQuorate, false)));
        Assert.That(decision.Reason, Is.EqualTo("1 of 3 expected votes; 2 needed"));
    }

    [Test]
    public void Wait_for_all_holds_until_every_node_was_seen_at_once_and_again_after_each_restart()
    {
        var before = Decide(3, [1, 2], options: ("WaitForAll", "true"));
        var together = Decide(3, [1, 2, 3], options: ("WaitForAll", "true"));
        var after = Decide(3, [1, 2], together.State, options: ("WaitForAll", "true"));
        var restarted = Decide(3, [1, 2], together.State, incarnation: 2, options: ("WaitForAll", "true"));

        Assert.Multiple(() =>
        {
            Assert.That(before.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate), "a majority, but not everyone seen yet");
            Assert.That(together.Verdict, Is.EqualTo(QuorumVerdict.Quorate));
            Assert.That(after.Verdict, Is.EqualTo(QuorumVerdict.Quorate), "once seen, a majority will do");
            Assert.That(restarted.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate), "a new incarnation waits again, though it remembers the old one's state");
        });
    }

    [Test]
    public void Expected_votes_tracking_remembers_the_highest_expectation_ever_seen()
    {
        // ExpectedVotes 3 in a 4-node document: a view of all four raises the expectation to 4.
        (string, string) expected3 = ("ExpectedVotes", "3");
        var all = Decide(4, [1, 2, 3, 4], options: [expected3, ("ExpectedVotesTracking", "true")]);
        var tracked = Decide(4, [1, 2], all.State, options: [expected3, ("ExpectedVotesTracking", "true")]);
        var untracked = Decide(4, [1, 2], all.State, options: [expected3]);

        Assert.Multiple(() =>
        {
            Assert.That(tracked.ExpectedVotes, Is.EqualTo(4));
            Assert.That(tracked.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate), "2 of a remembered 4 is no majority");
            Assert.That(tracked.DualQuorum, Is.False, "the remembered expectation is no longer below the nodes' votes");
            Assert.That(untracked.ExpectedVotes, Is.EqualTo(3));
            Assert.That((untracked.Verdict, untracked.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, true)));
        });
    }

    [Test]
    public void Nothing_is_remembered_when_no_feature_needs_it()
    {
        Assert.That(Decide(3, [1, 2, 3]).State.IsEmpty, Is.True);
    }

    [Test]
    public void A_state_that_is_not_ours_counts_as_nothing_remembered()
    {
        var decision = Decide(3, [1, 2], new byte[] { 9, 9, 9 }, options: ("WaitForAll", "true"));

        Assert.That(decision.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
    }
}

/// <summary>auto_tie_breaker: of two exact halves, the one holding the tie-breaker node.</summary>
public sealed class AutoTieBreakerTests
{
    private static QuorumDecision Decide(int[] members, params (string Key, string Value)[] options)
    {
        var all = Enumerable.Range(1, 4).Select(i => new ClusterNode(new NodeId(i), $"n{i}", 1)).ToList();
        var view = new View(new ViewId(1, new NodeId(members[0])), members.Select(m => new NodeIncarnation(new NodeId(m), 1)));
        var cluster = new ConfigurationBuilder()
            .AddInMemoryCollection(options.Select(o => new KeyValuePair<string, string?>(VoteQuorumOptions.Section + ":" + o.Key, o.Value)))
            .Build();
        return new VoteQuorumPolicy().Decide(new QuorumContext(new NodeId(members[0]), view, all, cluster, TimeSpan.Zero, default, 1));
    }

    [TestCase("lowest", new[] { 1, 2 }, new[] { 3, 4 })]
    [TestCase("highest", new[] { 3, 4 }, new[] { 1, 2 })]
    [TestCase("3 1", new[] { 2, 3 }, new[] { 1, 4 })]
    [TestCase("7 4", new[] { 1, 4 }, new[] { 2, 3 })]
    public void In_a_two_two_split_only_the_half_holding_the_tie_breaker_is_quorate(string tieBreaker, int[] winner, int[] loser)
    {
        (string, string)[] options = [("AutoTieBreaker", "true"), ("AutoTieBreakerNode", tieBreaker)];

        var won = Decide(winner, options);
        var lost = Decide(loser, options);

        Assert.Multiple(() =>
        {
            Assert.That((won.Verdict, won.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, false)));
            Assert.That(won.Reason, Does.StartWith("2 of 4 expected votes; 3 needed; an exact half holding tie-breaker node"));
            Assert.That(lost.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
            Assert.That(lost.Reason, Does.Contain("an exact half without tie-breaker node"));
        });
    }

    [Test]
    public void Without_it_neither_half_is_quorate_and_it_never_rescues_less_than_half()
    {
        Assert.That(Decide([1, 2]).Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
        Assert.That(Decide([1], ("AutoTieBreaker", "true")).Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
    }

    [Test]
    public void The_validator_names_bad_tie_breakers_and_refuses_it_with_two_node()
    {
        var nodes = Enumerable.Range(1, 4).Select(i => new ClusterNode(new NodeId(i), $"n{i}", 1)).ToList();
        IConfigurationSection Section(params (string, string)[] values) => new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(VoteQuorumOptions.Section + ":" + v.Item1, v.Item2))).Build()
            .GetSection(VoteQuorumOptions.Section);
        var validator = new VoteQuorumOptionsValidator();

        Assert.That(validator.Validate(Section(("AutoTieBreaker", "true"), ("AutoTieBreakerNode:0", "2"), ("AutoTieBreakerNode:1", "1")), nodes), Is.Empty, "a JSON array of ids");
        Assert.That(validator.Validate(Section(("AutoTieBreakerNode", "oldest")), nodes).Single().Expected, Is.EqualTo("lowest, highest, or a list of node ids of the document (1, 2, 3, 4)"));
        Assert.That(validator.Validate(Section(("AutoTieBreakerNode", "2 9")), nodes).Single().Actual, Is.EqualTo("2 9"));
        Assert.That(validator.Validate(Section(("AutoTieBreaker", "true"), ("TwoNode", "true")), nodes).Single().Key, Is.EqualTo("Cluster:Quorum:VoteQuorum:AutoTieBreaker"));
    }
}
