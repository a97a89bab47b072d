using Cohort.Membership;

namespace Cohort.Simulation;

/// <summary>
/// Invariant 1, no split brain, against ground truth: what every node that is not down (paused ones
/// included: they would act on their beliefs the moment they resume) believes. Whenever a is quorate in
/// Va and b in Vb with Va &lt; Vb, a must be a member of Vb. A node whose quorum is dual
/// (<see cref="MembershipCore.QuorumIsDual"/>: two_node, say) is exempt, as documented.
/// </summary>
public sealed class SplitBrainChecker : ISimulationObserver
{
    /// <summary>The invariant's name in reports.</summary>
    public const string Name = "no-split-brain";

    private readonly Dictionary<int, Belief> _beliefs = [];

    /// <inheritdoc />
    public void AfterStep(SimulatedCluster cluster, SimNode node)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(node);
        var core = node.Core!;
        if (core.Installed is not { } view || core.QuorateUntil is not { } until)
        {
            _beliefs.Remove(node.Id.Value);
            return;
        }

        var mine = new Belief(node.Self, view, node.GlobalAt(until), core.QuorumIsDual);
        _beliefs[node.Id.Value] = mine;
        if (mine.Until <= cluster.Now || mine.Dual)
        {
            return;
        }

        foreach (var other in cluster.Nodes)
        {
            if (other.Id == node.Id || other.State == SimNodeState.Down || !_beliefs.TryGetValue(other.Id.Value, out var theirs)
                || theirs.Until <= cluster.Now || theirs.Dual || theirs.View.Id == mine.View.Id)
            {
                continue;
            }

            var (older, newer) = mine.View.Id < theirs.View.Id ? (mine, theirs) : (theirs, mine);
            if (!newer.View.Members.Contains(older.Node))
            {
                cluster.Fail(Name, $"{older.Node} is quorate in {older.View} (until {(older.Until == TimeSpan.MaxValue ? "forever" : $"{older.Until.TotalMilliseconds:F3} ms")}) while {newer.Node} is quorate in {newer.View}, which excludes it");
                return;
            }
        }
    }

    /// <inheritdoc />
    public void Executed(SimulatedCluster cluster, SimNode node, Cores.CoreOutput output)
    {
    }

    /// <inheritdoc />
    public void NodeStopped(SimulatedCluster cluster, SimNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        _beliefs.Remove(node.Id.Value);
    }

    /// <inheritdoc />
    public void Published(SimulatedCluster cluster, SimNode node, object published)
    {
    }

    private sealed record Belief(NodeIncarnation Node, View View, TimeSpan Until, bool Dual);
}

/// <summary>
/// The identity rules of views, against ground truth: a node's installed view ids strictly increase
/// (across its restarts too); one member set per view id; a view is installed only after every member
/// accepted it.
/// </summary>
public sealed class ViewChecker : ISimulationObserver
{
    /// <summary>Invariant name: installed view ids strictly increase per node.</summary>
    public const string Increasing = "view-ids-increase";

    /// <summary>Invariant name: one member set per view id.</summary>
    public const string OneMemberSet = "one-member-set-per-view-id";

    /// <summary>Invariant name: installed only after all members accepted.</summary>
    public const string AllAccepted = "install-after-all-accepted";

    private readonly Dictionary<int, ViewId> _lastInstalled = [];
    private readonly Dictionary<ViewId, IReadOnlyList<NodeIncarnation>> _members = [];
    private readonly Dictionary<ViewId, HashSet<NodeIncarnation>> _acceptedBy = [];
    private readonly Dictionary<NodeIncarnation, (ViewId? Accepted, ViewId? Installed)> _seen = [];

    /// <summary>How many distinct views were installed.</summary>
    public int ViewsInstalled => _members.Count;

    /// <inheritdoc />
    public void AfterStep(SimulatedCluster cluster, SimNode node)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(node);
        var core = node.Core!;
        _seen.TryGetValue(node.Self, out var before);
        if (core.Accepted is { } accepted && accepted != before.Accepted)
        {
            RecordAccept(accepted, node.Self);
        }

        if (core.Installed is { } view && view.Id != before.Installed)
        {
            if (_lastInstalled.TryGetValue(node.Id.Value, out var last) && view.Id <= last)
            {
                cluster.Fail(Increasing, $"{node.Self} installed {view.Id} after {last}");
            }

            _lastInstalled[node.Id.Value] = view.Id;
            if (_members.TryGetValue(view.Id, out var members) && !members.SequenceEqual(view.Members))
            {
                cluster.Fail(OneMemberSet, $"view {view.Id} has members [{string.Join(", ", members)}] at one node and [{string.Join(", ", view.Members)}] at {node.Self}");
            }

            _members[view.Id] = view.Members;
            _acceptedBy.TryGetValue(view.Id, out var acceptors);
            var missing = view.Members.Where(m => acceptors is null || !acceptors.Contains(m)).ToList();
            if (missing.Count > 0)
            {
                cluster.Fail(AllAccepted, $"{node.Self} installed {view} though [{string.Join(", ", missing)}] never accepted it");
            }
        }

        _seen[node.Self] = (core.Accepted, core.Installed?.Id);
    }

    /// <inheritdoc />
    public void Executed(SimulatedCluster cluster, SimNode node, Cores.CoreOutput output)
    {
        ArgumentNullException.ThrowIfNull(node);

        // An accept counts once sent, even if the node proposes itself later in the same step or
        // crashes before the step ends.
        if (output is Cores.SendFrame { Frame.Length: > 1 } send && send.Frame.Span[1] == (byte)FrameType.Accept
            && MembershipFrames.Decode(send.Frame.Span) is Accept accept)
        {
            RecordAccept(accept.Id, node.Self);
        }
    }

    /// <inheritdoc />
    public void NodeStopped(SimulatedCluster cluster, SimNode node)
    {
    }

    /// <inheritdoc />
    public void Published(SimulatedCluster cluster, SimNode node, object published)
    {
    }

    private void RecordAccept(ViewId id, NodeIncarnation node)
    {
        if (!_acceptedBy.TryGetValue(id, out var set))
        {
            _acceptedBy[id] = set = [];
        }

        set.Add(node);
    }
}

/// <summary>
/// Liveness: once the network has healed and every node runs, all of them that the newest cluster
/// document version (held by any of them) lists install one view holding exactly them and are quorate
/// within <see cref="Bound"/>; nodes behind catch up in that time.
/// </summary>
public static class LivenessChecker
{
    /// <summary>The invariant's name in reports.</summary>
    public const string Name = "converges-when-connected";

    /// <summary>How long a healed, fully running cluster may take to converge: two failure timeouts,
    /// two promise periods and ten heartbeats; and, where committed cluster documents change the quorum
    /// rules, one promise period more (a version committed as the cluster heals, such as one left in
    /// doubt, holds quorum back for one after each node adopts it).</summary>
    public static TimeSpan Bound(MembershipOptions options, bool configChanges = false)
    {
        ArgumentNullException.ThrowIfNull(options);
        return (options.FailureTimeout * 2) + (options.PromiseHeld * (configChanges ? 3 : 2)) + (options.HeartbeatInterval * 10) + TimeSpan.FromMilliseconds(20);
    }

    /// <summary>Checks convergence now; reports a violation on the cluster if not.</summary>
    public static void Check(SimulatedCluster cluster, TimeSpan since)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var up = cluster.Nodes.Where(n => n.State == SimNodeState.Up).ToList();
        if (up.Count == 0)
        {
            return;
        }

        var newest = up.Select(n => n.Core!.Rules).MaxBy(r => r.ConfigVersion)!;
        up = [.. up.Where(n => newest.Nodes.Any(listed => listed.Id == n.Id))];

        if (Unconverged(cluster, up) is { } why)
        {
            cluster.Fail(Name, $"{cluster.Now - since} after healing, {why}");
        }
    }

    /// <summary>Why <paramref name="nodes"/> have not converged (one installed view of exactly them,
    /// every one quorate now), or null when they have.</summary>
    public static string? Unconverged(SimulatedCluster cluster, IReadOnlyCollection<SimNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(nodes);
        var expected = nodes.Select(n => n.Self).Order().ToList();
        foreach (var node in nodes)
        {
            var core = node.Core;
            if (core?.Installed is not { } view || !view.Members.SequenceEqual(expected))
            {
                return $"{node.Self} has {core?.Installed?.ToString() ?? "no view"}; expected one view of [{string.Join(", ", expected)}]";
            }

            if (!core.IsQuorate(node.LocalAt(cluster.Now)))
            {
                return $"{node.Self} is not quorate in {view}";
            }
        }

        return null;
    }
}
