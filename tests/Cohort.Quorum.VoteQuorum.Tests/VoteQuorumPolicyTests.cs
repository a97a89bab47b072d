using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum.Tests;

public sealed class VoteQuorumPolicyTests
{
    private static QuorumDecision Decide(int[] votesById, int[] members, Dictionary<string, string?>? options = null)
    {
        var nodes = votesById.Select((votes, i) => new ClusterNode(new NodeId(i + 1), $"n{i + 1}", votes)).ToList();
        var view = new View(new ViewId(1, new NodeId(members[0])), members.Select(m => new NodeIncarnation(new NodeId(m), 1)));
        var cluster = new ConfigurationBuilder().AddInMemoryCollection(options ?? []).Build();
        return new VoteQuorumPolicy().Decide(new QuorumContext(new NodeId(members[0]), view, nodes, cluster, TimeSpan.Zero, default));
    }

    [TestCase(new[] { 1, 1, 1 }, new[] { 1, 2 }, true, 2, 3)]
    [TestCase(new[] { 1, 1, 1 }, new[] { 3 }, false, 1, 3)]
    [TestCase(new[] { 1, 1, 1, 1 }, new[] { 1, 2 }, false, 2, 4)]
    [TestCase(new[] { 1, 1, 1, 1 }, new[] { 1, 2, 3 }, true, 3, 4)]
    [TestCase(new[] { 1 }, new[] { 1 }, true, 1, 1)]
    [TestCase(new[] { 3, 1, 1 }, new[] { 1 }, true, 3, 5)]
    [TestCase(new[] { 3, 1, 1 }, new[] { 2, 3 }, false, 2, 5)]
    [TestCase(new[] { 0, 1, 1 }, new[] { 1, 2 }, false, 1, 2)]
    public void A_strict_majority_of_the_votes_is_quorate(int[] votes, int[] members, bool quorate, int counted, int expected)
    {
        var decision = Decide(votes, members);

        Assert.Multiple(() =>
        {
            Assert.That(decision.Verdict, Is.EqualTo(quorate ? QuorumVerdict.Quorate : QuorumVerdict.NotQuorate));
            Assert.That(decision.Votes, Is.EqualTo(counted));
            Assert.That(decision.ExpectedVotes, Is.EqualTo(expected));
            Assert.That(decision.DualQuorum, Is.False);
            Assert.That(decision.ReevaluateAt, Is.Null);
        });
    }

    [Test]
    public void Configured_expected_votes_override_the_sum()
    {
        var options = new Dictionary<string, string?> { ["Cluster:Quorum:VoteQuorum:ExpectedVotes"] = "5" };

        Assert.That(Decide([1, 1, 1], [1, 2, 3], options).Verdict, Is.EqualTo(QuorumVerdict.Quorate));
        Assert.That(Decide([1, 1, 1], [1, 2], options).Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
        Assert.That(Decide([1, 1, 1], [1, 2], options).Reason, Is.EqualTo("2 of 5 expected votes; 3 needed"));
    }

    [Test]
    public void Members_holding_more_votes_than_expected_raise_the_expectation()
    {
        var options = new Dictionary<string, string?> { ["Cluster:Quorum:VoteQuorum:ExpectedVotes"] = "1" };

        var decision = Decide([1, 1, 1], [1, 2], options);

        Assert.That(decision.ExpectedVotes, Is.EqualTo(2));
        Assert.That(decision.Verdict, Is.EqualTo(QuorumVerdict.Quorate));
    }

    [Test]
    public void No_split_of_up_to_seven_nodes_leaves_both_sides_quorate()
    {
        for (var n = 1; n <= 7; n++)
        {
            var votes = Enumerable.Repeat(1, n).ToArray();
            for (var mask = 1; mask < (1 << n) - 1; mask++)
            {
                var left = Enumerable.Range(1, n).Where(i => (mask & (1 << (i - 1))) != 0).ToArray();
                var right = Enumerable.Range(1, n).Except(left).ToArray();
                var both = Decide(votes, left).Verdict == QuorumVerdict.Quorate && Decide(votes, right).Verdict == QuorumVerdict.Quorate;
                Assert.That(both, Is.False, $"{n} nodes split {string.Join(",", left)} | {string.Join(",", right)}");
            }
        }
    }
}
