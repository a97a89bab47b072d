using Cohort.Locking;

namespace Cohort.Dlm.Engine;

/// <summary>Which queue of its resource a lock is on.</summary>
internal enum LkbQueue : byte
{
    /// <summary>None: not on a master's queues (a lock whose master is another node, or one just released).</summary>
    None = 0,

    /// <summary>The grant queue: granted in <see cref="Lkb.GrantedMode"/>, no conversion pending.</summary>
    Grant = 1,

    /// <summary>The convert queue: granted in <see cref="Lkb.GrantedMode"/>, waiting for <see cref="Lkb.RequestedMode"/>.</summary>
    Convert = 2,

    /// <summary>The wait queue: a new request, nothing granted yet.</summary>
    Wait = 3,
}

/// <summary>
/// A lock as its resource's master keeps it (Linux's lkb). A master copy of another node's lock is just this; a
/// lock of this node is an <see cref="OwnedLkb"/>, which adds the owner's side, and when the resource is mastered
/// here that one object is the master's copy too. Kept small: one is held per lock, and a million of them must fit
/// in 300 bytes each with their resources.
/// </summary>
internal partial class Lkb(int node, long id)
{
    /// <summary>No mode (Linux's <c>DLM_LOCK_IV</c>).</summary>
    public const sbyte NoMode = -1;

    /// <summary>The owner's node id.</summary>
    public readonly int Node = node;

    /// <summary>The owner's lock id.</summary>
    public readonly long Id = id;

    /// <summary>The mode granted, or <see cref="NoMode"/>.</summary>
    public sbyte GrantedMode = NoMode;

    /// <summary>The mode requested by the new request or conversion in progress, or <see cref="NoMode"/>.</summary>
    public sbyte RequestedMode = NoMode;

    /// <summary>The flags of the request in progress (or of the last one).</summary>
    public LockFlags Flags;

    /// <summary>What the completion of the request in progress will report beside its status (a demotion by
    /// <see cref="LockFlags.ConvertDeadlock"/>, a grant in an alternate mode).</summary>
    public LockResultFlags ResultFlags;

    /// <summary>The queue it is on.</summary>
    public LkbQueue Queue;

    /// <summary>The highest mode a blocking notification was sent for since the lock was last granted
    /// (Linux's <c>lkb_highbast</c>), or <see cref="NoMode"/>.</summary>
    public sbyte HighestBlocking = NoMode;

    /// <summary>The token of its last PW/EX grant.</summary>
    public FencingToken Token;

    /// <summary>The neighbours on its queue (see <see cref="LkbList"/>: the first lock's <see cref="Prev"/> is the
    /// last); null on none.</summary>
    public Lkb? Prev, Next;

    /// <summary>Whether a mode is granted.</summary>
    public bool IsGranted => GrantedMode != NoMode;
}
