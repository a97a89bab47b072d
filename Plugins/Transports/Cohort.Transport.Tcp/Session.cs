namespace Cohort.Transport.Tcp;

/// <summary>
/// One session with one peer incarnation, in one epoch: per lane, the frames sent and not yet
/// acknowledged (numbered 1, 2, ... in the lane) and the number of frames delivered from the peer.
/// Frames stay queued until the peer acknowledges them, so a new connection resends exactly what
/// the old one may have lost. Guarded by the owning <see cref="PeerLink"/>'s lock.
/// </summary>
internal sealed class Session(long peerIncarnation, long epoch, long now)
{
    public long PeerIncarnation { get; } = peerIncarnation;

    public long Epoch { get; } = epoch;

    public OutLane[] Out { get; } = [new(), new()];

    /// <summary>The highest sequence number delivered from the peer, per lane.</summary>
    public long[] Delivered { get; } = new long[Records.LaneCount];

    public long QueuedBytes { get; private set; }

    /// <summary>When an acknowledgement last took frames off the queue, or the queue last became non-empty.</summary>
    public long LastProgress { get; private set; } = now;

    public bool HasPending => Out[0].Count + Out[1].Count > 0;

    public long Enqueue(int lane, byte[] frame, long now)
    {
        if (!HasPending)
        {
            LastProgress = now;
        }

        QueuedBytes += frame.Length;
        return Out[lane].Enqueue(frame);
    }

    /// <summary>Drops the frames the peer acknowledged; false if it acknowledges frames never sent.</summary>
    public bool Acknowledge(int lane, long delivered, long now)
    {
        var lanes = Out[lane];
        if (delivered > lanes.LastSeq)
        {
            return false;
        }

        var freed = lanes.DropUpTo(delivered);
        if (freed > 0)
        {
            QueuedBytes -= freed;
            LastProgress = now;
        }

        return true;
    }
}

/// <summary>The unacknowledged frames of one lane, in sequence order, as a ring buffer.</summary>
internal sealed class OutLane
{
    private byte[][] _frames = new byte[16][];
    private int _head;

    /// <summary>How many frames are queued: sequence numbers <see cref="Acked"/>+1 to <see cref="LastSeq"/>.</summary>
    public int Count { get; private set; }

    /// <summary>The highest sequence number the peer acknowledged.</summary>
    public long Acked { get; private set; }

    /// <summary>The sequence number of the newest frame queued (0 before the first).</summary>
    public long LastSeq => Acked + Count;

    public long Enqueue(byte[] frame)
    {
        if (Count == _frames.Length)
        {
            var grown = new byte[_frames.Length * 2][];
            for (var i = 0; i < Count; i++)
            {
                grown[i] = _frames[(_head + i) % _frames.Length];
            }

            _frames = grown;
            _head = 0;
        }

        _frames[(_head + Count) % _frames.Length] = frame;
        Count++;
        return LastSeq;
    }

    /// <summary>The queued frame of sequence number <paramref name="seq"/>, or null if it is not queued.</summary>
    public byte[]? Get(long seq) =>
        seq > Acked && seq <= LastSeq ? _frames[(int)((_head + (seq - Acked - 1)) % _frames.Length)] : null;

    /// <summary>Drops frames up to <paramref name="seq"/>; returns how many bytes that freed.</summary>
    public long DropUpTo(long seq)
    {
        long freed = 0;
        while (Count > 0 && Acked < seq)
        {
            freed += _frames[_head].Length;
            _frames[_head] = null!;
            _head = (_head + 1) % _frames.Length;
            Count--;
            Acked++;
        }

        return freed;
    }
}
