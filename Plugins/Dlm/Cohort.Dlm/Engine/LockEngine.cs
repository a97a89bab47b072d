using Cohort.Locking;

namespace Cohort.Dlm.Engine;

/// <summary>Where the <see cref="LockEngine"/> reports what it decided.</summary>
internal interface IEngineSink
{
    /// <summary>The request or conversion in progress of <paramref name="lkb"/> ended (granted, refused or
    /// cancelled), or it was unlocked. For a grant or up-conversion with <see cref="LockFlags.ValueBlock"/>
    /// <paramref name="valueBlock"/> is the resource's value block (empty if never written), else empty.</summary>
    void Completed(Rsb rsb, Lkb lkb, LockResult result, ReadOnlySpan<byte> valueBlock);

    /// <summary>Granted lock <paramref name="holder"/> blocks a request for <paramref name="mode"/>.</summary>
    void Blocking(Rsb rsb, Lkb holder, LockMode mode);
}

/// <summary>PROVISIONAL minimal engine (the lead's, for debugging the core until the full one lands).</summary>
internal sealed class LockEngine(IEngineSink sink, DlmMutant mutant = DlmMutant.None)
{
    private static readonly bool[,] Matrix =
    {
        { true, true, true, true, true, true },
        { true, true, true, true, true, false },
        { true, true, true, false, false, false },
        { true, true, false, true, false, false },
        { true, true, false, false, false, false },
        { true, false, false, false, false, false },
    };

    private readonly IEngineSink _sink = sink;
    private readonly bool _ignoreConvertQueue = mutant == DlmMutant.IgnoreConvertQueue;

    public static bool Compatible(LockMode a, LockMode b) => Matrix[(int)a, (int)b];

    public void Request(Rsb rsb, Lkb lkb, LockMode mode, LockFlags flags)
    {
        lkb.RequestedMode = (sbyte)mode;
        lkb.Flags = flags;
        if ((_ignoreConvertQueue || rsb.Converting.IsEmpty) && rsb.Waiting.IsEmpty && CompatibleWithGranted(rsb, lkb, mode))
        {
            Grant(rsb, lkb);
            return;
        }

        if ((flags & LockFlags.NoQueue) != 0)
        {
            lkb.RequestedMode = Lkb.NoMode;
            Bast(rsb, mode, lkb);
            _sink.Completed(rsb, lkb, new LockResult(LockStatus.WouldBlock, LockMode.Null, LockResultFlags.None, FencingToken.None), default);
            return;
        }

        rsb.Waiting.AddLast(lkb);
        lkb.Queue = LkbQueue.Wait;
        Bast(rsb, mode, lkb);
    }

    public void Convert(Rsb rsb, Lkb lkb, LockMode mode, LockFlags flags, ReadOnlySpan<byte> valueBlock)
    {
        var from = (LockMode)lkb.GrantedMode;
        lkb.RequestedMode = (sbyte)mode;
        lkb.Flags = flags;
        if (mode < from && from >= LockMode.ProtectedWrite && (flags & LockFlags.ValueBlock) != 0 && valueBlock.Length > 0)
        {
            Write(rsb, valueBlock);
        }

        if (CompatibleWithGranted(rsb, lkb, mode) && (mode <= from || _ignoreConvertQueue || (flags & LockFlags.QueueConvert) == 0 || rsb.Converting.IsEmpty))
        {
            rsb.Granted.Remove(lkb);
            lkb.Queue = LkbQueue.None;
            Grant(rsb, lkb);
            GrantPending(rsb);
            return;
        }

        if ((flags & LockFlags.NoQueue) != 0)
        {
            lkb.RequestedMode = Lkb.NoMode;
            _sink.Completed(rsb, lkb, new LockResult(LockStatus.WouldBlock, from, LockResultFlags.None, FencingToken.None), default);
            return;
        }

        rsb.Granted.Remove(lkb);
        rsb.Converting.AddLast(lkb);
        lkb.Queue = LkbQueue.Convert;
        if (Deadlocked(rsb, lkb))
        {
            rsb.Converting.Remove(lkb);
            rsb.Granted.AddLast(lkb);
            lkb.Queue = LkbQueue.Grant;
            lkb.RequestedMode = Lkb.NoMode;
            _sink.Completed(rsb, lkb, new LockResult(LockStatus.Deadlock, from, LockResultFlags.None, FencingToken.None), default);
            return;
        }

        Bast(rsb, mode, lkb);
    }

    public void Unlock(Rsb rsb, Lkb lkb, LockFlags flags, ReadOnlySpan<byte> valueBlock)
    {
        if (lkb.GrantedMode >= (sbyte)LockMode.ProtectedWrite && (flags & LockFlags.ValueBlock) != 0 && valueBlock.Length > 0)
        {
            Write(rsb, valueBlock);
        }

        Remove(rsb, lkb);
        lkb.GrantedMode = Lkb.NoMode;
        _sink.Completed(rsb, lkb, new LockResult(LockStatus.Unlocked, LockMode.Null, LockResultFlags.None, FencingToken.None), default);
        GrantPending(rsb);
    }

    public bool Cancel(Rsb rsb, Lkb lkb)
    {
        if (lkb.Queue == LkbQueue.Wait)
        {
            rsb.Waiting.Remove(lkb);
            lkb.Queue = LkbQueue.None;
            lkb.RequestedMode = Lkb.NoMode;
            _sink.Completed(rsb, lkb, new LockResult(LockStatus.Cancelled, LockMode.Null, LockResultFlags.None, FencingToken.None), default);
            GrantPending(rsb);
            return true;
        }

        if (lkb.Queue == LkbQueue.Convert)
        {
            rsb.Converting.Remove(lkb);
            rsb.Granted.AddLast(lkb);
            lkb.Queue = LkbQueue.Grant;
            lkb.RequestedMode = Lkb.NoMode;
            _sink.Completed(rsb, lkb, new LockResult(LockStatus.Cancelled, (LockMode)lkb.GrantedMode, LockResultFlags.None, FencingToken.None), default);
            GrantPending(rsb);
            return true;
        }

        return false;
    }

    public void GrantPending(Rsb rsb)
    {
        for (var lkb = rsb.Converting.Head; lkb is not null;)
        {
            var next = lkb.Next;
            if (CompatibleWithGranted(rsb, lkb, (LockMode)lkb.RequestedMode))
            {
                rsb.Converting.Remove(lkb);
                lkb.Queue = LkbQueue.None;
                Grant(rsb, lkb);
                next = rsb.Converting.Head;
            }

            lkb = next;
        }

        if (!rsb.Converting.IsEmpty && !_ignoreConvertQueue)
        {
            return;
        }

        while (rsb.Waiting.Head is { } head && CompatibleWithGranted(rsb, head, (LockMode)head.RequestedMode))
        {
            rsb.Waiting.Remove(head);
            head.Queue = LkbQueue.None;
            Grant(rsb, head);
        }
    }

    public void Purge(Rsb rsb, Predicate<Lkb> departed)
    {
        foreach (var list in new[] { 0, 1, 2 })
        {
            for (var lkb = list == 0 ? rsb.Granted.Head : list == 1 ? rsb.Converting.Head : rsb.Waiting.Head; lkb is not null;)
            {
                var next = lkb.Next;
                if (departed(lkb))
                {
                    if (lkb.GrantedMode >= (sbyte)LockMode.ProtectedWrite)
                    {
                        rsb.ValueNotValid = true;
                    }

                    Remove(rsb, lkb);
                }

                lkb = next;
            }
        }

        GrantPending(rsb);
    }

    private static void Remove(Rsb rsb, Lkb lkb)
    {
        switch (lkb.Queue)
        {
            case LkbQueue.Grant:
                rsb.Granted.Remove(lkb);
                break;
            case LkbQueue.Convert:
                rsb.Converting.Remove(lkb);
                break;
            case LkbQueue.Wait:
                rsb.Waiting.Remove(lkb);
                break;
        }

        lkb.Queue = LkbQueue.None;
    }

    private static void Write(Rsb rsb, ReadOnlySpan<byte> valueBlock)
    {
        rsb.ValueBlock ??= new byte[valueBlock.Length];
        valueBlock.CopyTo(rsb.ValueBlock);
        rsb.ValueSeq++;
        rsb.ValueNotValid = false;
    }

    private void Grant(Rsb rsb, Lkb lkb)
    {
        var from = lkb.GrantedMode;
        var mode = (LockMode)lkb.RequestedMode;
        lkb.GrantedMode = lkb.RequestedMode;
        lkb.RequestedMode = Lkb.NoMode;
        lkb.HighestBlocking = Lkb.NoMode;
        rsb.Granted.AddLast(lkb);
        lkb.Queue = LkbQueue.Grant;
        var token = mode >= LockMode.ProtectedWrite ? rsb.NextToken() : FencingToken.None;
        if (!token.IsNone)
        {
            lkb.Token = token;
        }

        var read = (lkb.Flags & LockFlags.ValueBlock) != 0 && (sbyte)mode > from;
        var flags = read && rsb.ValueNotValid ? LockResultFlags.ValueNotValid : LockResultFlags.None;
        _sink.Completed(rsb, lkb, new LockResult(LockStatus.Granted, mode, flags, token), read ? rsb.ValueBlock : default);
    }

    private bool CompatibleWithGranted(Rsb rsb, Lkb self, LockMode mode)
    {
        for (var l = rsb.Granted.Head; l is not null; l = l.Next)
        {
            if (l != self && !Compatible(mode, (LockMode)l.GrantedMode))
            {
                return false;
            }
        }

        if (_ignoreConvertQueue)
        {
            return true;
        }

        for (var l = rsb.Converting.Head; l is not null; l = l.Next)
        {
            if (l != self && !Compatible(mode, (LockMode)l.GrantedMode))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Deadlocked(Rsb rsb, Lkb lkb)
    {
        for (var l = rsb.Converting.Head; l is not null; l = l.Next)
        {
            if (l != lkb && !Compatible((LockMode)lkb.RequestedMode, (LockMode)l.GrantedMode) && !Compatible((LockMode)l.RequestedMode, (LockMode)lkb.GrantedMode))
            {
                return true;
            }
        }

        return false;
    }

    private void Bast(Rsb rsb, LockMode mode, Lkb requester)
    {
        if ((requester.Flags & LockFlags.NoQueueBlocking) != 0)
        {
            return;
        }

        for (var l = rsb.Granted.Head; l is not null; l = l.Next)
        {
            if (l != requester && !Compatible(mode, (LockMode)l.GrantedMode) && l.HighestBlocking < (sbyte)mode)
            {
                l.HighestBlocking = (sbyte)mode;
                _sink.Blocking(rsb, l, mode);
            }
        }
    }
}
