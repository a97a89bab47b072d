using Cohort.Membership;

namespace Cohort.Fencing;

/// <summary>The fencing topology of one committed cluster document: for each node, its levels in order, each a
/// list of device names that must all succeed; the action that fences; and the fence-race delays.</summary>
/// <param name="Action">What fencing does to a victim: <see cref="FenceAction.Off"/> or <see cref="FenceAction.Reboot"/>.</param>
/// <param name="Levels">The levels of each node that has any.</param>
public sealed record FencingTopology(FenceAction Action, IReadOnlyDictionary<NodeId, IReadOnlyList<IReadOnlyList<string>>> Levels)
{
    /// <summary>No devices: every victim waits (and is retried) until a topology names some.</summary>
    public static FencingTopology None { get; } = new(FenceAction.Off, new Dictionary<NodeId, IReadOnlyList<IReadOnlyList<string>>>());

    /// <summary>The fence-race delays of each device that has any, by device name (case-insensitive).</summary>
    public IReadOnlyDictionary<string, FenceDelay> Delays { get; init; } = new Dictionary<string, FenceDelay>(StringComparer.OrdinalIgnoreCase);

    /// <summary><c>Cluster:Fencing:PriorityDelay</c>: how much longer a fencer without a majority waits before it fences
    /// a departed node whose priority is above every member of its own view (zero: none).</summary>
    public TimeSpan PriorityDelay { get; init; }

    /// <summary><c>Cluster:Fencing:Priority</c>: each node's fencing priority; a node not listed has 0.</summary>
    public IReadOnlyDictionary<NodeId, int> Priorities { get; init; } = new Dictionary<NodeId, int>();

    /// <summary>How many nodes the document lists (a fencer whose view holds more than half of them has a majority).</summary>
    public int ClusterSize { get; init; }

    /// <summary>The levels of <paramref name="node"/> that name any device; empty when it has none.</summary>
    public IReadOnlyList<IReadOnlyList<string>> LevelsOf(NodeId node) =>
        Levels.TryGetValue(node, out var levels) ? levels.All(l => l.Count > 0) ? levels : [.. levels.Where(l => l.Count > 0)] : [];

    /// <summary>The priority of <paramref name="node"/>.</summary>
    public int PriorityOf(NodeId node) => Priorities.TryGetValue(node, out var priority) ? priority : 0;
}

/// <summary>The fence-race delays of one device, as Pacemaker's <c>pcmk_delay_base</c> and <c>pcmk_delay_max</c>:
/// before a pass over a victim's levels starts with this device, the fencer waits the victim's static delay plus a
/// random one, so that the two halves of a split do not shoot each other at once. A delay protects the node it is
/// set for: fencing that node waits, so in a race that node shoots first.</summary>
/// <param name="Base">The static delay for a node <paramref name="PerNode"/> does not list (<c>DelayBase</c> as a number).</param>
/// <param name="PerNode">The static delay for each listed node (<c>DelayBase</c> as an object of node names).</param>
/// <param name="Max"><c>DelayMax</c>: when above the static delay, the whole delay is drawn uniformly between the
/// static delay and this bound; zero for no random part.</param>
public sealed record FenceDelay(TimeSpan Base, IReadOnlyDictionary<NodeId, TimeSpan> PerNode, TimeSpan Max)
{
    /// <summary>The static delay before fencing <paramref name="node"/>.</summary>
    public TimeSpan BaseFor(NodeId node) => PerNode.TryGetValue(node, out var delay) ? delay : Base;
}

/// <summary>Why an incarnation is to be fenced.</summary>
public enum FenceReason
{
    /// <summary>It left a quorate view without leaving cleanly (crashed, cut off, stopped before DRAINED).</summary>
    Departed = 1,

    /// <summary>An operator asked (<c>cohort fence NODE</c>).</summary>
    Operator = 2,
}

/// <summary>One device operation of the fencing history, as every node keeps and shares it.</summary>
/// <param name="Requester">The fencer that ran it.</param>
/// <param name="Seq">Its number among the requester's records (with <paramref name="Requester"/>, the record's identity).</param>
/// <param name="Victim">The incarnation to be fenced.</param>
/// <param name="Level">The level, from 1; 0 when no level could be tried.</param>
/// <param name="Device">The device, or <c>(none)</c>.</param>
/// <param name="Action">The action.</param>
/// <param name="Result">How it ended.</param>
/// <param name="Reason">Why the victim is fenced.</param>
/// <param name="Fenced">Whether this operation completed its level, so that the victim is fenced.</param>
/// <param name="Attempt">Which pass over the levels it belongs to, from 1.</param>
/// <param name="UnixMilliseconds">When it ended, on the requester's wall clock (for people; nothing orders by it).</param>
/// <param name="Detail">What the device said.</param>
public sealed record FenceRecord(
    NodeIncarnation Requester,
    long Seq,
    NodeIncarnation Victim,
    int Level,
    string Device,
    FenceAction Action,
    FenceResult Result,
    FenceReason Reason,
    bool Fenced,
    int Attempt,
    long UnixMilliseconds,
    string Detail);

/// <summary>A <see cref="Cores.LocalRequest"/>: this node installed a view (membership's <c>ViewInstalled</c>).</summary>
/// <param name="View">The view.</param>
/// <param name="LeftCleanly">Members of the previous view that left cleanly.</param>
/// <param name="Departed">Members of the previous view that are gone without leaving cleanly.</param>
public sealed record FencingViewInstalled(View View, IReadOnlyList<NodeIncarnation> LeftCleanly, IReadOnlyList<NodeIncarnation> Departed);

/// <summary>A <see cref="Cores.LocalRequest"/>: this node became quorate, or stopped being quorate, in a view.</summary>
/// <param name="Quorate">Whether it is.</param>
/// <param name="View">The view.</param>
public sealed record FencingQuorum(bool Quorate, ViewId? View);

/// <summary>A <see cref="Cores.LocalRequest"/>: a newly committed cluster document changed the topology.</summary>
/// <param name="Topology">The new topology.</param>
public sealed record FencingTopologyChanged(FencingTopology Topology);

/// <summary>A <see cref="Cores.LocalRequest"/>: a device operation the core asked for (<see cref="RunFenceDevice"/>) ended.</summary>
/// <param name="Operation">The operation's number.</param>
/// <param name="Result">How it ended.</param>
/// <param name="Detail">What the device said.</param>
/// <param name="UnixMilliseconds">When, on this node's wall clock.</param>
public sealed record FenceDeviceCompleted(long Operation, FenceResult Result, string Detail, long UnixMilliseconds);

/// <summary>A <see cref="Cores.LocalRequest"/>: an operator asks to fence <paramref name="Node"/> (<c>cohort fence</c>).
/// Answered with <see cref="FenceNodeAnswered"/>.</summary>
/// <param name="Token">Matches the answer.</param>
/// <param name="Node">The node.</param>
/// <param name="Action">The action, or null for the topology's.</param>
public sealed record FenceNodeRequest(long Token, NodeId Node, FenceAction? Action);

/// <summary>A <see cref="Cores.LocalRequest"/>: an operator acknowledges that <paramref name="Node"/> was dealt with
/// (<c>cohort fence ack</c>); every node of the view hears of it (<see cref="FenceAcknowledged"/>).</summary>
/// <param name="Node">The node.</param>
public sealed record FenceAckRequest(NodeId Node);

/// <summary>Event: run one device operation and answer with <see cref="FenceDeviceCompleted"/>.</summary>
/// <param name="Operation">Its number.</param>
/// <param name="Victim">The incarnation to fence.</param>
/// <param name="Level">The level, from 1.</param>
/// <param name="Device">The device.</param>
/// <param name="Action">The action.</param>
/// <param name="Attempt">The pass over the levels, from 1.</param>
public sealed record RunFenceDevice(long Operation, NodeIncarnation Victim, int Level, string Device, FenceAction Action, int Attempt);

/// <summary>Event: this node is no longer the victim's fencer (or no longer quorate): cut the operation short.
/// It is still answered, and whatever it answers is recorded.</summary>
/// <param name="Operation">Its number.</param>
public sealed record CancelFenceDevice(long Operation);

/// <summary>Event: a history record was made here or learned from a peer.</summary>
/// <param name="Record">The record.</param>
/// <param name="Local">Whether this node made it.</param>
public sealed record FenceRecorded(FenceRecord Record, bool Local);

/// <summary>Event: the gate of <paramref name="Incarnation"/> (and of every older incarnation of its node, when
/// fenced) opened.</summary>
/// <param name="Incarnation">The incarnation.</param>
/// <param name="LeftCleanly">Whether it left cleanly rather than being fenced.</param>
/// <param name="Device">The device that fenced it, when fenced.</param>
public sealed record FenceGateOpenedEvent(NodeIncarnation Incarnation, bool LeftCleanly, string? Device);

/// <summary>Event: a new victim (this node is quorate and learned it, or a peer told it).</summary>
/// <param name="Victim">The incarnation.</param>
/// <param name="Reason">Why.</param>
public sealed record VictimAdded(NodeIncarnation Victim, FenceReason Reason);

/// <summary>Event: the fencer waits <paramref name="Delay"/> before it starts a pass over the victim's levels (a
/// fence-race delay, <see cref="FenceDelay"/> and <see cref="FencingTopology.PriorityDelay"/>).</summary>
/// <param name="Victim">The victim.</param>
/// <param name="Device">The pass's first device, whose delays apply.</param>
/// <param name="Delay">The whole wait.</param>
/// <param name="Why">Its parts, for a log: <c>DelayBase 5 s + random 1.2 s + PriorityDelay 10 s</c>.</param>
public sealed record FenceDelayed(NodeIncarnation Victim, string Device, TimeSpan Delay, string Why);

/// <summary>Event: a victim is no longer one because every node that named it is gone (fenced, or restarted as a newer
/// incarnation) while the victim is a live member of this node's view: the partition that excluded it lost the race,
/// and nothing was recovered on its behalf (its gate never opened). This is what keeps the loser of a two-node fence
/// race, restarted, from fencing the survivor once the split heals.</summary>
/// <param name="Victim">The incarnation that is a victim no more.</param>
/// <param name="Namers">The incarnations that had named it, all gone.</param>
public sealed record VictimOverruled(NodeIncarnation Victim, IReadOnlyList<NodeIncarnation> Namers);

/// <summary>Event: every level of a victim failed in one pass; the fencer tries again after <paramref name="RetryIn"/>.</summary>
/// <param name="Victim">The victim.</param>
/// <param name="Attempt">The pass that failed, from 1.</param>
/// <param name="RetryIn">The backoff before the next pass.</param>
public sealed record FencingExhausted(NodeIncarnation Victim, int Attempt, TimeSpan RetryIn);

/// <summary>Event: an operator acknowledged <paramref name="Node"/>; a waiting <c>manual</c> device completes.</summary>
/// <param name="Node">The node.</param>
public sealed record FenceAcknowledged(NodeId Node);

/// <summary>Event: the answer to a <see cref="FenceNodeRequest"/>.</summary>
/// <param name="Token">The request's token.</param>
/// <param name="Victim">The incarnation now to be fenced, or null when refused.</param>
/// <param name="Error">Why it was refused, or null.</param>
public sealed record FenceNodeAnswered(long Token, NodeIncarnation? Victim, string? Error);

/// <summary>Event: this node's own incarnation is a victim (a healed partition: the quorate side fenced it, or is
/// about to). What it held is already someone else's.</summary>
public sealed record SelfIsVictim;

/// <summary>A victim not yet fenced, for status.</summary>
/// <param name="Victim">The incarnation.</param>
/// <param name="Reason">Why.</param>
/// <param name="Fencer">The node that fences it in this node's view, or null (no quorate non-victim member).</param>
/// <param name="State"><c>waiting</c> (for quorum or a fencer), <c>delayed</c> (a fence-race delay), <c>running</c>,
/// <c>retrying</c> or <c>elsewhere</c>
/// (another node fences it).</param>
/// <param name="Attempt">The current pass, from 1 (0 before the first).</param>
/// <param name="Level">The level being tried, from 1 (0 when none).</param>
/// <param name="Device">The device being run, or null.</param>
public sealed record PendingFence(NodeIncarnation Victim, FenceReason Reason, NodeId? Fencer, string State, int Attempt, int Level, string? Device);

/// <summary>What the fencing core knows, for status; read between calls only.</summary>
/// <param name="Pending">Victims not yet fenced.</param>
/// <param name="History">The history this node keeps, oldest first.</param>
/// <param name="Fenced">The highest fenced incarnation of each node.</param>
/// <param name="Clean">The clean leavers this node remembers.</param>
public sealed record FencingStatus(IReadOnlyList<PendingFence> Pending, IReadOnlyList<FenceRecord> History, IReadOnlyDictionary<NodeId, long> Fenced, IReadOnlySet<NodeIncarnation> Clean)
{
    /// <summary>Whether the gate of <paramref name="incarnation"/> is open: it left cleanly, or it or a later
    /// incarnation of its node was fenced.</summary>
    public bool IsOpen(NodeIncarnation incarnation) => IsOpen(Fenced, Clean, incarnation);

    /// <summary>The gate rule, for the core and its status alike.</summary>
    internal static bool IsOpen(IReadOnlyDictionary<NodeId, long> fenced, IReadOnlySet<NodeIncarnation> clean, NodeIncarnation incarnation) =>
        (fenced.TryGetValue(incarnation.Node, out var highest) && highest >= incarnation.Incarnation) || clean.Contains(incarnation);
}
