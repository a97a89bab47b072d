namespace Cohort.Transport.Tcp;

/// <summary>
/// Reassembles frames from the data records of one connection, per lane: a frame is one record with
/// both <see cref="ChunkFlags.First"/> and <see cref="ChunkFlags.Last"/>, or a First chunk, middle
/// chunks and a Last chunk of one sequence number, with chunks of the other lane possibly between
/// them. A partial frame dies with its connection; the sender resends the whole frame.
/// </summary>
internal sealed class FrameAssembler
{
    private readonly Partial?[] _partials = new Partial?[Records.LaneCount];

    /// <summary>Why the last <see cref="Accept"/> returned false.</summary>
    public string Error { get; private set; } = "";

    /// <summary>Takes one data record.</summary>
    /// <param name="record">A data record whose header passed <see cref="Records.CheckHeader"/>.</param>
    /// <param name="frame">The completed frame, or null while it is incomplete.</param>
    /// <returns>False when the record does not fit the frame under assembly: close the connection.</returns>
    public bool Accept(in Record record, out byte[]? frame)
    {
        frame = null;
        var first = (record.Flags & ChunkFlags.First) != 0;
        var last = (record.Flags & ChunkFlags.Last) != 0;
        ref var partial = ref _partials[record.Lane];
        if (first)
        {
            if (partial is not null)
            {
                Error = $"a new frame on lane {record.Lane} before frame {partial.Seq} was complete";
                return false;
            }

            if (last)
            {
                frame = record.Payload.ToArray();
                return true;
            }

            partial = new Partial(record.Seq);
        }
        else if (partial is null || partial.Seq != record.Seq)
        {
            Error = $"a continuation of frame {record.Seq} on lane {record.Lane} that was not started";
            return false;
        }

        if (partial.Length + record.Payload.Length > TransportLimits.MaxFrameBytes)
        {
            Error = $"a frame longer than {TransportLimits.MaxFrameBytes} bytes";
            return false;
        }

        partial.Append(record.Payload);
        if (last)
        {
            frame = partial.ToArray();
            partial = null;
        }

        return true;
    }

    private sealed class Partial(long seq)
    {
        private byte[] _buffer = new byte[Records.MaxPayloadBytes * 2];

        public long Seq { get; } = seq;

        public int Length { get; private set; }

        public void Append(ReadOnlySpan<byte> chunk)
        {
            if (Length + chunk.Length > _buffer.Length)
            {
                Array.Resize(ref _buffer, Math.Min(TransportLimits.MaxFrameBytes, Math.Max(_buffer.Length * 2, Length + chunk.Length)));
            }

            chunk.CopyTo(_buffer.AsSpan(Length));
            Length += chunk.Length;
        }

        public byte[] ToArray() => _buffer.AsSpan(0, Length).ToArray();
    }
}
