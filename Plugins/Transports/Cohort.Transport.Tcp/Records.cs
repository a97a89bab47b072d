using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Cohort.Transport.Tcp;

/// <summary>The kinds of record on an authenticated connection.</summary>
internal enum RecordKind : byte
{
    /// <summary>A chunk of a frame: lane, first/last flags, the frame's sequence number in its lane.</summary>
    Data = 1,

    /// <summary>The highest frame sequence number delivered, per lane (cumulative).</summary>
    Ack = 2,

    /// <summary>Nothing: keeps an idle connection known to be alive.</summary>
    Ping = 3,

    /// <summary>The dialer's first record: the session epoch it holds with the acceptor.</summary>
    Resume = 4,

    /// <summary>The acceptor's first record: the epoch agreed, and what it has delivered per lane.</summary>
    Resumed = 5,
}

/// <summary>Bits of a data record's flags.</summary>
[Flags]
internal enum ChunkFlags : byte
{
    None = 0,
    First = 1,
    Last = 2,
}

/// <summary>One record as parsed; <see cref="Payload"/> is valid until the next parse on the same buffer.</summary>
internal readonly ref struct Record(RecordKind kind, byte lane, ChunkFlags flags, long seq, ReadOnlySpan<byte> payload)
{
    public RecordKind Kind { get; } = kind;

    public byte Lane { get; } = lane;

    public ChunkFlags Flags { get; } = flags;

    public long Seq { get; } = seq;

    public ReadOnlySpan<byte> Payload { get; } = payload;
}

/// <summary>
/// The record layer: after the handshake, each direction of a connection is a sequence of records,
/// <c>header(16) payload tag(32)</c>. The header is the payload length (4 bytes, at most
/// <see cref="MaxPayloadBytes"/>), kind, lane, flags, a reserved zero byte, and a sequence number (8);
/// all little-endian. The tag is HMAC-SHA256, under the direction's key, over an implicit record
/// counter (0, 1, 2, ... in that direction of that connection), the header and the payload: a record
/// replayed, dropped, reordered or moved to another connection fails authentication.
/// </summary>
internal static class Records
{
    public const int HeaderBytes = 16;
    public const int TagBytes = 32;

    /// <summary>The largest payload of one record: frames above it are sent as several chunks, so a
    /// membership frame never waits behind more than one chunk of bulk data.</summary>
    public const int MaxPayloadBytes = 64 * 1024;

    public const int MaxRecordBytes = HeaderBytes + MaxPayloadBytes + TagBytes;
    public const int LaneCount = 2;

    public static int Size(int payloadLength) => HeaderBytes + payloadLength + TagBytes;

    public static void WriteHeader(Span<byte> destination, RecordKind kind, byte lane, ChunkFlags flags, long seq, int payloadLength)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, payloadLength);
        destination[4] = (byte)kind;
        destination[5] = lane;
        destination[6] = (byte)flags;
        destination[7] = 0;
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], seq);
    }

    /// <summary>Checks a header on its own, before anything is read or allocated for the payload.</summary>
    /// <returns>Null if well formed; else what is wrong.</returns>
    public static string? CheckHeader(ReadOnlySpan<byte> header, out int payloadLength)
    {
        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        payloadLength = 0;
        if (length > MaxPayloadBytes)
        {
            return $"a record of {length} bytes (at most {MaxPayloadBytes})";
        }

        payloadLength = (int)length;
        var kind = (RecordKind)header[4];
        var lane = header[5];
        var flags = (ChunkFlags)header[6];
        var seq = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
        if (header[7] != 0)
        {
            return "a reserved header byte that is not zero";
        }

        return kind switch
        {
            RecordKind.Data when lane >= LaneCount => $"data on lane {lane}",
            RecordKind.Data when (byte)flags > 3 => $"unknown chunk flags {(byte)flags}",
            RecordKind.Data when seq < 1 => $"a data record with sequence number {seq}",
            RecordKind.Data => null,
            RecordKind.Ack when payloadLength != 16 || lane != 0 || flags != 0 || seq != 0 => "a malformed acknowledgement",
            RecordKind.Ping when payloadLength != 0 || lane != 0 || flags != 0 || seq != 0 => "a malformed ping",
            RecordKind.Resume when payloadLength != 8 || lane != 0 || flags != 0 || seq != 0 => "a malformed resume",
            RecordKind.Resumed when payloadLength != 24 || lane != 0 || flags != 0 || seq != 0 => "a malformed resumed",
            RecordKind.Ack or RecordKind.Ping or RecordKind.Resume or RecordKind.Resumed => null,
            _ => $"unknown record kind {(byte)kind}",
        };
    }

    /// <summary>Reads the two per-lane numbers of an <see cref="RecordKind.Ack"/> payload.</summary>
    public static (long Membership, long Data) ReadLanePair(ReadOnlySpan<byte> payload) =>
        (BinaryPrimitives.ReadInt64LittleEndian(payload), BinaryPrimitives.ReadInt64LittleEndian(payload[8..]));

    public static void WriteLanePair(Span<byte> destination, long membership, long data)
    {
        BinaryPrimitives.WriteInt64LittleEndian(destination, membership);
        BinaryPrimitives.WriteInt64LittleEndian(destination[8..], data);
    }
}

/// <summary>Seals records for one direction of a connection: counts them and tags each.</summary>
internal sealed class RecordSealer(byte[] key) : IDisposable
{
    private readonly IncrementalHash _mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
    private long _counter;

    /// <summary>Writes one whole record into <paramref name="destination"/>; returns its size.</summary>
    public int Seal(Span<byte> destination, RecordKind kind, byte lane, ChunkFlags flags, long seq, ReadOnlySpan<byte> payload)
    {
        Records.WriteHeader(destination, kind, lane, flags, seq, payload.Length);
        payload.CopyTo(destination[Records.HeaderBytes..]);
        Tag(_mac, _counter++, destination[..(Records.HeaderBytes + payload.Length)], destination.Slice(Records.HeaderBytes + payload.Length, Records.TagBytes));
        return Records.Size(payload.Length);
    }

    public void Dispose() => _mac.Dispose();

    internal static void Tag(IncrementalHash mac, long counter, ReadOnlySpan<byte> headerAndPayload, Span<byte> tag)
    {
        Span<byte> count = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(count, counter);
        mac.AppendData(count);
        mac.AppendData(headerAndPayload);
        mac.GetHashAndReset(tag);
    }
}

/// <summary>The outcome of <see cref="RecordParser.Parse"/>.</summary>
internal enum ParseStatus
{
    /// <summary>The buffer holds no whole record yet; read more (the header was checked if complete).</summary>
    NeedMore,

    /// <summary>One record parsed and authenticated.</summary>
    Record,

    /// <summary>The bytes are not a valid record: close the connection.</summary>
    Malformed,
}

/// <summary>
/// Parses and authenticates the records of one direction of a connection, from a buffer the caller
/// fills. Checks each header before its payload is awaited, so a hostile length costs nothing.
/// </summary>
/// <param name="key">The direction's key; null bypasses authentication (fuzzing the decoder only).</param>
internal sealed class RecordParser(byte[]? key) : IDisposable
{
    private readonly IncrementalHash? _mac = key is null ? null : IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
    private long _counter;

    /// <summary>Why the last <see cref="ParseStatus.Malformed"/> was returned.</summary>
    public string Error { get; private set; } = "";

    public ParseStatus Parse(ReadOnlySpan<byte> buffer, out Record record, out int consumed)
    {
        record = default;
        consumed = 0;
        if (buffer.Length < Records.HeaderBytes)
        {
            return ParseStatus.NeedMore;
        }

        if (Records.CheckHeader(buffer, out var length) is { } problem)
        {
            Error = problem;
            return ParseStatus.Malformed;
        }

        var size = Records.Size(length);
        if (buffer.Length < size)
        {
            return ParseStatus.NeedMore;
        }

        var sealedPart = buffer[..(Records.HeaderBytes + length)];
        if (_mac is not null)
        {
            Span<byte> expected = stackalloc byte[Records.TagBytes];
            RecordSealer.Tag(_mac, _counter, sealedPart, expected);
            if (!CryptographicOperations.FixedTimeEquals(expected, buffer.Slice(Records.HeaderBytes + length, Records.TagBytes)))
            {
                Error = "a record that fails authentication (forged, corrupted, replayed or out of order)";
                return ParseStatus.Malformed;
            }
        }

        _counter++;
        consumed = size;
        record = new Record(
            (RecordKind)buffer[4],
            buffer[5],
            (ChunkFlags)buffer[6],
            BinaryPrimitives.ReadInt64LittleEndian(buffer[8..]),
            buffer.Slice(Records.HeaderBytes, length));
        return ParseStatus.Record;
    }

    public void Dispose() => _mac?.Dispose();
}
