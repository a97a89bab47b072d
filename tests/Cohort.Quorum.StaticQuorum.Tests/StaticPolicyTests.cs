using Cohort.Membership;
using Cohort.Quorum.Conformance;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.StaticQuorum.Tests;

public sealed class StaticPolicyTests
{
    private static ClusterNode[] Nodes(params int[] votes) =>
        [.. votes.Select((v, i) => new ClusterNode(new NodeId(i + 1), $"n{i + 1}", v))];

    private static IConfigurationRoot Options(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(StaticOptions.Section + ":" + v.Key, v.Value))).Build();

    private static QuorumDecision Decide(ClusterNode[] nodes, int[] members, IConfiguration? options = null)
    {
        var view = new View(new ViewId(1, new NodeId(members[0])), members.Select(m => new NodeIncarnation(new NodeId(m), 1)));
        return new StaticPolicy().Decide(new QuorumContext(new NodeId(members[0]), view, nodes, options ?? Options(), TimeSpan.Zero, default));
    }

    [Test]
    public void The_defaults_are_the_documented_ones()
    {
        var options = StaticOptions.From(Options());

        Assert.Multiple(() =>
        {
            Assert.That(options.MinimumMembers, Is.Null);
            Assert.That(options.AllowDualQuorum, Is.False);
            Assert.That(options.MinimumFor(5), Is.EqualTo(3), "a strict majority of the voting nodes");
            Assert.That(options.MinimumFor(4), Is.EqualTo(3));
            Assert.That(options.MinimumFor(1), Is.EqualTo(1));
        });
    }

    [TestCase(new[] { 1, 1, 1 }, new[] { 1, 2 }, true, "2 of 3 voting members; 2 needed")]
    [TestCase(new[] { 1, 1, 1 }, new[] { 3 }, false, "1 of 3 voting members; 2 needed")]
    [TestCase(new[] { 5, 1, 1 }, new[] { 1 }, false, "1 of 3 voting members; 2 needed")]
    [TestCase(new[] { 1, 1, 0 }, new[] { 1, 3 }, false, "1 of 2 voting members; 2 needed")]
    public void Members_are_counted_not_votes_and_a_node_without_votes_never_counts(int[] votes, int[] members, bool quorate, string reason)
    {
        var decision = Decide(Nodes(votes), members);

        Assert.That((decision.Verdict, decision.Reason, decision.DualQuorum), Is.EqualTo((quorate ? QuorumVerdict.Quorate : QuorumVerdict.NotQuorate, reason, false)));
    }

    [Test]
    public void A_minimum_of_half_or_fewer_is_never_quorate_unless_dual_quorum_is_allowed()
    {
        var refused = Decide(Nodes(1, 1, 1, 1), [1, 2], Options(("MinimumMembers", "2")));
        var allowed = Decide(Nodes(1, 1, 1, 1), [1, 2], Options(("MinimumMembers", "2"), ("AllowDualQuorum", "true")));

        Assert.That(refused.Verdict, Is.EqualTo(QuorumVerdict.NotQuorate));
        Assert.That(refused.Reason, Is.EqualTo("2 of 4 voting members; 2 needed, which is half or fewer: set AllowDualQuorum to accept that both sides of a split may be quorate"));
        Assert.That((allowed.Verdict, allowed.DualQuorum), Is.EqualTo((QuorumVerdict.Quorate, true)));
    }

    [Test]
    public void The_validator_refuses_half_or_fewer_of_the_voting_nodes_unless_allowed_and_names_every_problem()
    {
        var validator = new StaticOptions.Validator();
        var section = Options(("MinimumMembers", "2"), ("Colour", "blue")).GetSection(StaticOptions.Section);
        var allowed = Options(("MinimumMembers", "2"), ("AllowDualQuorum", "true")).GetSection(StaticOptions.Section);
        var malformed = Options(("MinimumMembers", "0"), ("AllowDualQuorum", "sometimes")).GetSection(StaticOptions.Section);

        Assert.That(validator.Validate(section, Nodes(1, 1, 1, 1, 0)).Select(p => (p.Key, p.Expected, p.Actual)), Is.EquivalentTo(new[]
        {
            ("Cluster:Quorum:Static:Colour", "one of MinimumMembers, AllowDualQuorum", (string?)"blue"),
            ("Cluster:Quorum:Static:MinimumMembers", "more than half of the 4 voting nodes (at least 3), or AllowDualQuorum: true to accept that both sides of a split may be quorate", "2"),
        }));
        Assert.That(validator.Validate(section, Nodes(1, 1, 1)).Select(p => p.Key), Is.EqualTo(new[] { "Cluster:Quorum:Static:Colour" }), "2 of 3 is a majority");
        Assert.That(validator.Validate(allowed, Nodes(1, 1, 1, 1)), Is.Empty);
        Assert.That(validator.Validate(malformed, Nodes(1, 1, 1)).Select(p => p.Expected), Is.EquivalentTo(new[] { "a whole number of at least 1", "true or false" }));
    }
}

[TestFixture]
public sealed class StaticConformanceTests : QuorumPolicyConformance
{
    protected override IQuorumPolicy CreatePolicy() => new StaticPolicy();

    protected override IReadOnlyDictionary<string, string> DocumentedDefaults =>
        new Dictionary<string, string> { [StaticOptions.Section + ":AllowDualQuorum"] = "false" };

    protected override IEnumerable<IReadOnlyDictionary<string, string>> OptionSets =>
    [
        new Dictionary<string, string>(),
        new Dictionary<string, string> { [StaticOptions.Section + ":MinimumMembers"] = "3" },
        new Dictionary<string, string> { [StaticOptions.Section + ":MinimumMembers"] = "2" },
        new Dictionary<string, string> { [StaticOptions.Section + ":MinimumMembers"] = "1", [StaticOptions.Section + ":AllowDualQuorum"] = "true" },
    ];
}
