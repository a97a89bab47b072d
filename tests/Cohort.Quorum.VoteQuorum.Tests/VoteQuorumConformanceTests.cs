using Cohort.Quorum.Conformance;

namespace Cohort.Quorum.VoteQuorum.Tests;

/// <summary>votequorum meets the quorum-policy contract, with its options at their defaults and set.</summary>
[TestFixture]
public sealed class VoteQuorumConformanceTests : QuorumPolicyConformance
{
    protected override IQuorumPolicy CreatePolicy() => new VoteQuorumPolicy();

    // ExpectedVotes defaults to the sum of the nodes' votes and WaitForAll to TwoNode: no key spells those out.
    protected override IReadOnlyDictionary<string, string> DocumentedDefaults => new Dictionary<string, string>
    {
        ["Cluster:Quorum:VoteQuorum:TwoNode"] = "false",
        ["Cluster:Quorum:VoteQuorum:ExpectedVotesTracking"] = "false",
        ["Cluster:Quorum:VoteQuorum:AutoTieBreaker"] = "false",
        ["Cluster:Quorum:VoteQuorum:AutoTieBreakerNode"] = "lowest",
        ["Cluster:Quorum:VoteQuorum:LastManStanding"] = "false",
        ["Cluster:Quorum:VoteQuorum:LastManStandingWindow"] = "10000",
    };

    protected override IEnumerable<IReadOnlyDictionary<string, string>> OptionSets =>
        new[]
        {
            new Dictionary<string, string>(),
            new Dictionary<string, string> { ["ExpectedVotes"] = "9" },
            new Dictionary<string, string> { ["ExpectedVotes"] = "2" },
            new Dictionary<string, string> { ["TwoNode"] = "true" },
            new Dictionary<string, string> { ["TwoNode"] = "true", ["WaitForAll"] = "false" },
            new Dictionary<string, string> { ["WaitForAll"] = "true" },
            new Dictionary<string, string> { ["ExpectedVotesTracking"] = "true" },
            new Dictionary<string, string> { ["ExpectedVotesTracking"] = "true", ["ExpectedVotes"] = "2" },
            new Dictionary<string, string> { ["AutoTieBreaker"] = "true" },
            new Dictionary<string, string> { ["AutoTieBreaker"] = "true", ["AutoTieBreakerNode"] = "highest" },
            new Dictionary<string, string> { ["AutoTieBreaker"] = "true", ["AutoTieBreakerNode"] = "9 3 1" },
            new Dictionary<string, string> { ["AutoTieBreaker"] = "true", ["ExpectedVotesTracking"] = "true", ["WaitForAll"] = "true" },
            new Dictionary<string, string> { ["LastManStanding"] = "true" },
            new Dictionary<string, string> { ["LastManStanding"] = "true", ["AutoTieBreaker"] = "true", ["LastManStandingWindow"] = "1" },
        }.Select(set => (IReadOnlyDictionary<string, string>)set.ToDictionary(kv => VoteQuorumOptions.Section + ":" + kv.Key, kv => kv.Value));
}
