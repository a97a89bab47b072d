namespace Cohort.Quorum.Conformance;

/// <summary>
/// The kit run on a policy given as a function, for the kit's own mutant tests. It lives here, not
/// in a test assembly, so NUnit does not take it for a fixture of its own.
/// </summary>
internal sealed class DelegatingKit(Func<QuorumContext, QuorumDecision> decide) : QuorumPolicyConformance
{
    protected override IReadOnlyDictionary<string, string> DocumentedDefaults => new Dictionary<string, string>();

    protected override IQuorumPolicy CreatePolicy() => new Policy(decide);

    private sealed class Policy(Func<QuorumContext, QuorumDecision> decide) : IQuorumPolicy
    {
        public QuorumDecision Decide(QuorumContext context) => decide(context);
    }
}
