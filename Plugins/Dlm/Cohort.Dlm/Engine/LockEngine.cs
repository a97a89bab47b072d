using Cohort.Locking;

namespace Cohort.Dlm.Engine;

/// <summary>Where the <see cref="LockEngine"/> reports what it decided.</summary>
internal interface IEngineSink
{
    /// <summary>The request or conversion in progress of <paramref name="lkb"/> ended (granted, refused or
    /// cancelled), or it was unlocked. For a grant with <see cref="LockFlags.ValueBlock"/> that reads the value
    /// block, <paramref name="valueBlock"/> is the resource's (empty if never written), else empty.</summary>
    void Completed(Rsb rsb, Lkb lkb, LockResult result, ReadOnlySpan<byte> valueBlock);

    /// <summary>Granted lock <paramref name="holder"/> blocks a request for <paramref name="mode"/>.</summary>
    void Blocking(Rsb rsb, Lkb holder, LockMode mode);
}

/// <summary>
/// The master's queues of one resource, with the Linux DLM's rules (fs/dlm/lock.c): which request is granted,
/// which waits, which is refused, which blocking notifications go out, and what happens to the value block.
/// Single-threaded, no I/O; <see cref="DlmCore"/> runs one per lockspace.
/// </summary>
/// <remarks>
/// The rules, as docs/dlm.md tabulates them:
/// <list type="bullet">
/// <item>A request conflicts with a lock on the grant queue, or on the convert queue (whose locks still hold
/// their granted mode), when the matrix says the lock's granted mode and the requested mode are incompatible.</item>
/// <item>A conversion without <see cref="LockFlags.QueueConvert"/> is granted in place when it conflicts with
/// nothing; with it, only when the convert queue is empty too. Once queued, conversions are granted first in,
/// first out, before any new request.</item>
/// <item>A new request is granted at once only when it conflicts with nothing and both other queues are empty;
/// once waiting, only when the convert queue is empty and it is first. <see cref="LockFlags.Expedite"/> (new NL
/// only) skips every check.</item>
/// <item>A conversion that cannot be granted and would wait on a conversion that waits on it is a conversion
/// deadlock: it is refused <see cref="LockStatus.Deadlock"/> (left granted in its mode) or, with
/// <see cref="LockFlags.ConvertDeadlock"/>, its granted mode is demoted to NL (reported
/// <see cref="LockResultFlags.Demoted"/>).</item>
/// <item>A request that cannot be granted in its mode is tried in PR (<see cref="LockFlags.AlternatePR"/>) or CW
/// (<see cref="LockFlags.AlternateCW"/>), reported <see cref="LockResultFlags.AltMode"/>.</item>
/// <item>With <see cref="LockFlags.ValueBlock"/>, a grant from NL..PR to a mode at least as high, or from PW to
/// EX, reads the resource's value block; a grant from PW or EX to a lower or equal mode, and an unlock from PW
/// or EX, writes it and bumps its sequence. <see cref="LockFlags.InvalidateValueBlock"/> instead marks it not
/// valid, as does the death of a PW or EX holder; every value-block grant reports
/// <see cref="LockResultFlags.ValueNotValid"/> until the next write.</item>
/// </list>
/// </remarks>
internal sealed class LockEngine(IEngineSink sink, DlmMutant mutant = DlmMutant.None)
{
    /// <summary>How every unlock ends.</summary>
    public static readonly LockResult Unlocked = new(LockStatus.Unlocked, LockMode.Null, LockResultFlags.None, FencingToken.None);

    /// <summary>The compatibility matrix of the six modes (NL CR CW PR PW EX).</summary>
    private static readonly bool[,] Matrix =
    {
        { true, true, true, true, true, true },
        { true, true, true, true, true, false },
        { true, true, true, false, false, false },
        { true, true, false, true, false, false },
        { true, true, false, false, false, false },
        { true, false, false, false, false, false },
    };

    /// <summary>Linux's <c>dlm_lvb_operations</c> over granted mode (none, NL..EX) and requested mode (NL..EX):
    /// 1 the grant reads the value block, 0 it writes it, -1 neither.</summary>
    private static readonly sbyte[,] ValueBlockOperations =
    {
        { 1, 1, 1, 1, 1, 1 },
        { 1, 1, 1, 1, 1, 1 },
        { -1, 1, 1, 1, 1, 1 },
        { -1, -1, 1, 1, 1, 1 },
        { -1, -1, -1, 1, 1, 1 },
        { 0, 0, 0, 0, 0, 1 },
        { 0, 0, 0, 0, 0, 0 },
    };

    private readonly IEngineSink _sink = sink;
    private readonly bool _ignoreConvertQueue = mutant == DlmMutant.IgnoreConvertQueue;

    /// <summary>Whether locks in modes <paramref name="a"/> and <paramref name="b"/> may be held together.</summary>
    public static bool Compatible(LockMode a, LockMode b) => Matrix[(int)a, (int)b];

    private static bool Compatible(sbyte granted, sbyte requested) => granted < 0 || requested < 0 || Matrix[granted, requested];

    /// <summary>A new request of <paramref name="lkb"/> (which holds nothing and is on no queue).</summary>
    public void Request(Rsb rsb, Lkb lkb, LockMode mode, LockFlags flags)
    {
        lkb.RequestedMode = (sbyte)mode;
        lkb.Flags = flags;
        lkb.ResultFlags = LockResultFlags.None;
        if (CanBeGranted(rsb, lkb, now: true, recover: false, out _))
        {
            Grant(rsb, lkb, default);
            return;
        }

        if ((flags & LockFlags.NoQueue) != 0)
        {
            RefuseNoQueue(rsb, lkb, mode, flags);
            return;
        }

        rsb.Move(lkb, LkbQueue.Wait);
        BlockingQueue(rsb, rsb.Granted, lkb, mode);
    }

    /// <summary>A conversion of granted lock <paramref name="lkb"/>; <paramref name="valueBlock"/> is the lock's
    /// value block, written to the resource if the grant writes.</summary>
    public void Convert(Rsb rsb, Lkb lkb, LockMode mode, LockFlags flags, ReadOnlySpan<byte> valueBlock)
    {
        lkb.RequestedMode = (sbyte)mode;
        lkb.Flags = flags;
        lkb.ResultFlags = LockResultFlags.None;
        if (CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock))
        {
            Grant(rsb, lkb, valueBlock);
            GrantPending(rsb);
            return;
        }

        if (deadlock)
        {
            Refuse(rsb, lkb, LockStatus.Deadlock); // left on the grant queue in its mode
            return;
        }

        if ((lkb.ResultFlags & LockResultFlags.Demoted) != 0)
        {
            // Demoted to NL: that may let other conversions through, and then this one.
            GrantPendingConvert(rsb, recover: false, out _);
            if (CanBeGrantedInMode(rsb, lkb, now: true, recover: false))
            {
                Grant(rsb, lkb, default);
                GrantPending(rsb);
                return;
            }
        }

        if ((flags & LockFlags.NoQueue) != 0)
        {
            RefuseNoQueue(rsb, lkb, mode, flags);
            return;
        }

        rsb.Move(lkb, LkbQueue.Convert);
        BlockingQueue(rsb, rsb.Granted, lkb, mode);
    }

    /// <summary>Refuses what NOQUEUE does not let wait; with NOQUEUEBAST the locks in the way are told.</summary>
    private void RefuseNoQueue(Rsb rsb, Lkb lkb, LockMode mode, LockFlags flags)
    {
        Refuse(rsb, lkb, LockStatus.WouldBlock);
        if ((flags & LockFlags.NoQueueBlocking) != 0)
        {
            BlockingQueue(rsb, rsb.Granted, lkb, mode);
            BlockingQueue(rsb, rsb.Converting, lkb, mode);
        }
    }

    /// <summary>Releases granted lock <paramref name="lkb"/> (on the grant queue).</summary>
    public void Unlock(Rsb rsb, Lkb lkb, LockFlags flags, ReadOnlySpan<byte> valueBlock)
    {
        if (lkb.GrantedMode >= (sbyte)LockMode.ProtectedWrite)
        {
            if ((flags & LockFlags.InvalidateValueBlock) != 0)
            {
                rsb.ValueNotValid = true;
            }
            else if ((flags & LockFlags.ValueBlock) != 0 && valueBlock.Length > 0)
            {
                Write(rsb, valueBlock);
            }
        }

        rsb.Move(lkb, LkbQueue.None);
        lkb.GrantedMode = Lkb.NoMode;
        lkb.RequestedMode = Lkb.NoMode;
        _sink.Completed(rsb, lkb, Unlocked, default);
        GrantPending(rsb);
    }

    /// <summary>Cancels the waiting request or queued conversion of <paramref name="lkb"/>.</summary>
    /// <returns>Whether there was one (a granted lock with nothing queued has nothing to cancel).</returns>
    public bool Cancel(Rsb rsb, Lkb lkb)
    {
        switch (lkb.Queue)
        {
            case LkbQueue.Wait:
                rsb.Move(lkb, LkbQueue.None);
                break;
            case LkbQueue.Convert:
                rsb.Move(lkb, LkbQueue.Grant);
                break;
            default:
                return false;
        }

        lkb.RequestedMode = Lkb.NoMode;
        var mode = lkb.IsGranted ? (LockMode)lkb.GrantedMode : LockMode.Null;
        _sink.Completed(rsb, lkb, new LockResult(LockStatus.Cancelled, mode, lkb.ResultFlags, FencingToken.None), default);
        GrantPending(rsb);
        return true;
    }

    /// <summary>Grants what the queues allow now and tells the granted locks what still waits on them (Linux's
    /// <c>grant_pending_locks</c>). <paramref name="recover"/>: after a remaster, when the queues were rebuilt in
    /// another order, conversions are granted without regard to it.</summary>
    public void GrantPending(Rsb rsb, bool recover = false)
    {
        var high = GrantPendingConvert(rsb, recover, out var cw);
        high = Math.Max(high, GrantPendingWait(rsb, ref cw));
        if (high == Lkb.NoMode)
        {
            return;
        }

        for (var lkb = rsb.Granted.Head; lkb is not null;)
        {
            var next = lkb.Next;
            if (RequiresBlocking(lkb, high, cw))
            {
                var mode = cw && high == (sbyte)LockMode.ProtectedRead && lkb.GrantedMode == (sbyte)LockMode.ProtectedRead ? LockMode.ConcurrentWrite : (LockMode)high;
                lkb.HighestBlocking = high;
                _sink.Blocking(rsb, lkb, mode);
            }

            lkb = next;
        }
    }

    /// <summary>Drops the locks <paramref name="departed"/> selects (their node left): a PW or EX holder among them
    /// makes the value block not valid. Then grants what that allows.</summary>
    public void Purge(Rsb rsb, Predicate<Lkb> departed)
    {
        PurgeQueue(rsb, rsb.Granted, departed);
        PurgeQueue(rsb, rsb.Converting, departed);
        PurgeQueue(rsb, rsb.Waiting, departed);
        GrantPending(rsb, recover: true);
    }

    private static void PurgeQueue(Rsb rsb, LkbList queue, Predicate<Lkb> departed)
    {
        for (var lkb = queue.Head; lkb is not null;)
        {
            var next = lkb.Next;
            if (departed(lkb))
            {
                if (lkb.GrantedMode >= (sbyte)LockMode.ProtectedWrite)
                {
                    rsb.ValueNotValid = true;
                }

                rsb.Move(lkb, LkbQueue.None);
            }

            lkb = next;
        }
    }

    // ---- the grant rules (Linux's _can_be_granted, can_be_granted, conversion_deadlock_detect) ----

    private bool CanBeGrantedInMode(Rsb rsb, Lkb lkb, bool now, bool recover)
    {
        var converting = lkb.GrantedMode != Lkb.NoMode;
        var flags = lkb.Flags;
        if ((flags & LockFlags.Expedite) != 0)
        {
            return true;
        }

        if (Conflicts(rsb.Granted, lkb) || (!_ignoreConvertQueue && Conflicts(rsb.Converting, lkb)))
        {
            return false;
        }

        var convertQueueEmpty = _ignoreConvertQueue || rsb.Converting.IsEmpty;
        if (converting)
        {
            if (recover)
            {
                return true;
            }

            if (now)
            {
                return (flags & LockFlags.QueueConvert) == 0 || convertQueueEmpty;
            }

            return rsb.Converting.Head == lkb;
        }

        return now
            ? convertQueueEmpty && rsb.Waiting.IsEmpty
            : convertQueueEmpty && rsb.Waiting.Head == lkb;
    }

    private bool CanBeGranted(Rsb rsb, Lkb lkb, bool now, bool recover, out bool deadlock)
    {
        deadlock = false;
        if (CanBeGrantedInMode(rsb, lkb, now, recover))
        {
            return true;
        }

        if (lkb.GrantedMode != Lkb.NoMode && (lkb.Flags & LockFlags.NoQueue) == 0 && ConversionDeadlock(rsb, lkb))
        {
            if ((lkb.Flags & LockFlags.ConvertDeadlock) != 0)
            {
                lkb.GrantedMode = (sbyte)LockMode.Null;
                lkb.ResultFlags |= LockResultFlags.Demoted;
            }
            else
            {
                deadlock = true;
            }

            return false;
        }

        var requested = lkb.RequestedMode;
        sbyte alternate = requested != (sbyte)LockMode.ProtectedRead && (lkb.Flags & LockFlags.AlternatePR) != 0 ? (sbyte)LockMode.ProtectedRead
            : requested != (sbyte)LockMode.ConcurrentWrite && (lkb.Flags & LockFlags.AlternateCW) != 0 ? (sbyte)LockMode.ConcurrentWrite
            : Lkb.NoMode;
        if (alternate == Lkb.NoMode)
        {
            return false;
        }

        lkb.RequestedMode = alternate;
        if (CanBeGrantedInMode(rsb, lkb, now, recover: false))
        {
            lkb.ResultFlags |= LockResultFlags.AltMode;
            return true;
        }

        lkb.RequestedMode = requested;
        return false;
    }

    /// <summary>Whether a lock on <paramref name="queue"/> other than <paramref name="lkb"/> holds a mode its
    /// request is incompatible with.</summary>
    private static bool Conflicts(LkbList queue, Lkb lkb)
    {
        for (var other = queue.Head; other is not null; other = other.Next)
        {
            if (other != lkb && !Compatible(other.GrantedMode, lkb.RequestedMode))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether conversion <paramref name="lkb2"/> would wait forever: a conversion ahead of it waits on
    /// its granted mode, or one behind it and it wait on each other.</summary>
    private static bool ConversionDeadlock(Rsb rsb, Lkb lkb2)
    {
        var behind = false;
        for (var lkb1 = rsb.Converting.Head; lkb1 is not null; lkb1 = lkb1.Next)
        {
            if (lkb1 == lkb2)
            {
                behind = true;
                continue;
            }

            var blocksIt = !Compatible(lkb2.GrantedMode, lkb1.RequestedMode);
            if (blocksIt && (!behind || !Compatible(lkb1.GrantedMode, lkb2.RequestedMode)))
            {
                return true;
            }
        }

        return false;
    }

    // ---- granting the queues (grant_pending_convert, grant_pending_wait) ----

    /// <returns>The highest mode still converting (or <see cref="Lkb.NoMode"/>).</returns>
    private sbyte GrantPendingConvert(Rsb rsb, bool recover, out bool cw)
    {
        var quit = false;
        while (true)
        {
            var grantRestart = false;
            var demoteRestart = false;
            var high = Lkb.NoMode;
            cw = false;
            for (var lkb = rsb.Converting.Head; lkb is not null;)
            {
                var next = lkb.Next;
                var demoted = (lkb.ResultFlags & LockResultFlags.Demoted) != 0;
                if (CanBeGranted(rsb, lkb, now: false, recover, out var deadlock))
                {
                    rsb.Move(lkb, LkbQueue.None);
                    Grant(rsb, lkb, default);
                    grantRestart = true;
                }
                else if (!demoted && (lkb.ResultFlags & LockResultFlags.Demoted) != 0)
                {
                    demoteRestart = true;
                }
                else if (!deadlock)
                {
                    // A deadlock found while queued stays queued, as in Linux (which only warns).
                    high = Math.Max(high, lkb.RequestedMode);
                    cw |= lkb.RequestedMode == (sbyte)LockMode.ConcurrentWrite;
                }

                lkb = next;
            }

            if (grantRestart)
            {
                continue;
            }

            if (demoteRestart && !quit)
            {
                quit = true;
                continue;
            }

            return high;
        }
    }

    private sbyte GrantPendingWait(Rsb rsb, ref bool cw)
    {
        var high = Lkb.NoMode;
        for (var lkb = rsb.Waiting.Head; lkb is not null;)
        {
            var next = lkb.Next;
            if (CanBeGranted(rsb, lkb, now: false, recover: false, out _))
            {
                rsb.Move(lkb, LkbQueue.None);
                Grant(rsb, lkb, default);
            }
            else
            {
                high = Math.Max(high, lkb.RequestedMode);
                cw |= lkb.RequestedMode == (sbyte)LockMode.ConcurrentWrite;
            }

            lkb = next;
        }

        return high;
    }

    // ---- blocking notifications (send_bast_queue, modes_require_bast, lock_requires_bast) ----

    private void BlockingQueue(Rsb rsb, LkbList queue, Lkb requester, LockMode mode)
    {
        var requested = (sbyte)mode;
        for (var holder = queue.Head; holder is not null; holder = holder.Next)
        {
            if (holder != requester && RequiresBlocking(holder, requested))
            {
                holder.HighestBlocking = requested;
                _sink.Blocking(rsb, holder, mode);
            }
        }
    }

    private static bool RequiresBlocking(Lkb holder, sbyte requested)
    {
        var granted = holder.GrantedMode;
        if ((granted == (sbyte)LockMode.ProtectedRead && requested == (sbyte)LockMode.ConcurrentWrite)
            || (granted == (sbyte)LockMode.ConcurrentWrite && requested == (sbyte)LockMode.ProtectedRead))
        {
            return holder.HighestBlocking < (sbyte)LockMode.Exclusive;
        }

        return holder.HighestBlocking < requested && !Compatible(granted, requested);
    }

    private static bool RequiresBlocking(Lkb holder, sbyte high, bool cw)
    {
        if (holder.GrantedMode == (sbyte)LockMode.ProtectedRead && cw)
        {
            return holder.HighestBlocking < (sbyte)LockMode.Exclusive;
        }

        return holder.HighestBlocking < high && !Compatible(holder.GrantedMode, high);
    }

    // ---- granting one lock (grant_lock, set_lvb_lock) ----

    private void Grant(Rsb rsb, Lkb lkb, ReadOnlySpan<byte> valueBlock)
    {
        var mode = (LockMode)lkb.RequestedMode;
        ReadOnlySpan<byte> read = default;
        var flags = lkb.ResultFlags;
        if ((lkb.Flags & LockFlags.ValueBlock) != 0)
        {
            switch (ValueBlockOperations[lkb.GrantedMode + 1, lkb.RequestedMode])
            {
                case 1:
                    read = rsb.ValueBlock is { } current ? current : [];
                    break;
                case 0 when (lkb.Flags & LockFlags.InvalidateValueBlock) != 0:
                    rsb.ValueNotValid = true;
                    break;
                case 0 when valueBlock.Length > 0:
                    Write(rsb, valueBlock);
                    break;
            }

            if (rsb.ValueNotValid)
            {
                flags |= LockResultFlags.ValueNotValid;
            }
        }

        lkb.GrantedMode = lkb.RequestedMode;
        lkb.RequestedMode = Lkb.NoMode;
        lkb.HighestBlocking = Lkb.NoMode;
        lkb.ResultFlags = LockResultFlags.None;
        if (lkb.Queue != LkbQueue.Grant)
        {
            rsb.Move(lkb, LkbQueue.Grant);
        }

        var token = mode >= LockMode.ProtectedWrite ? rsb.NextToken() : FencingToken.None;
        if (!token.IsNone)
        {
            lkb.Token = token;
        }

        _sink.Completed(rsb, lkb, new LockResult(LockStatus.Granted, mode, flags, token), read);
    }

    /// <summary>Ends a request or conversion that is not granted: a new request leaves nothing behind, a conversion
    /// leaves the lock granted in its (possibly demoted) mode.</summary>
    private void Refuse(Rsb rsb, Lkb lkb, LockStatus status)
    {
        lkb.RequestedMode = Lkb.NoMode;
        var mode = lkb.IsGranted ? (LockMode)lkb.GrantedMode : LockMode.Null;
        var flags = lkb.ResultFlags;
        lkb.ResultFlags = LockResultFlags.None;
        _sink.Completed(rsb, lkb, new LockResult(status, mode, flags, FencingToken.None), default);
    }

    private static void Write(Rsb rsb, ReadOnlySpan<byte> valueBlock)
    {
        rsb.ValueBlock ??= new byte[valueBlock.Length];
        valueBlock.CopyTo(rsb.ValueBlock);
        rsb.ValueSeq++;
        rsb.ValueNotValid = false;
    }
}
