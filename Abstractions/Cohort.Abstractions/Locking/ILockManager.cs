using Cohort.Cores;
using Cohort.Membership;

namespace Cohort.Locking;

/// <summary>
/// The lock manager (the <see cref="Plugins.PluginSlot.LockManager"/> slot): makes the protocol core that the host
/// runs on every node beside membership and fencing. The host routes to it the data frames whose first byte is
/// <see cref="DlmFrames.Tag"/>, tells it every installed view and quorum change, opens fencing gates for it
/// (<see cref="DlmAwaitGate"/> → <see cref="DlmGateOpened"/>), and serves <see cref="IDistributedLockManager"/>
/// to the services on the node by turning calls into <see cref="DlmJoin"/>, <see cref="DlmLeave"/> and
/// <see cref="DlmOperation"/> requests and events back into completions.
/// </summary>
public interface ILockManager
{
    /// <summary>Creates the core of one node incarnation. The core persists nothing: locks do not survive
    /// the incarnation that holds them.</summary>
    ILockManagerCore CreateCore(LockManagerSetup setup);
}

/// <summary>The core of a lock manager. Inputs: <see cref="CoreStarted"/>, frames on the data lane whose first
/// byte is <see cref="DlmFrames.Tag"/>, session resets, its timers, and the local requests <see cref="DlmView"/>,
/// <see cref="DlmGateOpened"/>, <see cref="DlmJoin"/>, <see cref="DlmLeave"/> and <see cref="DlmOperation"/>.
/// Events: <see cref="DlmJoined"/>, <see cref="DlmLeft"/>, <see cref="DlmCompleted"/>, <see cref="DlmBlocking"/>,
/// <see cref="DlmAwaitGate"/>, <see cref="DlmRecoveryProgress"/>.</summary>
/// <remarks>Exactly one <see cref="DlmCompleted"/> follows every <see cref="DlmOperation"/> of kind lock, convert
/// or unlock; a cancel has none of its own (the operation it cancels completes, cancelled or not).</remarks>
public interface ILockManagerCore : IProtocolCore
{
    /// <summary>What the core holds and does; read between calls only.</summary>
    DlmCoreStatus Status { get; }

    /// <summary>The resources of a joined lockspace as this node knows them, sorted by name: on their master, the three
    /// queues; elsewhere, this node's own locks. Read between calls only.</summary>
    /// <param name="lockspace">The lockspace's name.</param>
    /// <param name="limit">The most resources to list.</param>
    /// <returns>The dump, or null when this node has not joined the lockspace (or the core keeps no dump).</returns>
    DlmLockspaceDump? Dump(string lockspace, int limit) => null;
}

/// <summary>The framing shared by the host and lock managers.</summary>
public static class DlmFrames
{
    /// <summary>The first byte of every lock-manager frame on the data lane.</summary>
    public const byte Tag = 0xD1;
}

/// <summary>How a lock-manager core is set up.</summary>
/// <param name="DirectoryWeights">Each node's share of the resource directory (a node not listed has 1; 0 makes
/// a node never a directory node).</param>
/// <param name="CacheTime">How long a master keeps a resource nobody holds a lock on before dropping it.</param>
public sealed record LockManagerSetup(IReadOnlyDictionary<NodeId, int> DirectoryWeights, TimeSpan CacheTime)
{
    /// <summary>The default <see cref="CacheTime"/>: 10 s.</summary>
    public static readonly TimeSpan DefaultCacheTime = TimeSpan.FromSeconds(10);
}

/// <summary>Local request: membership installed <paramref name="View"/>, or quorum changed in it. A lockspace
/// recovers after every change of its members, and locking freezes while this node is not quorate.</summary>
/// <param name="View">The view this node is in.</param>
/// <param name="Quorate">Whether this node is quorate in it.</param>
public sealed record DlmView(View View, bool Quorate)
{
    /// <summary>The incarnations membership reported departed uncleanly when it installed <see cref="View"/>
    /// (<c>ViewInstalled.Departed</c>, which for a restarted node's first view includes the members of its previous
    /// incarnation's last view that are gone). No recovery of any lockspace finishes its fence phase until the gate of
    /// each is open, unless it is back in a view (the same incarnation is then a member again or holds nothing; a
    /// later one proves it dead). Empty on a quorum change.</summary>
    /// <value>Empty by default.</value>
    public IReadOnlyList<NodeIncarnation> Departed { get; init; } = [];
}

/// <summary>Local request: the fencing gate of <paramref name="Incarnation"/> is open (it is dead or left cleanly).</summary>
/// <param name="Incarnation">The departed incarnation.</param>
public sealed record DlmGateOpened(NodeIncarnation Incarnation);

/// <summary>Local request: join a lockspace. Completes with <see cref="DlmJoined"/> once a recovery of the
/// lockspace that counts this node as a member has finished.</summary>
/// <param name="Token">The caller's number, echoed in <see cref="DlmJoined"/>.</param>
/// <param name="Lockspace">The name: 1 to 64 bytes of UTF-8.</param>
/// <param name="ValueBlockLength">The length of its value blocks: a positive multiple of 8, equal on every
/// member (joining a lockspace whose members use another length fails).</param>
public sealed record DlmJoin(long Token, string Lockspace, int ValueBlockLength);

/// <summary>Local request: leave a lockspace this node holds no locks in.</summary>
/// <param name="Token">The caller's number, echoed in <see cref="DlmLeft"/>.</param>
/// <param name="Lockspace">The lockspace's id from <see cref="DlmJoined"/>.</param>
public sealed record DlmLeave(long Token, int Lockspace);

/// <summary>What a <see cref="DlmOperation"/> does.</summary>
public enum DlmOperationKind : byte
{
    /// <summary>A new lock (<c>dlm_lock</c> without CONVERT).</summary>
    Lock = 0,

    /// <summary>Convert a granted lock (<c>dlm_lock</c> with CONVERT).</summary>
    Convert = 1,

    /// <summary>Release a granted lock (<c>dlm_unlock</c>).</summary>
    Unlock = 2,

    /// <summary>Cancel a waiting request or conversion (<c>dlm_unlock</c> with CANCEL).</summary>
    Cancel = 3,
}

/// <summary>Local request: one lock operation. The caller (the host) has already checked it against the
/// lock's state: no second operation while one is in flight except a cancel, no convert or unlock of a lock
/// that holds nothing.</summary>
/// <param name="Kind">What to do.</param>
/// <param name="Lockspace">The lockspace's id from <see cref="DlmJoined"/>.</param>
/// <param name="LockId">The lock's id, chosen by the caller for a new lock: unique within the node incarnation.</param>
/// <param name="Resource">For a new lock, the resource's name: 1 to 64 bytes, binary allowed; empty otherwise.</param>
/// <param name="Mode">The mode requested (lock, convert).</param>
/// <param name="Flags">The flags.</param>
/// <param name="ValueBlock">The value block to write (convert down or unlock from PW/EX with
/// <see cref="LockFlags.ValueBlock"/>), of the lockspace's length, or empty.</param>
public sealed record DlmOperation(DlmOperationKind Kind, int Lockspace, long LockId, ReadOnlyMemory<byte> Resource, LockMode Mode, LockFlags Flags, ReadOnlyMemory<byte> ValueBlock);

/// <summary>Event: a <see cref="DlmJoin"/> finished.</summary>
/// <param name="Token">The request's token.</param>
/// <param name="Lockspace">The lockspace's name.</param>
/// <param name="Id">Its id for <see cref="DlmOperation"/> and <see cref="DlmLeave"/>; 0 when joining failed.</param>
/// <param name="Error">Why joining failed, or null.</param>
public sealed record DlmJoined(long Token, string Lockspace, int Id, string? Error);

/// <summary>Event: a <see cref="DlmLeave"/> finished.</summary>
/// <param name="Token">The request's token.</param>
/// <param name="Error">Why leaving was refused (locks still held), or null.</param>
public sealed record DlmLeft(long Token, string? Error);

/// <summary>Event: a lock, convert or unlock operation completed (Linux's completion AST).</summary>
/// <param name="Lockspace">The lockspace's id.</param>
/// <param name="LockId">The lock.</param>
/// <param name="Result">How it ended.</param>
/// <param name="ValueBlock">With <see cref="LockFlags.ValueBlock"/> on a grant or up-conversion, the value block
/// read; empty otherwise. Valid until the next event.</param>
public sealed record DlmCompleted(int Lockspace, long LockId, LockResult Result, ReadOnlyMemory<byte> ValueBlock);

/// <summary>Event: the lock is in the way of a request for <paramref name="Mode"/> (Linux's blocking AST): the
/// highest mode blocked by it so far.</summary>
/// <param name="Lockspace">The lockspace's id.</param>
/// <param name="LockId">The granted lock.</param>
/// <param name="Mode">The highest mode requested that it blocks.</param>
public sealed record DlmBlocking(int Lockspace, long LockId, LockMode Mode);

/// <summary>Event: the core waits for the fencing gate of <paramref name="Incarnation"/> before it recovers
/// anything it held; the host answers with <see cref="DlmGateOpened"/> when the gate opens.</summary>
/// <param name="Incarnation">The departed incarnation.</param>
public sealed record DlmAwaitGate(NodeIncarnation Incarnation);

/// <summary>The phases of a lockspace's recovery, in order.</summary>
public enum DlmRecoveryPhase : byte
{
    /// <summary>Locking runs.</summary>
    Running = 0,

    /// <summary>Every member stops granting, notifying and completing.</summary>
    Stop = 1,

    /// <summary>Every member waits to be quorate and for the gate of every departed incarnation.</summary>
    Fence = 2,

    /// <summary>The directory is rebuilt over the new members.</summary>
    Directory = 3,

    /// <summary>Resources whose master departed get a new master, from the survivors' copies.</summary>
    Remaster = 4,

    /// <summary>The locks of departed incarnations are purged; value blocks recovered or invalidated.</summary>
    Purge = 5,

    /// <summary>Requests in flight are resent to their (new) masters.</summary>
    Resend = 6,
}

/// <summary>Event: a lockspace passed into a recovery phase (or back to <see cref="DlmRecoveryPhase.Running"/>).</summary>
/// <param name="Lockspace">The lockspace's name.</param>
/// <param name="Sequence">The recovery's sequence.</param>
/// <param name="Phase">The phase entered.</param>
/// <param name="Members">The lockspace's members in this recovery.</param>
public sealed record DlmRecoveryProgress(string Lockspace, DlmRecoverySequence Sequence, DlmRecoveryPhase Phase, IReadOnlyList<NodeIncarnation> Members);

/// <summary>A lockspace's recovery sequence, carried in every lock-manager message: frames of an older one are
/// dropped. Ordered by (<see cref="ViewSeq"/>, <see cref="Attempt"/>, <see cref="Coordinator"/>).</summary>
/// <param name="ViewSeq">The seq of the view the recovery started in.</param>
/// <param name="Attempt">The attempt within that view (each membership change of the lockspace makes a new one).</param>
/// <param name="Coordinator">The node that started it.</param>
public readonly record struct DlmRecoverySequence(long ViewSeq, int Attempt, NodeId Coordinator) : IComparable<DlmRecoverySequence>
{
    /// <inheritdoc />
    public int CompareTo(DlmRecoverySequence other)
    {
        var c = ViewSeq.CompareTo(other.ViewSeq);
        if (c != 0)
        {
            return c;
        }

        c = Attempt.CompareTo(other.Attempt);
        return c != 0 ? c : Coordinator.CompareTo(other.Coordinator);
    }

    /// <summary>Whether <paramref name="left"/> orders before <paramref name="right"/>.</summary>
    public static bool operator <(DlmRecoverySequence left, DlmRecoverySequence right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> orders after <paramref name="right"/>.</summary>
    public static bool operator >(DlmRecoverySequence left, DlmRecoverySequence right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> orders before or equals <paramref name="right"/>.</summary>
    public static bool operator <=(DlmRecoverySequence left, DlmRecoverySequence right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> orders after or equals <paramref name="right"/>.</summary>
    public static bool operator >=(DlmRecoverySequence left, DlmRecoverySequence right) => left.CompareTo(right) >= 0;

    /// <summary>As <c>seq.attempt@coordinator</c>.</summary>
    public override string ToString() => $"{ViewSeq}.{Attempt}@{Coordinator}";
}

/// <summary>A lock-manager core's state, for status.</summary>
/// <param name="Lockspaces">The lockspaces this node has joined, by name.</param>
public sealed record DlmCoreStatus(IReadOnlyList<DlmLockspaceStatus> Lockspaces);

/// <summary>One lockspace's state on one node.</summary>
/// <param name="Name">The name.</param>
/// <param name="Id">The id.</param>
/// <param name="Phase">Its recovery phase (<see cref="DlmRecoveryPhase.Running"/> when locking runs).</param>
/// <param name="Sequence">The last recovery's sequence.</param>
/// <param name="Members">Its members, as of that recovery.</param>
/// <param name="Resources">Resources this node knows (mastered here or cached).</param>
/// <param name="Mastered">Of those, the ones mastered here.</param>
/// <param name="Locks">Locks of this node.</param>
/// <param name="RejectedFrames">Frames dropped as malformed.</param>
public sealed record DlmLockspaceStatus(string Name, int Id, DlmRecoveryPhase Phase, DlmRecoverySequence Sequence, IReadOnlyList<NodeIncarnation> Members, int Resources, int Mastered, int Locks, long RejectedFrames);

/// <summary>A lockspace's resources as one node knows them (<c>cohort locks</c>).</summary>
/// <param name="Name">The lockspace.</param>
/// <param name="Resources">Its resources known here, sorted by name, at most the limit asked for.</param>
/// <param name="TotalResources">How many this node knows in all.</param>
public sealed record DlmLockspaceDump(string Name, IReadOnlyList<DlmResourceDump> Resources, int TotalResources);

/// <summary>One resource as one node knows it.</summary>
/// <param name="Name">Its name (binary allowed).</param>
/// <param name="Master">Its master's node id (0 while unknown: a lookup is under way).</param>
/// <param name="DirectoryNode">Its directory node's id.</param>
/// <param name="MasteredHere">Whether this node masters it: the queues are then the resource's, else this node's locks only.</param>
/// <param name="Granted">Granted locks, no conversion pending.</param>
/// <param name="Converting">Granted locks converting, in the order they are granted.</param>
/// <param name="Waiting">New requests waiting, in the order they are granted.</param>
/// <param name="ValueSequence">The value block's write sequence (on the master).</param>
/// <param name="ValueNotValid">Whether the value block is not valid (on the master).</param>
/// <param name="LastToken">The token of the last PW/EX grant of its master here, or <see cref="FencingToken.None"/>.</param>
public sealed record DlmResourceDump(ReadOnlyMemory<byte> Name, int Master, int DirectoryNode, bool MasteredHere, IReadOnlyList<DlmLockDump> Granted,
    IReadOnlyList<DlmLockDump> Converting, IReadOnlyList<DlmLockDump> Waiting, ulong ValueSequence, bool ValueNotValid, FencingToken LastToken);

/// <summary>One lock on a queue.</summary>
/// <param name="Owner">The owning node's incarnation (incarnation 0 when not a current member).</param>
/// <param name="LockId">The owner's lock id.</param>
/// <param name="Granted">The mode granted, or null.</param>
/// <param name="Requested">The mode a request or conversion waits for, or null.</param>
/// <param name="Flags">The flags of its request in progress (or of the last one).</param>
/// <param name="Token">The token of its last PW/EX grant, or <see cref="FencingToken.None"/>.</param>
public sealed record DlmLockDump(NodeIncarnation Owner, long LockId, LockMode? Granted, LockMode? Requested, LockFlags Flags, FencingToken Token);
