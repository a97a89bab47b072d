using Cohort.Membership;
using Cohort.Quorum;

namespace Acme.Quorum.Rule;

/// <summary>Applies the configured <see cref="QuorumRule"/>.</summary>
public sealed class RulePolicy : IQuorumPolicy
{
    /// <inheritdoc />
    public QuorumDecision Decide(QuorumContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (rule, _) = QuorumRule.Parse(context.Cluster[QuorumRule.Section + ":Expression"] ?? "");
        var votes = context.ViewVotes;
        if (rule is null)
        {
            return QuorumDecision.NotQuorate(votes, context.ConfiguredVotes, "no valid rule");
        }

        var missing = rule.Required.Where(id => !context.View.Contains(new NodeId(id))).ToList();
        var reason = $"{votes} votes of {rule.MinVotes} needed" +
            (missing.Count > 0 ? $"; required node(s) {string.Join(", ", missing)} absent" : "") +
            $" (rule parsed by System.CommandLine {QuorumRule.ParserVersion})";
        return votes >= rule.MinVotes && missing.Count == 0
            ? QuorumDecision.Quorate(votes, context.ConfiguredVotes, reason)
            : QuorumDecision.NotQuorate(votes, context.ConfiguredVotes, reason);
    }
}
