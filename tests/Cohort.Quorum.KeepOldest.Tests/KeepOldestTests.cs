using Cohort.Membership;
using Cohort.Quorum.Conformance;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.KeepOldest.Tests;

/// <summary>keep-oldest meets the quorum-policy contract.</summary>
[TestFixture]
public sealed class KeepOldestConformanceTests : QuorumPolicyConformance
{
    protected override IQuorumPolicy CreatePolicy() => new KeepOldestPolicy();

    protected override IReadOnlyDictionary<string, string> DocumentedDefaults => new Dictionary<string, string>
    {
        [KeepOldestOptions.Section + ":DownIfAlone"] = "true",
    };

    protected override IEnumerable<IReadOnlyDictionary<string, string>> OptionSets =>
    [
        new Dictionary<string, string>(),
        new Dictionary<string, string> { [KeepOldestOptions.Section + ":DownIfAlone"] = "false" },
    ];
}

/// <summary>keep-oldest rule by rule: the oldest side, down-if-alone, ages across restarts.</summary>
public sealed class KeepOldestPolicyTests
{
    private static QuorumDecision Decide(int nodes, long seq, (int Node, long Incarnation)[] members, ReadOnlyMemory<byte> state = default, bool downIfAlone = true)
    {
        var all = Enumerable.Range(1, nodes).Select(i => new ClusterNode(new NodeId(i), $"n{i}", 1)).ToList();
        var view = new View(new ViewId(seq, new NodeId(members[0].Node)), members.Select(m => new NodeIncarnation(new NodeId(m.Node), m.Incarnation)));
        var cluster = new ConfigurationBuilder()
            .AddInMemoryCollection([new(KeepOldestOptions.Section + ":DownIfAlone", downIfAlone ? "true" : "false")])
            .Build();
        return new KeepOldestPolicy().Decide(new QuorumContext(view.Members[0].Node, view, all, cluster, TimeSpan.Zero, state, view.Members[0].Incarnation));
    }

    private static (int, long)[] First(params int[] nodes) => [.. nodes.Select(n => (n, 1L))];

    [Test]
    public void In_an_even_split_the_half_with_the_oldest_acts_and_says_fencing_decides()
    {
        var whole = Decide(4, 1, First(1, 2, 3, 4));
        var oldestHalf = Decide(4, 2, First(1, 2), whole.State);
        var otherHalf = Decide(4, 2, First(3, 4), whole.State);

        Assert.Multiple(() =>
        {
            Assert.That((whole.Verdict, whole.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, false)), "a majority");
            Assert.That((oldestHalf.Verdict, oldestHalf.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, true)));
            Assert.That(oldestHalf.Reason, Is.EqualTo("2 of 4 votes; holds the oldest member, node 1 (a minority acting on age: both sides of a split may be quorate; fencing decides)"));
            Assert.That(otherHalf.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
            Assert.That(otherHalf.Reason, Is.EqualTo("2 of 4 votes; without the oldest member, node 1"));
        });
    }

    [Test]
    public void An_oldest_member_cut_off_alone_gives_way_unless_down_if_alone_is_off()
    {
        var whole = Decide(2, 1, First(1, 2));
        var oldest = Decide(2, 2, First(1), whole.State);
        var rest = Decide(2, 2, First(2), whole.State);
        var stubborn = Decide(2, 2, First(1), whole.State, downIfAlone: false);
        var restWithout = Decide(2, 2, First(2), whole.State, downIfAlone: false);

        Assert.Multiple(() =>
        {
            Assert.That(oldest.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
            Assert.That(oldest.Reason, Is.EqualTo("1 of 2 votes; the oldest member, node 1, is cut off alone and gives way (DownIfAlone)"));
            Assert.That((rest.Verdict, rest.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, true)));
            Assert.That(stubborn.Verdict, Is.EqualTo(QuorumVerdict.Quorate));
            Assert.That(restWithout.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
        });
    }

    [Test]
    public void A_restarted_node_is_young_again_so_the_next_oldest_keeps_its_side()
    {
        var first = Decide(4, 1, First(1, 2, 3, 4));
        var rejoined = Decide(4, 5, [(1, 2), (2, 1), (3, 1), (4, 1)], first.State);
        var withNode2 = Decide(4, 6, [(2, 1), (4, 1)], rejoined.State);
        var withNode1 = Decide(4, 6, [(1, 2), (3, 1)], rejoined.State);

        Assert.Multiple(() =>
        {
            Assert.That(withNode2.Verdict, Is.EqualTo(QuorumVerdict.Quorate));
            Assert.That(withNode2.Reason, Does.Contain("holds the oldest member, node 2"));
            Assert.That(withNode1.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate), "node 1's new incarnation joined in view 5");
        });
    }

    [Test]
    public void A_majority_is_quorate_without_the_oldest_and_without_dual_quorum()
    {
        var whole = Decide(5, 1, First(1, 2, 3, 4, 5));
        var majority = Decide(5, 2, First(3, 4, 5), whole.State);

        Assert.That((majority.Verdict, majority.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, false)));
        Assert.That(majority.Reason, Is.EqualTo("3 of 5 votes; without the oldest member, node 1; a strict majority of the votes all the same"));
    }

    [Test]
    public void Bad_options_are_named()
    {
        var section = new ConfigurationBuilder()
            .AddInMemoryCollection([new(KeepOldestOptions.Section + ":DownIfAlone", "sometimes"), new(KeepOldestOptions.Section + ":Role", "x")])
            .Build().GetSection(KeepOldestOptions.Section);

        var problems = new KeepOldestOptions.Validator().Validate(section).Select(p => (p.Key, p.Expected, p.Actual));

        Assert.That(problems, Is.EquivalentTo(new[]
        {
            (KeepOldestOptions.Section + ":Role", "DownIfAlone", (string?)"x"),
            (KeepOldestOptions.Section + ":DownIfAlone", "true or false", "sometimes"),
        }));
    }
}
