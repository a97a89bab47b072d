namespace Cohort.Locking;

/// <summary>
/// The six lock modes of the VMS and Linux lock managers, weakest first; the numeric values are Linux's
/// (<c>DLM_LOCK_NL</c> 0 … <c>DLM_LOCK_EX</c> 5).
/// </summary>
/// <remarks>
/// Compatibility (✓: may be granted together):
/// <code>
///       NL CR CW PR PW EX
///   NL  ✓  ✓  ✓  ✓  ✓  ✓
///   CR  ✓  ✓  ✓  ✓  ✓
///   CW  ✓  ✓  ✓
///   PR  ✓  ✓     ✓
///   PW  ✓  ✓
///   EX  ✓
/// </code>
/// </remarks>
public enum LockMode : byte
{
    /// <summary>NL, null: holds the resource and its value block without blocking anyone.</summary>
    Null = 0,

    /// <summary>CR, concurrent read: read, others may write.</summary>
    ConcurrentRead = 1,

    /// <summary>CW, concurrent write: write, others may write too.</summary>
    ConcurrentWrite = 2,

    /// <summary>PR, protected read: read, nobody writes.</summary>
    ProtectedRead = 3,

    /// <summary>PW, protected write: write, others may only read concurrently (CR).</summary>
    ProtectedWrite = 4,

    /// <summary>EX, exclusive: nobody else but NL holders.</summary>
    Exclusive = 5,
}

/// <summary>Request flags, with the values of Linux's <c>DLM_LKF_*</c>.</summary>
[Flags]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "The Linux DLM's name, which its users look for.")]
public enum LockFlags
{
    /// <summary>No flags.</summary>
    None = 0,

    /// <summary>NOQUEUE: if the request cannot be granted at once, complete it with
    /// <see cref="LockStatus.WouldBlock"/> instead of queueing it; holders in the way are sent a blocking
    /// notification unless <see cref="NoQueueBlocking"/> is set too.</summary>
    NoQueue = 0x1,

    /// <summary>CONVERT: the request converts the lock to a new mode (set by <c>ConvertAsync</c>).</summary>
    Convert = 0x4,

    /// <summary>VALBLK: read the value block on grant and up-conversion; write it on a down-conversion or
    /// unlock from PW or EX.</summary>
    ValueBlock = 0x8,

    /// <summary>QUECVT: queue an up-conversion behind the conversions already waiting even if it is
    /// compatible now (valid for up-conversions only).</summary>
    QueueConvert = 0x10,

    /// <summary>IVVALBLK: mark the value block invalid on a down-conversion or unlock (its holders then
    /// read <see cref="LockResultFlags.ValueNotValid"/> until a PW or EX holder writes it).</summary>
    InvalidateValueBlock = 0x20,

    /// <summary>CONVDEADLK: if this conversion is caught in a conversion deadlock, demote the granted mode
    /// to NL to break it and report <see cref="LockResultFlags.Demoted"/>.</summary>
    ConvertDeadlock = 0x40,

    /// <summary>EXPEDITE: grant a new NL request ahead of everything queued (new NL requests only).</summary>
    Expedite = 0x400,

    /// <summary>NOQUEUEBAST: with <see cref="NoQueue"/>, send no blocking notifications.</summary>
    NoQueueBlocking = 0x800,

    /// <summary>ALTPR: if the requested mode cannot be granted, PR may be granted instead
    /// (<see cref="LockResultFlags.AltMode"/>).</summary>
    AlternatePR = 0x8000,

    /// <summary>ALTCW: if the requested mode cannot be granted, CW may be granted instead
    /// (<see cref="LockResultFlags.AltMode"/>).</summary>
    AlternateCW = 0x10000,
}

/// <summary>How an operation ended (Linux: 0, <c>-EAGAIN</c>, <c>-EDEADLK</c>, <c>-DLM_ECANCEL</c>,
/// <c>-DLM_EUNLOCK</c>).</summary>
public enum LockStatus : byte
{
    /// <summary>The lock (or conversion) is granted in <see cref="LockResult.Mode"/>.</summary>
    Granted = 0,

    /// <summary>A <see cref="LockFlags.NoQueue"/> request could not be granted at once; a conversion keeps
    /// its granted mode, a new lock holds nothing.</summary>
    WouldBlock = 1,

    /// <summary>The conversion was caught in a conversion deadlock and refused; the lock keeps its granted mode.</summary>
    Deadlock = 2,

    /// <summary>The request was cancelled before it was granted; a conversion keeps its granted mode.</summary>
    Cancelled = 3,

    /// <summary>The lock is released.</summary>
    Unlocked = 4,
}

/// <summary>What else a completion reports (Linux's <c>DLM_SBF_*</c>).</summary>
[Flags]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "The Linux DLM's name, which its users look for.")]
public enum LockResultFlags : byte
{
    /// <summary>Nothing else.</summary>
    None = 0,

    /// <summary>DEMOTED: the granted mode was demoted to NL to break a conversion deadlock
    /// (<see cref="LockFlags.ConvertDeadlock"/>).</summary>
    Demoted = 1,

    /// <summary>VALNOTVALID: the value block was invalidated (by <see cref="LockFlags.InvalidateValueBlock"/>
    /// or the death of a PW/EX holder) and not written since.</summary>
    ValueNotValid = 2,

    /// <summary>ALTMODE: the alternate mode of <see cref="LockFlags.AlternatePR"/> or
    /// <see cref="LockFlags.AlternateCW"/> was granted, not the one requested.</summary>
    AltMode = 4,
}
