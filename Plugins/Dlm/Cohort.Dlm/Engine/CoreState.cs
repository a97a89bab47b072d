using Cohort.Locking;

namespace Cohort.Dlm.Engine;

/// <summary>What the distributed core keeps on a lock beside the engine's fields.</summary>
internal partial class Lkb
{
    /// <summary>The owner's sequence number of the lock's latest operation: on the owner (an <see cref="OwnedLkb"/>),
    /// the one in flight or the last one; on a master copy of another node's lock, the last one the master received
    /// (a resend with the same number is answered, not applied again).</summary>
    public long Seq;

    /// <summary>On a master copy: how the last request ended, for answering a resend of it.</summary>
    public LockStatus LastStatus;

    /// <summary>On a master copy: the flags of that completion.</summary>
    public LockResultFlags LastFlags;
}

/// <summary>What an operation of this node's lock is waiting for.</summary>
internal enum PendingOp : byte
{
    None = 0,
    Lock = 1,
    Convert = 2,
    Unlock = 3,
}

/// <summary>A lock owned by this node: the master's view of it (<see cref="Lkb"/>, which is the master's own copy
/// when the resource is mastered here) and the owner's side, in one object.</summary>
internal sealed class OwnedLkb(int node, long id, Rsb resource) : Lkb(node, id)
{
    /// <summary>The resource.</summary>
    public readonly Rsb Resource = resource;

    /// <summary>The operation in flight, if any.</summary>
    public PendingOp Pending;

    /// <summary>Its mode.</summary>
    public LockMode PendingMode;

    /// <summary>Its flags.</summary>
    public LockFlags PendingFlags;

    /// <summary>Whether it has been sent to the master (or applied, when mastered here).</summary>
    public bool Sent;

    /// <summary>Whether it went to this node's own engine (the master was this node) rather than over the wire: a
    /// recovery resends every operation not applied by the resource's current master.</summary>
    public bool AppliedHere;

    /// <summary>Whether a cancel of it was asked for.</summary>
    public bool CancelWanted;

    /// <summary>An unlock in flight that completed already, when it went out (see <c>DlmCore.ReleaseAtOnce</c>): it
    /// stays here until the master answers, for a recovery to resend it, and tells its client nothing more.</summary>
    public bool Released;

    /// <summary>What it holds and writes of the value block; null until it carries one (most locks never do).</summary>
    public LockValue? Value;
}

/// <summary>An owned lock's share of the value block, apart from <see cref="OwnedLkb"/>: a lock that never carries a
/// value block (most do not) then costs 16 bytes less.</summary>
internal sealed class LockValue
{
    /// <summary>The lock's copy of the value block (the lockspace's length), from its last read or write; null before one.</summary>
    public byte[]? Block;

    /// <summary>The sequence of <see cref="Block"/>.</summary>
    public ulong Seq;

    /// <summary>The value block to write with the operation in flight.</summary>
    public byte[]? Write;

    /// <summary>Whether that operation is a conversion that writes <see cref="Write"/> to the resource (from PW or EX,
    /// with VALBLK), so that the lock holds that value once granted.</summary>
    public bool Writes;
}

/// <summary>What the distributed core keeps on a resource beside the engine's fields.</summary>
internal sealed partial class Rsb
{
    /// <summary>A lookup of its master is in flight.</summary>
    public bool LookupPending;

    /// <summary>Its master (this node) asked the directory to forget it and waits for the answer.</summary>
    public bool Removing;

    /// <summary>Locks of this node on it.</summary>
    public int LocalLocks;

    /// <summary>XxHash32 of <see cref="Name"/>, which places it in the directory (computed each time: rarely asked,
    /// not worth a field).</summary>
    public uint Hash => DirectoryHash.Of(Name);

    /// <summary>This node's locks whose operations wait for the master to be known.</summary>
    public List<OwnedLkb>? Waiters
    {
        get => _extra?.Waiters;
        set => SetExtra(static extra => ref extra.Waiters, value);
    }

    /// <summary>Frames of other nodes' operations that arrived while this node's lookup was in flight.</summary>
    public List<(int From, byte[] Frame)>? Parked
    {
        get => _extra?.Parked;
        set => SetExtra(static extra => ref extra.Parked, value);
    }

    /// <summary>When a toss scan first saw it idle (0: not idle at the last scan).</summary>
    public TimeSpan IdleSince
    {
        get => _extra?.IdleSince ?? TimeSpan.Zero;
        set => SetExtra(static extra => ref extra.IdleSince, value);
    }
}

/// <summary>The core's share of <see cref="RsbExtra"/>.</summary>
internal sealed partial class RsbExtra
{
    /// <summary>See <see cref="Rsb.Waiters"/>.</summary>
    public List<OwnedLkb>? Waiters;

    /// <summary>See <see cref="Rsb.Parked"/>.</summary>
    public List<(int From, byte[] Frame)>? Parked;

    /// <summary>See <see cref="Rsb.IdleSince"/>.</summary>
    public TimeSpan IdleSince;
}

/// <summary>Recovery state of a resource.</summary>
internal sealed partial class Rsb
{
    /// <summary>Its master departed (or it got a new one) in a recovery not finished yet: survivors send their
    /// granted locks on it to the new master, in every attempt until one finishes.</summary>
    public bool RemasterPending;

    /// <summary>While remastering: a survivor holds it in a mode that excludes any PW/EX holder (CW, PR, PW, EX), so
    /// the value block recovered from the copies is valid.</summary>
    public bool RemasterStrong;
}
