using Cohort.Membership;
using Cohort.Quorum;

namespace Acme.Quorum.Rule;

/// <summary>Applies the configured <see cref="QuorumRule"/>. A rule that requires no node and is
/// satisfied by half the votes or fewer cannot keep both sides of a split from being quorate, so such
/// a decision declares dual quorum.</summary>
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
        var dual = rule.Required.Count == 0 && 2 * rule.MinVotes <= context.ConfiguredVotes;
        var reason = $"{votes} votes of {rule.MinVotes} needed" +
            (missing.Count > 0 ? $"; required node(s) {string.Join(", ", missing)} absent" : "") +
            (dual ? "; the rule does not separate the sides of a split (dual quorum)" : "") +
            $" (rule parsed by System.CommandLine {QuorumRule.ParserVersion})";
        var verdict = votes >= rule.MinVotes && missing.Count == 0 ? QuorumVerdict.Quorate : QuorumVerdict.NotQuorate;
        return new QuorumDecision(verdict, votes, context.ConfiguredVotes, reason) { DualQuorum = dual };
    }
}
