using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum.Tests;

public sealed class VoteQuorumOptionsValidatorTests
{
    private static List<Plugins.ConfigProblem> Validate(Dictionary<string, string?> values) =>
        [.. new VoteQuorumOptionsValidator().Validate(new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection(VoteQuorumOptions.Section))];

    [Test]
    public void An_absent_section_is_valid_and_defaults_apply()
    {
        Assert.That(Validate([]), Is.Empty);
        var defaults = VoteQuorumOptions.From(new ConfigurationBuilder().Build());
        Assert.Multiple(() =>
        {
            Assert.That(defaults.ExpectedVotes, Is.Null, "default: the sum of the configured votes");
            Assert.That(defaults.TwoNode, Is.False);
            Assert.That(defaults.WaitForAll, Is.Null, "default: as TwoNode");
            Assert.That(defaults.WaitForAllActive(2), Is.False);
            Assert.That(defaults.ExpectedVotesTracking, Is.False);
            var twoNode = defaults with { TwoNode = true };
            Assert.That((twoNode.WaitForAllActive(2), twoNode.WaitForAllActive(3)), Is.EqualTo((true, false)), "two_node implies wait_for_all, in a two-node document only");
        });
    }

    [Test]
    public void Flags_must_be_true_or_false()
    {
        var problems = Validate(new() { ["Cluster:Quorum:VoteQuorum:TwoNode"] = "yes", ["Cluster:Quorum:VoteQuorum:WaitForAll"] = "1", ["Cluster:Quorum:VoteQuorum:ExpectedVotesTracking"] = "true" });

        Assert.That(problems.Select(p => (p.Key, p.Expected)), Is.EquivalentTo(new[]
        {
            ("Cluster:Quorum:VoteQuorum:TwoNode", "true or false"),
            ("Cluster:Quorum:VoteQuorum:WaitForAll", "true or false"),
        }));
    }

    [TestCase("0")]
    [TestCase("-1")]
    [TestCase("three")]
    public void Expected_votes_must_be_a_positive_integer(string value)
    {
        var problem = Validate(new() { ["Cluster:Quorum:VoteQuorum:ExpectedVotes"] = value }).Single();

        Assert.That(problem.Key, Is.EqualTo("Cluster:Quorum:VoteQuorum:ExpectedVotes"));
        Assert.That(problem.Expected, Is.EqualTo("an integer of at least 1"));
        Assert.That(problem.Actual, Is.EqualTo(value));
    }

    [Test]
    public void Last_man_standing_refuses_two_node_expected_votes_tracking_and_a_bad_window()
    {
        const string S = VoteQuorumOptions.Section + ":";
        var withTwoNode = Validate(new() { [S + "LastManStanding"] = "true", [S + "TwoNode"] = "true" });
        var withTracking = Validate(new() { [S + "LastManStanding"] = "true", [S + "ExpectedVotesTracking"] = "true" });
        var badWindow = Validate(new() { [S + "LastManStanding"] = "true", [S + "LastManStandingWindow"] = "soon" });
        var fine = Validate(new() { [S + "LastManStanding"] = "true", [S + "AutoTieBreaker"] = "true", [S + "LastManStandingWindow"] = "20000" });

        Assert.Multiple(() =>
        {
            Assert.That(withTwoNode.Select(p => p.Expected), Is.EqualTo(new[] { "false when TwoNode is true: a two-node cluster has no votes to lower (use AutoTieBreaker for the last step)" }));
            Assert.That(withTracking.Select(p => p.Expected), Is.EqualTo(new[] { "false when ExpectedVotesTracking is true: tracking never lets the expected votes go down; choose one" }));
            Assert.That(badWindow.Select(p => (p.Key, p.Expected, p.Actual)), Is.EqualTo(new[] { (S + "LastManStandingWindow", "a whole number of milliseconds, at least 1", (string?)"soon") }));
            Assert.That(fine, Is.Empty);
        });
    }

    [Test]
    public void Unknown_keys_are_named()
    {
        var problem = Validate(new() { ["Cluster:Quorum:VoteQuorum:ExpectedVote"] = "3" }).Single();

        Assert.That(problem.Key, Is.EqualTo("Cluster:Quorum:VoteQuorum:ExpectedVote"));
        Assert.That(problem.Expected, Is.EqualTo("one of ExpectedVotes, TwoNode, WaitForAll, ExpectedVotesTracking, AutoTieBreaker, AutoTieBreakerNode, LastManStanding, LastManStandingWindow"));
    }
}
