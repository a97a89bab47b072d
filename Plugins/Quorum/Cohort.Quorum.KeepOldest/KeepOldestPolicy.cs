using Cohort.Membership;

namespace Cohort.Quorum.KeepOldest;

/// <summary>
/// A view holding a strict majority of the votes is quorate; of two sides without one, the side
/// holding the oldest member of the last majority view acts, after Akka's keep-oldest split-brain
/// resolver; with <see cref="KeepOldestOptions.DownIfAlone"/>, an oldest member cut off alone gives way
/// to the rest. A member's age is the sequence number of the first majority view its incarnation was
/// in, as this node remembers it; equal ages go to the lower node id (before any view, every voting
/// node of the document counts, so the lowest voting node id is oldest).
/// </summary>
/// <remarks>
/// Ages are each node's own record, not agreed between nodes: two sides that remember different last
/// majority views can both believe they hold the oldest member. A decision that rests on age alone
/// therefore declares dual quorum, and fencing separates the sides; a view holding a strict majority of
/// the votes is quorate by that alone, without dual quorum.
/// </remarks>
public sealed class KeepOldestPolicy : IQuorumPolicy
{
    /// <summary>The policy's name in configuration.</summary>
    public const string Name = "keep-oldest";

    /// <inheritdoc />
    public QuorumDecision Decide(QuorumContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var options = KeepOldestOptions.From(context.Cluster);
        var votes = context.ViewVotes;
        var configured = context.ConfiguredVotes;
        var voting = context.Nodes.Where(n => n.Votes > 0).Select(n => n.Id).ToHashSet();
        var remembered = KeepOldestState.Decode(context.State.Span).Members.Where(m => voting.Contains(m.Node)).ToList();
        var last = remembered.Count > 0 ? remembered : [.. voting.Order().Select(id => new KeepOldestState.Member(id, 0, 0))];
        var oldest = last.MinBy(m => (m.Since, m.Node.Value));
        if (oldest is null)
        {
            return QuorumDecision.NotQuorate(votes, configured, "no voting node in the document");
        }

        var others = last.Where(m => m != oldest).ToList();
        var withOldest = Holds(context.View, oldest);
        var othersHere = others.Count(m => Holds(context.View, m));
        var majority = 2 * votes > configured;
        bool quorate;
        string why;
        if (withOldest)
        {
            var alone = othersHere == 0 && others.Count > 0;
            quorate = !(alone && options.DownIfAlone);
            why = alone && options.DownIfAlone
                ? $"the oldest member, node {oldest.Node}, is cut off alone and gives way (DownIfAlone)"
                : $"holds the oldest member, node {oldest.Node}";
        }
        else
        {
            var oldestAlone = others.Count > 0 && othersHere == others.Count;
            quorate = oldestAlone && options.DownIfAlone;
            why = quorate
                ? $"the oldest member, node {oldest.Node}, is cut off alone (DownIfAlone): the rest act"
                : $"without the oldest member, node {oldest.Node}";
        }

        var reason = $"{votes} of {configured} votes; {why}";
        if (majority && !quorate)
        {
            reason += "; a strict majority of the votes all the same";
        }

        quorate |= majority;
        var dual = quorate && !majority;
        if (dual)
        {
            reason += " (a minority acting on age: both sides of a split may be quorate; fencing decides)";
        }

        // Only a majority view is remembered: its members all remember it alike, so they agree on the
        // ages it carries on; a minority acting on age would record ages the other side never saw.
        var state = majority ? Remember(context.View, remembered) : new KeepOldestState(remembered);
        return new QuorumDecision(quorate ? QuorumVerdict.Quorate : QuorumVerdict.NotQuorate, votes, configured, reason)
        {
            DualQuorum = dual,
            State = state.Encode(),
            Flags = options.DownIfAlone ? ["DownIfAlone"] : [],
        };
    }

    /// <summary>Whether the view holds this remembered member (any incarnation, when it is not known).</summary>
    private static bool Holds(View view, KeepOldestState.Member member) =>
        view.Members.Any(m => m.Node == member.Node && (member.Incarnation == 0 || m.Incarnation == member.Incarnation));

    /// <summary>The view's members with their ages: a remembered incarnation keeps its own, a new one is as old as this view.</summary>
    private static KeepOldestState Remember(View view, List<KeepOldestState.Member> remembered) =>
        new([.. view.Members.Select(m =>
            remembered.FirstOrDefault(r => r.Node == m.Node && r.Incarnation == m.Incarnation) is { } known
                ? known
                : new KeepOldestState.Member(m.Node, m.Incarnation, view.Id.Seq))]);
}
