using System.Buffers.Binary;
using Cohort.Locking;
using Cohort.Membership;

namespace Cohort.Dlm;

/// <summary>The lock manager's message types.</summary>
internal enum MessageType : byte
{
    Hello = 1,
    HelloReply = 2,
    Goodbye = 3,
    Stop = 4,
    StopRefused = 5,
    Barrier = 6,
    DirAdd = 7,
    Claim = 8,
    ClaimReply = 9,
    Copies = 10,
    RecoveryRequest = 11,
    Lookup = 20,
    LookupReply = 21,
    Remove = 22,
    RemoveReply = 23,
    Request = 30,
    Convert = 31,
    Unlock = 32,
    Cancel = 33,
    Reply = 34,
    Blocking = 35,
    NotMaster = 36,
}

/// <summary>
/// The binary framing of lock-manager messages. Every frame starts with <see cref="DlmFrames.Tag"/>, the type, the
/// lockspace's global id (XxHash32 of its name) and the sender's recovery sequence; the body follows, little-endian.
/// A lock operation is one small frame (about 40 bytes plus the name and value block).
/// </summary>
internal sealed class FrameWriter
{
    private byte[] _buffer = new byte[256];
    private int _length;

    public FrameWriter Start(MessageType type, uint lockspace, DlmRecoverySequence seq)
    {
        _length = 0;
        U8(DlmFrames.Tag);
        U8((byte)type);
        U32(lockspace);
        I64(seq.ViewSeq);
        I32(seq.Attempt);
        I32(seq.Coordinator.Value);
        return this;
    }

    public FrameWriter U8(byte value)
    {
        Ensure(1);
        _buffer[_length++] = value;
        return this;
    }

    public FrameWriter U32(uint value)
    {
        Ensure(4);
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_length), value);
        _length += 4;
        return this;
    }

    public FrameWriter I32(int value) => U32((uint)value);

    public FrameWriter I64(long value)
    {
        Ensure(8);
        BinaryPrimitives.WriteInt64LittleEndian(_buffer.AsSpan(_length), value);
        _length += 8;
        return this;
    }

    /// <summary>A byte string of up to 65535 bytes, length-prefixed.</summary>
    public FrameWriter Bytes(ReadOnlySpan<byte> value)
    {
        Ensure(2 + value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(_length), (ushort)value.Length);
        value.CopyTo(_buffer.AsSpan(_length + 2));
        _length += 2 + value.Length;
        return this;
    }

    public FrameWriter Incarnation(NodeIncarnation value) => I32(value.Node.Value).I64(value.Incarnation);

    public FrameWriter Token(FencingToken token) => I64(token.ViewSeq).I32(token.Recovery).I64(token.Counter);

    public int Length => _length;

    public byte[] ToArray() => _buffer.AsSpan(0, _length).ToArray();

    private void Ensure(int more)
    {
        if (_length + more > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
        }
    }
}

/// <summary>Reads a frame; every read fails (returns false, and <see cref="Ok"/> turns false) past the end.</summary>
internal ref struct FrameReader(ReadOnlySpan<byte> frame)
{
    /// <summary>The fixed header's length.</summary>
    public const int HeaderLength = 1 + 1 + 4 + 8 + 4 + 4;

    private readonly ReadOnlySpan<byte> _frame = frame;
    private int _at;

    public bool Ok { get; private set; } = true;

    public readonly bool AtEnd => _at == _frame.Length;

    public static bool TryHeader(ReadOnlySpan<byte> frame, out MessageType type, out uint lockspace, out DlmRecoverySequence seq)
    {
        var r = new FrameReader(frame);
        var tag = r.U8();
        type = (MessageType)r.U8();
        lockspace = r.U32();
        var view = r.I64();
        var attempt = r.I32();
        var coordinator = r.I32();
        seq = new DlmRecoverySequence(view, attempt, new NodeId(coordinator));
        return r.Ok && tag == DlmFrames.Tag && Enum.IsDefined(type);
    }

    public byte U8()
    {
        if (!Need(1))
        {
            return 0;
        }

        return _frame[_at++];
    }

    public uint U32()
    {
        if (!Need(4))
        {
            return 0;
        }

        var v = BinaryPrimitives.ReadUInt32LittleEndian(_frame[_at..]);
        _at += 4;
        return v;
    }

    public int I32() => (int)U32();

    public long I64()
    {
        if (!Need(8))
        {
            return 0;
        }

        var v = BinaryPrimitives.ReadInt64LittleEndian(_frame[_at..]);
        _at += 8;
        return v;
    }

    public ReadOnlySpan<byte> Bytes()
    {
        if (!Need(2))
        {
            return default;
        }

        int n = BinaryPrimitives.ReadUInt16LittleEndian(_frame[_at..]);
        _at += 2;
        if (!Need(n))
        {
            return default;
        }

        var v = _frame.Slice(_at, n);
        _at += n;
        return v;
    }

    public NodeIncarnation Incarnation() => new(new NodeId(I32()), I64());

    public FencingToken Token() => new(I64(), I32(), I64());

    /// <summary>A lock mode, or false for a byte that is none (<see cref="Engine.Lkb.NoMode"/> is allowed).</summary>
    public sbyte Mode()
    {
        var b = (sbyte)U8();
        if (b is < Engine.Lkb.NoMode or > (sbyte)LockMode.Exclusive)
        {
            Ok = false;
        }

        return b;
    }

    public void Skip(int count)
    {
        if (Need(count))
        {
            _at += count;
        }
    }

    private bool Need(int count)
    {
        if (!Ok || _frame.Length - _at < count)
        {
            Ok = false;
            return false;
        }

        return true;
    }
}
