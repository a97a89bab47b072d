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
        Assert.That(VoteQuorumOptions.From(new ConfigurationBuilder().Build()).ExpectedVotes, Is.Null, "default: the sum of the configured votes");
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
    public void Unknown_keys_are_named()
    {
        var problem = Validate(new() { ["Cluster:Quorum:VoteQuorum:ExpectedVote"] = "3" }).Single();

        Assert.That(problem.Key, Is.EqualTo("Cluster:Quorum:VoteQuorum:ExpectedVote"));
        Assert.That(problem.Expected, Is.EqualTo("one of ExpectedVotes"));
    }
}
