using Cohort.Quorum.Conformance;

namespace Cohort.Quorum.VoteQuorum.Tests;

/// <summary>votequorum meets the quorum-policy contract, with its options at their defaults and set.</summary>
[TestFixture]
public sealed class VoteQuorumConformanceTests : QuorumPolicyConformance
{
    protected override IQuorumPolicy CreatePolicy() => new VoteQuorumPolicy();

    // ExpectedVotes defaults to the sum of the nodes' votes, which no key can spell out.
    protected override IReadOnlyDictionary<string, string> DocumentedDefaults => new Dictionary<string, string>();

    protected override IEnumerable<IReadOnlyDictionary<string, string>> OptionSets =>
    [
        new Dictionary<string, string>(),
        new Dictionary<string, string> { ["Cluster:Quorum:VoteQuorum:ExpectedVotes"] = "9" },
        new Dictionary<string, string> { ["Cluster:Quorum:VoteQuorum:ExpectedVotes"] = "2" },
    ];
}
