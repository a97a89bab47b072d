namespace Cohort.Quorum.StaticQuorum;

/// <summary>
/// Quorate when the view holds at least <see cref="StaticOptions.MinimumMembers"/> voting members
/// (default: a strict majority of the voting nodes), whatever their votes; like Akka's static quorum.
/// A minimum of half the voting nodes or fewer declares dual quorum when allowed, and is never quorate
/// when not (the validator refuses it; this keeps an unvalidated document safe).
/// </summary>
public sealed class StaticPolicy : IQuorumPolicy
{
    /// <summary>The policy's name in configuration.</summary>
    public const string Name = "static";

    /// <inheritdoc />
    public QuorumDecision Decide(QuorumContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var options = StaticOptions.From(context.Cluster);
        var voting = StaticOptions.VotingNodes(context.Nodes);
        var minimum = options.MinimumFor(voting);
        var members = context.Nodes.Count(n => n.Votes > 0 && context.View.Contains(n.Id));
        var dual = 2 * minimum <= voting;
        var reason = $"{members} of {voting} voting members; {minimum} needed";
        if (dual && !options.AllowDualQuorum)
        {
            return new QuorumDecision(QuorumVerdict.NotQuorate, members, voting, $"{reason}, which is half or fewer: set AllowDualQuorum to accept that both sides of a split may be quorate") { Needed = minimum };
        }

        var verdict = members >= minimum && members > 0 ? QuorumVerdict.Quorate : QuorumVerdict.NotQuorate;
        return new QuorumDecision(verdict, members, voting, dual ? reason + " (dual quorum: fencing picks the survivor)" : reason)
        {
            DualQuorum = dual,
            Needed = minimum,
            Flags = options.AllowDualQuorum ? ["AllowDualQuorum"] : [],
        };
    }
}
