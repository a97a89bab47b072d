using Cohort.Locking;

namespace Cohort.Dlm.Engine;

/// <summary>
/// A resource as a node knows it (Linux's rsb): on its master, the three queues, the value block and the token
/// counter; on another node, who masters it and this node's locks on it. Kept small, like <see cref="Lkb"/>: what
/// few resources need (the convert and wait queues, the value block, and the core's lookup and toss state) is in an
/// <see cref="RsbExtra"/>, there only while something in it is set: a resource whose locks are all granted, without a
/// value block, has none.
/// </summary>
internal sealed partial class Rsb(byte[] name)
{
    /// <summary>The name (1 to 64 bytes).</summary>
    public readonly byte[] Name = name;

    /// <summary>The master's node id; 0 while unknown (a lookup pending or needed).</summary>
    public int Master;

    private Lkb? _granted;
    private RsbExtra? _extra;

    /// <summary>On the master: granted locks, no conversion pending.</summary>
    public LkbList Granted => new(_granted);

    /// <summary>On the master: granted locks converting, FIFO.</summary>
    public LkbList Converting => new(_extra?.Converting);

    /// <summary>On the master: new requests waiting, FIFO.</summary>
    public LkbList Waiting => new(_extra?.Waiting);

    /// <summary>On the master: the value block (the lockspace's length), allocated at the first write.</summary>
    public byte[]? ValueBlock
    {
        get => _extra?.ValueBlock;
        set => SetExtra(static extra => ref extra.ValueBlock, value);
    }

    /// <summary>On the master: bumped at every write of the value block.</summary>
    public ulong ValueSeq
    {
        get => _extra?.ValueSeq ?? 0;
        set => SetExtra(static extra => ref extra.ValueSeq, value);
    }

    /// <summary>On the master: the value block was invalidated and not written since.</summary>
    public bool ValueNotValid
    {
        get => _extra?.ValueNotValid ?? false;
        set => SetExtra(static extra => ref extra.ValueNotValid, value);
    }

    /// <summary>On the master: the epoch in which it took the resource (the first two parts of its tokens).</summary>
    public long EpochViewSeq;

    /// <summary>On the master: see <see cref="EpochViewSeq"/>.</summary>
    public int EpochRecovery;

    /// <summary>On the master: PW/EX grants so far, the last part of the tokens.</summary>
    public long TokenCounter;

    /// <summary>Whether no lock of any node is on its queues (the master may drop it once it was idle long enough).</summary>
    public bool IsIdle => _granted is null && _extra?.Converting is null && _extra?.Waiting is null;

    private RsbExtra Extra => _extra ??= new();

    /// <summary>A field of an <see cref="RsbExtra"/>.</summary>
    private delegate ref T ExtraField<T>(RsbExtra extra);

    /// <summary>Sets a field of the <see cref="RsbExtra"/>, allocating it for a value other than the default and
    /// dropping it once nothing in it is set.</summary>
    private void SetExtra<T>(ExtraField<T> field, T value)
    {
        if (_extra is null && EqualityComparer<T>.Default.Equals(value, default))
        {
            return;
        }

        field(Extra) = value;
        TrimExtra();
    }

    /// <summary>Drops the <see cref="RsbExtra"/> once nothing in it is set: a resource keeps one only while it needs
    /// it.</summary>
    private void TrimExtra()
    {
        if (_extra is { Converting: null, Waiting: null, ValueBlock: null, ValueSeq: 0, ValueNotValid: false, Waiters: null, Parked: null } extra
            && extra.IdleSince == TimeSpan.Zero)
        {
            _extra = null;
        }
    }

    /// <summary>The next fencing token, counted.</summary>
    public FencingToken NextToken() => new(EpochViewSeq, EpochRecovery, ++TokenCounter);

    /// <summary>Takes <paramref name="lkb"/> off the queue it is on, if any, and appends it to <paramref name="to"/>
    /// (none: it is on no queue then), as <see cref="Lkb.Queue"/> records.</summary>
    public void Move(Lkb lkb, LkbQueue to)
    {
        if (lkb.Queue != LkbQueue.None)
        {
            LkbList.Unlink(ref Head(lkb.Queue), lkb);
        }

        if (to != LkbQueue.None)
        {
            LkbList.Append(ref Head(to), lkb);
        }

        lkb.Queue = to;
        TrimExtra();
    }

    /// <summary>Where the first lock of <paramref name="queue"/> (not <see cref="LkbQueue.None"/>) is kept.</summary>
    private ref Lkb? Head(LkbQueue queue)
    {
        if (queue == LkbQueue.Grant)
        {
            return ref _granted;
        }

        return ref queue == LkbQueue.Convert ? ref Extra.Converting : ref Extra.Waiting;
    }
}

/// <summary>What few resources need, apart from <see cref="Rsb"/> (which forwards to it): allocated when a
/// conversion or request waits, the value block is written or invalidated, an operation waits for a lookup or a frame
/// is parked, or a toss scan finds the resource idle; dropped again once none of that holds.</summary>
internal sealed partial class RsbExtra
{
    /// <summary>The first lock of the convert queue (see <see cref="LkbList"/>), or null.</summary>
    public Lkb? Converting;

    /// <summary>The first lock of the wait queue, or null.</summary>
    public Lkb? Waiting;

    /// <summary>See <see cref="Rsb.ValueBlock"/>.</summary>
    public byte[]? ValueBlock;

    /// <summary>See <see cref="Rsb.ValueSeq"/>.</summary>
    public ulong ValueSeq;

    /// <summary>See <see cref="Rsb.ValueNotValid"/>.</summary>
    public bool ValueNotValid;
}
