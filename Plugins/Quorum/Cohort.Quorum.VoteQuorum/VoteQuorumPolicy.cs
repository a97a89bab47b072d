namespace Cohort.Quorum.VoteQuorum;

/// <summary>
/// Quorate when the view's members hold a strict majority of the expected votes:
/// quorum = ⌊max(expected, view votes) / 2⌋ + 1, as corosync's votequorum computes it. Expected votes
/// configured below the sum of the nodes' votes let both sides of a split reach quorum, so the decision
/// then declares dual quorum (fencing alone separates the sides) and says why.
/// </summary>
public sealed class VoteQuorumPolicy : IQuorumPolicy
{
    /// <summary>The policy's name in configuration.</summary>
    public const string Name = "votequorum";

    /// <inheritdoc />
    public QuorumDecision Decide(QuorumContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var options = VoteQuorumOptions.From(context.Cluster);
        var votes = context.ViewVotes;
        var expected = Math.Max(options.ExpectedVotes ?? context.ConfiguredVotes, votes);
        var quorum = (expected / 2) + 1;
        var dual = options.ExpectedVotes < context.ConfiguredVotes;
        var reason = $"{votes} of {expected} expected votes; {quorum} needed"
            + (dual ? $" (ExpectedVotes {options.ExpectedVotes} is below the nodes' {context.ConfiguredVotes} votes: both sides of a split may be quorate)" : "");
        return new QuorumDecision(votes >= quorum ? QuorumVerdict.Quorate : QuorumVerdict.NotQuorate, votes, expected, reason) { DualQuorum = dual };
    }
}
