using System.Buffers.Binary;

namespace Cohort.Membership;

/// <summary>The kinds of membership frame.</summary>
internal enum FrameType : byte
{
    Heartbeat = 1,
    Propose = 2,
    Accept = 3,
    Install = 4,
    Farewell = 5,

    /// <summary>Not a frame: the core's persisted record, in the same encoding.</summary>
    StateRecord = 100,
}

/// <summary>Bits of <see cref="Heartbeat.Flags"/>.</summary>
[Flags]
internal enum HeartbeatFlags : byte
{
    None = 0,

    /// <summary>The sender's promises to every node outside its installed view have expired.</summary>
    PromisesExpired = 1,

    /// <summary>The sender is LEAVING (draining).</summary>
    Leaving = 2,

    /// <summary>The sender is DRAINED: it gave up quorum for good and waits to be excluded.</summary>
    Drained = 4,
}

/// <summary>
/// Sent every heartbeat interval to every configured node. It proves the sender alive, carries its
/// view state, and echoes the recipient's latest heartbeat twice: <see cref="EchoAny"/> proves the
/// link works both ways, <see cref="EchoTime"/> (only in a shared installed view) renews the
/// recipient's quorum lease and binds the sender by a promise. <see cref="ConfigVersion"/> is the newest
/// cluster document version the sender adopted: a node that is behind catches up before it joins a view.
/// </summary>
internal sealed record Heartbeat(
    byte[] ConfigHash,
    long ToIncarnation,
    long SendTime,
    ViewId Installed,
    ViewId Accepted,
    long MaxSeq,
    long EchoAny,
    ViewId EchoView,
    long EchoTime,
    HeartbeatFlags Flags,
    long ConfigVersion);

/// <summary>The coordinator proposes a view, judged under cluster document version <see cref="ConfigVersion"/>;
/// <see cref="CleanLeavers"/> are the excluded members that left cleanly.</summary>
internal sealed record Propose(ViewId Id, byte[] ConfigHash, NodeIncarnation[] Members, NodeIncarnation[] CleanLeavers, long ConfigVersion);

/// <summary>A member accepts proposal <see cref="Id"/>: it stopped acknowledging heartbeats of older views.</summary>
internal sealed record Accept(ViewId Id);

/// <summary>Every member accepted <see cref="Id"/>: install it.</summary>
internal sealed record Install(ViewId Id);

/// <summary>To a DRAINED node: view <see cref="Id"/> excluded you as a clean leaver.</summary>
internal sealed record Farewell(ViewId Id);

/// <summary>What the core persists: the highest view sequence it ever used or saw when it proposed,
/// and the last view it installed (with the cluster document hash it was judged under) and its members — with,
/// in the first view of an incarnation, the members of the previous incarnation's view it reported departed. A
/// restarted incarnation reports as departed those of <see cref="Members"/> its first view leaves out.</summary>
internal sealed record StateRecord(long MaxSeq, ViewId LastInstalled, byte[] ConfigHash, NodeIncarnation[] Members);

/// <summary>
/// The wire format of membership frames: a version byte, a type byte, then fixed-width little-endian
/// fields. Decoding rejects anything malformed (wrong version, unknown type, short or long frame,
/// absurd counts) by returning null; it never throws on input.
/// </summary>
internal static class MembershipFrames
{
    public const byte Version = 1;
    public const int HashBytes = 32;
    private const int ViewIdBytes = 12;
    private const int MemberBytes = 12;
    private const int MaxMembers = 4096;

    public static byte[] Encode(object frame) => frame switch
    {
        Heartbeat h => EncodeHeartbeat(h),
        Propose p => EncodePropose(p),
        Accept a => EncodeId(FrameType.Accept, a.Id),
        Install i => EncodeId(FrameType.Install, i.Id),
        Farewell f => EncodeId(FrameType.Farewell, f.Id),
        StateRecord r => EncodeRecord(r),
        _ => throw new ArgumentException($"not a membership frame: {frame.GetType().Name}", nameof(frame)),
    };

    public static object? Decode(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 2 || frame[0] != Version)
        {
            return null;
        }

        var reader = new Reader(frame[2..]);
        object? decoded = (FrameType)frame[1] switch
        {
            FrameType.Heartbeat => DecodeHeartbeat(ref reader),
            FrameType.Propose => DecodePropose(ref reader),
            FrameType.Accept => reader.ViewId() is { } a ? new Accept(a) : null,
            FrameType.Install => reader.ViewId() is { } i ? new Install(i) : null,
            FrameType.Farewell => reader.ViewId() is { } f ? new Farewell(f) : null,
            FrameType.StateRecord => DecodeRecord(ref reader),
            _ => null,
        };
        return reader.Failed || !reader.AtEnd ? null : decoded;
    }

    /// <summary>One line describing a frame, for traces.</summary>
    public static string Describe(ReadOnlySpan<byte> frame) => Decode(frame) switch
    {
        Heartbeat h => $"heartbeat(view {h.Installed}, accepted {h.Accepted}, echo {h.EchoView}@{h.EchoTime}, {h.Flags}, config version {h.ConfigVersion})",
        Propose p => $"propose {p.Id} [{string.Join(", ", p.Members)}] under config version {p.ConfigVersion}",
        null => $"malformed ({frame.Length} bytes)",
        var other => other.ToString()!,
    };

    private static byte[] EncodeHeartbeat(Heartbeat h)
    {
        var writer = new Writer(2 + HashBytes + 8 + 8 + ViewIdBytes * 3 + 8 + 8 + 8 + 1 + 8, FrameType.Heartbeat);
        writer.Bytes(h.ConfigHash);
        writer.Int64(h.ToIncarnation);
        writer.Int64(h.SendTime);
        writer.ViewId(h.Installed);
        writer.ViewId(h.Accepted);
        writer.Int64(h.MaxSeq);
        writer.Int64(h.EchoAny);
        writer.ViewId(h.EchoView);
        writer.Int64(h.EchoTime);
        writer.Byte((byte)h.Flags);
        writer.Int64(h.ConfigVersion);
        return writer.Done();
    }

    private static Heartbeat? DecodeHeartbeat(ref Reader r)
    {
        var hash = r.Bytes(HashBytes);
        var to = r.Int64();
        var sent = r.Int64();
        var installed = r.ViewId();
        var accepted = r.ViewId();
        var maxSeq = r.Int64();
        var echoAny = r.Int64();
        var echoView = r.ViewId();
        var echoTime = r.Int64();
        var flags = r.Byte();
        var configVersion = r.Int64();
        return r.Failed || (flags & ~7) != 0 || configVersion < 0
            ? null
            : new Heartbeat(hash!, to, sent, installed!.Value, accepted!.Value, maxSeq, echoAny, echoView!.Value, echoTime, (HeartbeatFlags)flags, configVersion);
    }

    private static byte[] EncodePropose(Propose p)
    {
        var writer = new Writer(2 + ViewIdBytes + HashBytes + 4 + ((p.Members.Length + p.CleanLeavers.Length) * MemberBytes) + 8, FrameType.Propose);
        writer.ViewId(p.Id);
        writer.Bytes(p.ConfigHash);
        writer.Members(p.Members);
        writer.Members(p.CleanLeavers);
        writer.Int64(p.ConfigVersion);
        return writer.Done();
    }

    private static Propose? DecodePropose(ref Reader r)
    {
        var id = r.ViewId();
        var hash = r.Bytes(HashBytes);
        var members = r.Members();
        var clean = r.Members();
        var configVersion = r.Int64();
        return r.Failed || configVersion < 0 ? null : new Propose(id!.Value, hash!, members!, clean!, configVersion);
    }

    private static byte[] EncodeRecord(StateRecord r)
    {
        var writer = new Writer(2 + 8 + ViewIdBytes + HashBytes + 2 + r.Members.Length * MemberBytes, FrameType.StateRecord);
        writer.Int64(r.MaxSeq);
        writer.ViewId(r.LastInstalled);
        writer.Bytes(r.ConfigHash);
        writer.Members(r.Members);
        return writer.Done();
    }

    private static StateRecord? DecodeRecord(ref Reader r)
    {
        var maxSeq = r.Int64();
        var installed = r.ViewId();
        var hash = r.Bytes(HashBytes);
        var members = r.Members();
        return r.Failed ? null : new StateRecord(maxSeq, installed!.Value, hash!, members!);
    }

    private static byte[] EncodeId(FrameType type, ViewId id)
    {
        var writer = new Writer(2 + ViewIdBytes, type);
        writer.ViewId(id);
        return writer.Done();
    }

    private ref struct Writer
    {
        private readonly byte[] _buffer;
        private int _at;

        public Writer(int length, FrameType type)
        {
            _buffer = new byte[length];
            _buffer[0] = Version;
            _buffer[1] = (byte)type;
            _at = 2;
        }

        public void Byte(byte value) => _buffer[_at++] = value;

        public void Int64(long value)
        {
            BinaryPrimitives.WriteInt64LittleEndian(_buffer.AsSpan(_at), value);
            _at += 8;
        }

        public void Int32(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_at), value);
            _at += 4;
        }

        public void UInt16(int value)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_at), checked((ushort)value));
            _at += 2;
        }

        public void Bytes(byte[] value)
        {
            if (value.Length != HashBytes)
            {
                throw new ArgumentException($"a config hash is {HashBytes} bytes", nameof(value));
            }

            value.CopyTo(_buffer, _at);
            _at += value.Length;
        }

        public void ViewId(ViewId id)
        {
            Int64(id.Seq);
            Int32(id.Coordinator.Value);
        }

        public void Members(NodeIncarnation[] members)
        {
            UInt16(members.Length);
            foreach (var member in members)
            {
                Int32(member.Node.Value);
                Int64(member.Incarnation);
            }
        }

        public readonly byte[] Done() =>
            _at == _buffer.Length ? _buffer : throw new InvalidOperationException($"frame length {_at}, expected {_buffer.Length}");
    }

    private ref struct Reader(ReadOnlySpan<byte> span)
    {
        private readonly ReadOnlySpan<byte> _span = span;
        private int _at;

        public bool Failed { get; private set; }

        public readonly bool AtEnd => _at == _span.Length;

        public byte Byte() => Take(1) ? _span[_at - 1] : (byte)0;

        public long Int64() => Take(8) ? BinaryPrimitives.ReadInt64LittleEndian(_span[(_at - 8)..]) : 0;

        public int Int32() => Take(4) ? BinaryPrimitives.ReadInt32LittleEndian(_span[(_at - 4)..]) : 0;

        public byte[]? Bytes(int count) => Take(count) ? _span.Slice(_at - count, count).ToArray() : null;

        public ViewId? ViewId()
        {
            var seq = Int64();
            var coordinator = Int32();
            return Failed || seq < 0 ? Fail<ViewId?>() : new ViewId(seq, new NodeId(coordinator));
        }

        public NodeIncarnation[]? Members()
        {
            if (!Take(2))
            {
                return null;
            }

            var count = BinaryPrimitives.ReadUInt16LittleEndian(_span[(_at - 2)..]);
            if (count > MaxMembers || _span.Length - _at < count * MemberBytes)
            {
                return Fail<NodeIncarnation[]?>();
            }

            var members = new NodeIncarnation[count];
            for (var i = 0; i < count; i++)
            {
                var node = Int32();
                members[i] = new NodeIncarnation(new NodeId(node), Int64());
            }

            return members;
        }

        private bool Take(int count)
        {
            if (Failed || _span.Length - _at < count)
            {
                Failed = true;
                return false;
            }

            _at += count;
            return true;
        }

        private T Fail<T>()
        {
            Failed = true;
            return default!;
        }
    }
}
