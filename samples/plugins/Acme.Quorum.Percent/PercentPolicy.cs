using Cohort.Quorum;

namespace Acme.Quorum.Percent;

/// <summary>Quorate when the view's members hold at least <see cref="PercentOptions.Percent"/> percent
/// of the votes of every configured node.</summary>
public sealed class PercentPolicy : IQuorumPolicy
{
    /// <inheritdoc />
    public QuorumDecision Decide(QuorumContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var options = PercentOptions.From(context.Cluster);
        var total = context.ConfiguredVotes;
        var votes = context.ViewVotes;
        var needed = (int)Math.Ceiling(total * options.Percent / 100.0);
        var reason = $"{votes} of {total} votes; {options.Percent}% is {needed}";
        var decision = votes >= needed && votes > 0
            ? QuorumDecision.Quorate(votes, total, reason)
            : QuorumDecision.NotQuorate(votes, total, reason);
        return options.Percent <= 50
            ? new QuorumDecision(decision.Verdict, votes, total, reason + " (dual quorum possible)") { DualQuorum = true }
            : decision;
    }
}
