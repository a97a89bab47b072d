using Cohort.Locking;

namespace Cohort.Dlm.Engine;

/// <summary>
/// A resource as a node knows it (Linux's rsb): on its master, the three queues, the value block and the token
/// counter; on another node, who masters it and this node's locks on it.
/// </summary>
internal sealed partial class Rsb(byte[] name, uint hash)
{
    /// <summary>The name (1 to 64 bytes).</summary>
    public readonly byte[] Name = name;

    /// <summary>XxHash32 of <see cref="Name"/>, which places it in the directory.</summary>
    public readonly uint Hash = hash;

    /// <summary>The master's node id; 0 while unknown (a lookup pending or needed).</summary>
    public int Master;

    /// <summary>On the master: granted locks, no conversion pending.</summary>
    public LkbList Granted;

    /// <summary>On the master: granted locks converting, FIFO.</summary>
    public LkbList Converting;

    /// <summary>On the master: new requests waiting, FIFO.</summary>
    public LkbList Waiting;

    /// <summary>On the master: the value block (the lockspace's length), allocated at the first write.</summary>
    public byte[]? ValueBlock;

    /// <summary>On the master: bumped at every write of the value block.</summary>
    public ulong ValueSeq;

    /// <summary>On the master: the value block was invalidated and not written since.</summary>
    public bool ValueNotValid;

    /// <summary>On the master: the epoch in which it took the resource (the first two parts of its tokens).</summary>
    public long EpochViewSeq;

    /// <summary>On the master: see <see cref="EpochViewSeq"/>.</summary>
    public int EpochRecovery;

    /// <summary>On the master: PW/EX grants so far, the last part of the tokens.</summary>
    public long TokenCounter;

    /// <summary>Whether no lock of any node is on its queues (the master may drop it once it was idle long enough).</summary>
    public bool IsIdle => Granted.IsEmpty && Converting.IsEmpty && Waiting.IsEmpty;

    /// <summary>The next fencing token, counted.</summary>
    public FencingToken NextToken() => new(EpochViewSeq, EpochRecovery, ++TokenCounter);
}
