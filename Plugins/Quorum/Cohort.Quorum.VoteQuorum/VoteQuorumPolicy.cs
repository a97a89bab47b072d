using System.Text;

namespace Cohort.Quorum.VoteQuorum;

/// <summary>
/// Quorate when the view's members hold a strict majority of the expected votes:
/// quorum = ⌊max(expected, view votes) / 2⌋ + 1, as corosync's votequorum computes it, with its
/// options (<see cref="VoteQuorumOptions"/>): a two-node mode whose quorum is 1, wait-for-all,
/// expected-votes tracking, and a tie breaker for splits into exact halves. A decision declares dual quorum whenever both sides of a split could be
/// quorate — in two-node mode, and when the expected votes are below the nodes' votes — and says why.
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
        var remembered = VoteQuorumState.Decode(context.State.Span);
        var nodes = context.Nodes.Count;

        // A quorum device's votes are expected like a node's, and count for the view holding them.
        var votes = context.ViewVotes + context.GrantedDeviceVotes;
        var configured = context.ConfiguredVotes + context.ConfiguredDeviceVotes;
        var hasDevice = context.Devices.Count > 0;
        var twoNode = options.TwoNodeActive(nodes, hasDevice);

        var floor = options.ExpectedVotes ?? configured;
        if (options.ExpectedVotesTracking)
        {
            floor = Math.Max(floor, remembered.TrackedExpected);
        }

        // last_man_standing: what this incarnation lowered the expected votes to, never below the view's.
        var lms = options.LastManStanding && context.LocalIncarnation > 0 && remembered.LmsIncarnation == context.LocalIncarnation ? remembered : default;
        var lowered = lms.LmsExpected > 0 && lms.LmsExpected < floor;
        if (lowered)
        {
            floor = lms.LmsExpected;
        }

        var expected = Math.Max(floor, votes);
        var quorum = twoNode ? 1 : (expected / 2) + 1;
        var reason = new StringBuilder($"{votes} of {expected} expected votes");
        foreach (var device in context.Devices)
        {
            reason.Append(device.Granted ? $" ({device.Votes} from {device.Name})" : $" ({device.Name}: {device.Detail})");
        }

        reason.Append($"; {quorum} needed");
        if (hasDevice && options.TwoNodeActive(nodes))
        {
            reason.Append("; TwoNode is off while a quorum device is configured");
        }

        // Wait-for-all: once per incarnation, every configured node must have been in one view.
        var waitForAll = options.WaitForAllActive(nodes, hasDevice);
        var sawAll = remembered.SawAllAsIncarnation;
        var allHere = context.Nodes.All(n => context.View.Contains(n.Id));
        if (waitForAll && allHere && context.LocalIncarnation > 0)
        {
            sawAll = context.LocalIncarnation;
        }

        var waiting = waitForAll && !allHere && (context.LocalIncarnation == 0 || sawAll != context.LocalIncarnation);
        if (waiting)
        {
            reason.Append("; waiting for all nodes to be seen at once since this node started (wait_for_all)");
        }

        var dual = twoNode || expected < configured;
        if (twoNode)
        {
            reason.Append(" (two_node: either node alone is quorate; fencing decides)");
        }
        else if (lowered)
        {
            reason.Append($" (last_man_standing lowered the expected votes to {lms.LmsExpected}: both sides of a split may be quorate)");
        }
        else if (expected < configured)
        {
            reason.Append($" (ExpectedVotes {expected} is below the nodes' {configured} votes: both sides of a split may be quorate)");
        }

        // auto_tie_breaker: of two exact halves, the one holding the tie-breaker node.
        var quorate = votes >= quorum && votes > 0;
        if (!quorate && options.AutoTieBreaker && !twoNode && votes * 2 == expected)
        {
            var tieBreaker = options.TieBreaker(context.Nodes);
            quorate = tieBreaker is { } node && context.View.Contains(node);
            reason.Append(tieBreaker is { } tb
                ? $"; an exact half {(quorate ? "holding" : "without")} tie-breaker node {tb} (auto_tie_breaker)"
                : "; an exact half, but none of the AutoTieBreakerNode list is in the document");
        }

        var verdict = quorate && !waiting ? QuorumVerdict.Quorate : QuorumVerdict.NotQuorate;
        var state = new VoteQuorumState(waitForAll ? sawAll : 0, options.ExpectedVotesTracking ? expected : 0);
        TimeSpan? reevaluateAt = null;
        if (options.LastManStanding && context.LocalIncarnation > 0)
        {
            (state, reevaluateAt) = LastManStanding(context, options, lms, state, verdict, votes, expected);
        }

        var flags = Flags(options, twoNode, waitForAll, waiting, lowered);
        return new QuorumDecision(verdict, votes, expected, reason.ToString())
        {
            DualQuorum = dual,
            State = state.Encode(),
            Needed = quorum,
            Flags = flags,
            ReevaluateAt = reevaluateAt,
        };
    }

    /// <summary>
    /// The last_man_standing bookkeeping of one decision: a new view restarts the window; a quorate
    /// view that stood through the window lowers the expected votes to its own (at least 2, or 1 with
    /// auto_tie_breaker), which takes effect at the next decision, asked for at once. The lowered value
    /// only ever follows the view's votes up again. Only the decision on the whole installed view is
    /// remembered, so asking about a subset of the view never lowers anything.
    /// </summary>
    private static (VoteQuorumState State, TimeSpan? ReevaluateAt) LastManStanding(
        QuorumContext context, VoteQuorumOptions options, VoteQuorumState lms, VoteQuorumState state, QuorumVerdict verdict, int votes, int expected)
    {
        var since = lms.LmsView == context.View.Id && lms.LmsIncarnation == context.LocalIncarnation ? lms.LmsSince : context.Now;
        var lowered = lms.LmsExpected > 0 ? Math.Max(lms.LmsExpected, votes) : 0;
        TimeSpan? reevaluateAt = null;
        var target = Math.Max(votes, options.AutoTieBreaker ? 1 : 2);
        if (verdict == QuorumVerdict.Quorate && target < expected)
        {
            if (context.Now - since >= options.LastManStandingWindow)
            {
                lowered = target;
                reevaluateAt = context.Now; // the lowered value counts from the next decision on
            }
            else
            {
                reevaluateAt = since + options.LastManStandingWindow;
            }
        }

        return (state with { LmsIncarnation = context.LocalIncarnation, LmsView = context.View.Id, LmsSince = since, LmsExpected = lowered }, reevaluateAt);
    }

    private static List<string> Flags(VoteQuorumOptions options, bool twoNode, bool waitForAll, bool waiting, bool lowered)
    {
        var flags = new List<string>();
        if (twoNode)
        {
            flags.Add("TwoNode");
        }

        if (waitForAll)
        {
            flags.Add(waiting ? "WaitForAll (waiting)" : "WaitForAll");
        }

        if (options.ExpectedVotesTracking)
        {
            flags.Add("ExpectedVotesTracking");
        }

        if (options.AutoTieBreaker)
        {
            flags.Add("AutoTieBreaker");
        }

        if (options.LastManStanding)
        {
            flags.Add(lowered ? "LastManStanding (lowered)" : "LastManStanding");
        }

        return flags;
    }
}
