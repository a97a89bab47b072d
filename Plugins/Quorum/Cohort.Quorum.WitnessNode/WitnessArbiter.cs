using System.Globalization;
using Cohort.Membership;

namespace Cohort.Quorum.WitnessNode;

/// <summary>
/// The witness's decision, for one cluster: which partition (view) gets the vote. A sans-IO state
/// machine: the server hands it each request with the witness's monotonic time.
/// </summary>
/// <remarks>
/// <para><b>Exclusive.</b> A grant to a node is a hold on the vote for its view, lasting the requested
/// lease ×(1+ρ) on the witness's clock from the request's arrival (the node counts lease ×(1−ρ) from
/// its sending, so its hold ends first in real time). The vote goes to a view only while no node holds
/// it for another: every unexpired hold is for one view. A node that asks for a newer view gives up
/// its hold on the old one (it will never count it again). A witness that (re)starts grants nothing
/// until the longest lease it accepts has passed, since it may have granted one before.</para>
/// <para><b>Choice</b> (ffsplit), when the vote is free: the view most reporting nodes are in; then the
/// view holding the most members of the last view that held the vote; then the view holding the
/// tie-breaker node; then the newest view id.</para>
/// </remarks>
internal sealed class WitnessArbiter(TimeSpan maxLease, TimeSpan startedAt, WitnessMutant mutant = WitnessMutant.None)
{
    private readonly Dictionary<NodeIncarnation, Hold> _holds = [];
    private readonly Dictionary<NodeId, Report> _reports = [];
    private ViewId? _lastGranted;
    private int[] _lastGrantedMembers = [];

    /// <summary>The longest lease the witness grants; longer requests are refused.</summary>
    public TimeSpan MaxLease { get; } = maxLease;

    /// <summary>The view holding the vote now, or null.</summary>
    public ViewId? Holder(TimeSpan now) => _holds.Values.Where(h => h.Until > now).Select(h => (ViewId?)h.View).FirstOrDefault();

    /// <summary>The view that held the vote last.</summary>
    public ViewId? LastGranted => _lastGranted;

    /// <summary>Answers one request.</summary>
    public WitnessAnswer Ask(WitnessRequest request, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(request);
        WitnessAnswer Deny(string reason, ViewId? holder = null, TimeSpan retryAfter = default) => new(request.Stamp, false, holder, reason, retryAfter);

        if (request.Lease > MaxLease)
        {
            return Deny($"a lease of {Ms(request.Lease)} ms is longer than this witness grants ({Ms(MaxLease)} ms, --max-lease)");
        }

        if (_reports.TryGetValue(request.Node.Node, out var known) && request.Node.Incarnation < known.Node.Incarnation)
        {
            return Deny($"incarnation {request.Node.Incarnation} of node {request.Node.Node} was replaced by {known.Node.Incarnation}");
        }

        if (known is not null && known.Node == request.Node && request.View < known.View)
        {
            return Deny($"view {request.View} is older than {known.View}, which node {request.Node.Node} asked for before");
        }

        _reports[request.Node.Node] = new Report(request.Node, request.View, request.Members, request.TieBreaker, now, request.Lease);

        // Asking for a view gives up this incarnation's hold on any other; expired holds go.
        if (_holds.TryGetValue(request.Node, out var own) && own.View != request.View)
        {
            _holds.Remove(request.Node);
        }

        foreach (var expired in _holds.Where(h => h.Value.Until <= now).Select(h => h.Key).ToList())
        {
            _holds.Remove(expired);
        }

        var quiet = startedAt + (MaxLease * (1 + request.ClockDriftBound));
        if (now < quiet)
        {
            return Deny($"the witness started {Ms(now - startedAt)} ms ago and grants nothing for {Ms(quiet - startedAt)} ms (a grant it made before may still hold)");
        }

        var blocking = mutant == WitnessMutant.NoExclusion ? null : _holds.Values.Where(h => h.View != request.View).MaxBy(h => h.Until);
        if (blocking is not null)
        {
            return Deny($"the vote is view {blocking.View}'s for up to {Ms(blocking.Until - now)} ms more", blocking.View, blocking.Until - now);
        }

        var renewing = _holds.Values.Any(h => h.View == request.View);
        if (!renewing)
        {
            var best = Best(now);
            if (best is not null && best.View != request.View)
            {
                return Deny($"view {best.View} is preferred: {best.Why}", best.View);
            }
        }

        _holds[request.Node] = new Hold(request.View, now + (request.Lease * (1 + request.ClockDriftBound)));
        _lastGranted = request.View;
        _lastGrantedMembers = request.Members;
        return new WitnessAnswer(request.Stamp, true, null, renewing ? "renewed" : "granted");
    }

    /// <summary>The partition ffsplit prefers among the views nodes reported within their lease.</summary>
    private Candidate? Best(TimeSpan now)
    {
        var live = _reports.Values.Where(r => now - r.At <= r.Lease).ToList();
        if (live.Count == 0)
        {
            return null;
        }

        var candidates = live
            .GroupBy(r => r.View)
            .Select(g =>
            {
                var members = g.OrderByDescending(r => r.At).First().Members;
                return new Candidate(
                    g.Key,
                    g.Count(),
                    members.Count(m => _lastGrantedMembers.Contains(m)),
                    members.Contains(g.First().TieBreaker),
                    "");
            })
            .OrderByDescending(c => c.Reporting)
            .ThenByDescending(c => c.Previous)
            .ThenByDescending(c => c.HoldsTieBreaker)
            .ThenByDescending(c => c.View)
            .ToList();
        var best = candidates[0];
        if (candidates.Count == 1)
        {
            return best with { Why = "the only partition asking" };
        }

        var second = candidates[1];
        var why = best.Reporting > second.Reporting ? $"{best.Reporting} nodes ask for it, {second.Reporting} for view {second.View}"
            : best.Previous > second.Previous ? $"it holds {best.Previous} members of the view that held the vote last"
            : best.HoldsTieBreaker && !second.HoldsTieBreaker ? "it holds the tie-breaker node"
            : "it is the newest";
        return best with { Why = why };
    }

    private static string Ms(TimeSpan t) => Math.Max(0, t.TotalMilliseconds).ToString("F0", CultureInfo.InvariantCulture);

    private sealed record Hold(ViewId View, TimeSpan Until);

    private sealed record Report(NodeIncarnation Node, ViewId View, int[] Members, int TieBreaker, TimeSpan At, TimeSpan Lease);

    private sealed record Candidate(ViewId View, int Reporting, int Previous, bool HoldsTieBreaker, string Why);
}

/// <summary>Deliberately broken arbiters, each of which the witness's checker must catch.</summary>
internal enum WitnessMutant
{
    /// <summary>The real arbiter.</summary>
    None = 0,

    /// <summary>Grants the preferred view even while another view holds the vote.</summary>
    NoExclusion,
}
