using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Cohort.Membership;

namespace Cohort.Quorum.WitnessNode;

/// <summary>A node's request for the witness's vote, renewed every ping.</summary>
/// <param name="Cluster">The cluster's name: a witness serves several clusters, each on its own.</param>
/// <param name="Node">The asking node and incarnation.</param>
/// <param name="View">The view it holds and asks the vote for.</param>
/// <param name="Members">The view's member node ids.</param>
/// <param name="TieBreaker">The node whose partition wins a tie (the same on every node of a cluster).</param>
/// <param name="Lease">How long the grant should last.</param>
/// <param name="ClockDriftBound">ρ, by which the witness lengthens its side of the grant.</param>
/// <param name="Stamp">The node's send time, echoed in the answer; opaque to the witness.</param>
internal sealed record WitnessRequest(string Cluster, NodeIncarnation Node, ViewId View, int[] Members, int TieBreaker, TimeSpan Lease, double ClockDriftBound, long Stamp);

/// <summary>The witness's answer.</summary>
/// <param name="Stamp">The request's stamp.</param>
/// <param name="Granted">Whether the vote is the requested view's, for the lease asked.</param>
/// <param name="Holder">The view holding the vote when it is not the requested one, or null.</param>
/// <param name="Reason">Why, for operators.</param>
/// <param name="RetryAfter">When refused because another view's hold has yet to run out: how long
/// until it does, so the node asks again then rather than a whole ping later; zero otherwise.</param>
internal sealed record WitnessAnswer(long Stamp, bool Granted, ViewId? Holder, string Reason, TimeSpan RetryAfter = default);

/// <summary>
/// The witness protocol over TCP. On accepting, the witness sends a 16-byte random nonce; then each
/// side sends frames <c>[u32 body length][body][HMAC-SHA256(key, nonce ‖ counter ‖ body)]</c>, the
/// counter counting the frames of that direction, so no frame can be replayed into another
/// connection or moved within one. Integers are big-endian. A frame that does not parse or
/// authenticate closes the connection.
/// </summary>
internal static class WitnessProtocol
{
    public const int NonceBytes = 16;
    public const int MacBytes = 32;
    public const int MaxBody = 64 * 1024;
    private const byte RequestType = 1;
    private const byte AnswerType = 2;

    public static byte[] EncodeRequest(WitnessRequest r)
    {
        var name = Encoding.UTF8.GetBytes(r.Cluster);
        var body = new byte[1 + 1 + name.Length + 4 + 8 + 8 + 4 + 4 + 4 + 4 + 8 + 2 + (4 * r.Members.Length)];
        var w = new Writer(body);
        w.U8(RequestType);
        w.U8((byte)name.Length);
        w.Bytes(name);
        w.I32(r.Node.Node.Value);
        w.I64(r.Node.Incarnation);
        w.I64(r.View.Seq);
        w.I32(r.View.Coordinator.Value);
        w.I32(r.TieBreaker);
        w.I32((int)r.Lease.TotalMilliseconds);
        w.I32((int)Math.Round(r.ClockDriftBound * 1_000_000));
        w.I64(r.Stamp);
        w.U16((ushort)r.Members.Length);
        foreach (var m in r.Members)
        {
            w.I32(m);
        }

        return body;
    }

    public static WitnessRequest? DecodeRequest(ReadOnlySpan<byte> body)
    {
        var r = new Reader(body);
        if (r.U8() != RequestType)
        {
            return null;
        }

        var nameLength = r.U8();
        var name = Encoding.UTF8.GetString(r.Bytes(nameLength));
        var node = r.I32();
        var incarnation = r.I64();
        var seq = r.I64();
        var coordinator = r.I32();
        var tieBreaker = r.I32();
        var leaseMs = r.I32();
        var ppm = r.I32();
        var stamp = r.I64();
        var count = r.U16();
        var members = new int[count];
        for (var i = 0; i < count; i++)
        {
            members[i] = r.I32();
        }

        if (!r.Ok || !r.AtEnd || node < 1 || incarnation < 1 || leaseMs < 1 || ppm is < 0 or >= 500_000 || !members.Contains(node))
        {
            return null;
        }

        return new WitnessRequest(name, new NodeIncarnation(new NodeId(node), incarnation), new ViewId(seq, new NodeId(coordinator)), members, tieBreaker, TimeSpan.FromMilliseconds(leaseMs), ppm / 1_000_000.0, stamp);
    }

    public static byte[] EncodeAnswer(WitnessAnswer a)
    {
        var reason = Encoding.UTF8.GetBytes(a.Reason.Length > 400 ? a.Reason[..400] : a.Reason);
        var body = new byte[1 + 8 + 1 + 1 + 8 + 4 + 4 + 2 + reason.Length];
        var w = new Writer(body);
        w.U8(AnswerType);
        w.I64(a.Stamp);
        w.U8(a.Granted ? (byte)1 : (byte)0);
        w.U8(a.Holder is null ? (byte)0 : (byte)1);
        w.I64(a.Holder?.Seq ?? 0);
        w.I32(a.Holder?.Coordinator.Value ?? 0);
        w.I32((int)Math.Clamp(Math.Ceiling(a.RetryAfter.TotalMilliseconds), 0, int.MaxValue));
        w.U16((ushort)reason.Length);
        w.Bytes(reason);
        return body;
    }

    public static WitnessAnswer? DecodeAnswer(ReadOnlySpan<byte> body)
    {
        var r = new Reader(body);
        if (r.U8() != AnswerType)
        {
            return null;
        }

        var stamp = r.I64();
        var granted = r.U8();
        var hasHolder = r.U8();
        var seq = r.I64();
        var coordinator = r.I32();
        var retryMs = r.I32();
        var reason = Encoding.UTF8.GetString(r.Bytes(r.U16()));
        if (!r.Ok || !r.AtEnd || granted > 1 || hasHolder > 1 || retryMs < 0)
        {
            return null;
        }

        return new WitnessAnswer(stamp, granted == 1, hasHolder == 1 ? new ViewId(seq, new NodeId(coordinator)) : null, reason, TimeSpan.FromMilliseconds(retryMs));
    }

    /// <summary>Writes one authenticated frame.</summary>
    public static async ValueTask WriteFrameAsync(Stream stream, byte[] key, byte[] nonce, long counter, byte[] body, CancellationToken ct)
    {
        var frame = new byte[4 + body.Length + MacBytes];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, 4);
        Mac(key, nonce, counter, body, frame.AsSpan(4 + body.Length));
        await stream.WriteAsync(frame, ct).ConfigureAwait(false);
    }

    /// <summary>Reads one frame and checks its MAC; null at a clean end of stream.</summary>
    /// <exception cref="InvalidDataException">The frame is too long or does not authenticate.</exception>
    public static async ValueTask<byte[]?> ReadFrameAsync(Stream stream, byte[] key, byte[] nonce, long counter, CancellationToken ct)
    {
        var header = new byte[4];
        var got = await stream.ReadAtLeastAsync(header, 4, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        if (got == 0)
        {
            return null;
        }

        if (got < 4)
        {
            throw new EndOfStreamException("the connection closed inside a frame");
        }

        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (length is 0 or > MaxBody)
        {
            throw new InvalidDataException($"a frame of {length} bytes (at most {MaxBody})");
        }

        var rest = new byte[length + MacBytes];
        await stream.ReadExactlyAsync(rest, ct).ConfigureAwait(false);
        var body = rest.AsSpan(0, (int)length);
        Span<byte> expected = stackalloc byte[MacBytes];
        Mac(key, nonce, counter, body, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, rest.AsSpan((int)length)))
        {
            throw new InvalidDataException("a frame failed authentication (another cluster key, or tampered)");
        }

        return body.ToArray();
    }

    private static void Mac(byte[] key, byte[] nonce, long counter, ReadOnlySpan<byte> body, Span<byte> mac)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(nonce);
        Span<byte> count = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(count, counter);
        hmac.AppendData(count);
        hmac.AppendData(body);
        hmac.GetHashAndReset(mac);
    }

    private ref struct Writer(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _at;

        public void U8(byte v) => _buffer[_at++] = v;

        public void U16(ushort v)
        {
            BinaryPrimitives.WriteUInt16BigEndian(_buffer[_at..], v);
            _at += 2;
        }

        public void I32(int v)
        {
            BinaryPrimitives.WriteInt32BigEndian(_buffer[_at..], v);
            _at += 4;
        }

        public void I64(long v)
        {
            BinaryPrimitives.WriteInt64BigEndian(_buffer[_at..], v);
            _at += 8;
        }

        public void Bytes(ReadOnlySpan<byte> v)
        {
            v.CopyTo(_buffer[_at..]);
            _at += v.Length;
        }
    }

    /// <summary>Reads without throwing: past the end it returns zeros and clears <see cref="Ok"/>.</summary>
    private ref struct Reader(ReadOnlySpan<byte> buffer)
    {
        private readonly ReadOnlySpan<byte> _buffer = buffer;
        private int _at;

        public bool Ok { get; private set; } = true;

        public readonly bool AtEnd => _at == _buffer.Length;

        public byte U8() => Take(1) is { Length: 1 } s ? s[0] : (byte)0;

        public ushort U16() => Take(2) is { Length: 2 } s ? BinaryPrimitives.ReadUInt16BigEndian(s) : (ushort)0;

        public int I32() => Take(4) is { Length: 4 } s ? BinaryPrimitives.ReadInt32BigEndian(s) : 0;

        public long I64() => Take(8) is { Length: 8 } s ? BinaryPrimitives.ReadInt64BigEndian(s) : 0;

        public ReadOnlySpan<byte> Bytes(int n) => Take(n);

        private ReadOnlySpan<byte> Take(int n)
        {
            if (!Ok || _buffer.Length - _at < n)
            {
                Ok = false;
                return [];
            }

            var s = _buffer.Slice(_at, n);
            _at += n;
            return s;
        }
    }
}
