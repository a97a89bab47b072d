namespace Cohort.Quorum.VoteQuorum;

/// <summary>
/// Quorate when the view's members hold a strict majority of the expected votes:
/// quorum = ⌊max(expected, view votes) / 2⌋ + 1, as corosync's votequorum computes it.
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
        var reason = $"{votes} of {expected} expected votes; {quorum} needed";
        return votes >= quorum
            ? QuorumDecision.Quorate(votes, expected, reason)
            : QuorumDecision.NotQuorate(votes, expected, reason);
    }
}
