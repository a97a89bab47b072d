using System.Buffers.Binary;
using System.IO.Hashing;
using Cohort.Membership;

namespace Cohort.Fencing.PoisonPill;

/// <summary>What a message asks of the node whose slot holds it.</summary>
internal enum PillKind : ushort
{
    /// <summary>Die: the fencer waits, then declares the target incarnation dead.</summary>
    Poison = 1,

    /// <summary>Nothing (the slot was cleared by <c>on</c>).</summary>
    Clear = 2,
}

/// <summary>One message in a slot.</summary>
/// <param name="Kind">Poison or clear.</param>
/// <param name="Target">The node whose slot it is, and the incarnation meant.</param>
/// <param name="Fencer">Who wrote it (node 0, incarnation 0 when the writer did not say).</param>
/// <param name="Sequence">One more than the sequence of the message it replaced: a reader can tell a new message.</param>
/// <param name="UnixMilliseconds">When it was written, by the writer's wall clock (for people only).</param>
internal sealed record PillMessage(PillKind Kind, NodeIncarnation Target, NodeIncarnation Fencer, ulong Sequence, long UnixMilliseconds);

/// <summary>What a slot's bytes decode to: a message, nothing (never written: all zeros), or an error.</summary>
internal readonly record struct SlotContent(PillMessage? Message, string? Error)
{
    public bool NeverWritten => Message is null && Error is null;
}

/// <summary>
/// The layout of a poison-pill device: a 4096-byte header block, then one fixed-size slot per node id (slot N at
/// <c>4096 + N × slot size</c>; node ids start at 1, slot 0 is unused).
/// </summary>
/// <remarks>
/// <para>Header (little-endian): <c>"COHORTPP"</c>, version (u32, 1), slot size (u32), slot count (u32), CRC-32 of
/// the 20 bytes before it; the rest of the block is zero. An all-zero header block is a device never laid out.</para>
/// <para>Message (little-endian, in the first 60 bytes of a slot; the rest zero): magic <c>"PILL"</c>, version (u16, 1),
/// kind (u16: 1 poison, 2 clear), target node (i32), 4 zero bytes, target incarnation (i64), fencer node (i32), 4 zero
/// bytes, fencer incarnation (i64), sequence (u64), unix milliseconds (i64), CRC-32 (u32) of the whole slot without
/// these four bytes. An all-zero slot was never written (clear); anything else that does not decode — a torn write, a
/// wrong checksum, garbage, a message for another node — is an error, never clear.</para>
/// </remarks>
internal static class PillLayout
{
    /// <summary>The header block's size; also the alignment of every direct IO.</summary>
    public const int HeaderSize = 4096;

    /// <summary>The size of a slot the agent lays out.</summary>
    public const int SlotSize = 512;

    /// <summary>How many slots the agent lays out: node ids 1 to 255.</summary>
    public const int SlotCount = 256;

    /// <summary>The layout version this agent writes and reads.</summary>
    public const int Version = 1;

    private const int MessageLength = 60;
    private const int ChecksumOffset = 56;

    /// <summary>The device size the agent lays out.</summary>
    public static long DeviceSize => HeaderSize + ((long)SlotCount * SlotSize);

    private static ReadOnlySpan<byte> HeaderMagic => "COHORTPP"u8;

    private static ReadOnlySpan<byte> MessageMagic => "PILL"u8;

    /// <summary>Where slot <paramref name="node"/> starts.</summary>
    public static long OffsetOf(int node, int slotSize) => HeaderSize + ((long)node * slotSize);

    /// <summary>Writes the header this agent lays out into <paramref name="block"/> (<see cref="HeaderSize"/> bytes).</summary>
    public static void WriteHeader(Span<byte> block)
    {
        block[..HeaderSize].Clear();
        HeaderMagic.CopyTo(block);
        BinaryPrimitives.WriteUInt32LittleEndian(block[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(block[12..], SlotSize);
        BinaryPrimitives.WriteUInt32LittleEndian(block[16..], SlotCount);
        BinaryPrimitives.WriteUInt32LittleEndian(block[20..], Crc32.HashToUInt32(block[..20]));
    }

    /// <summary>Reads a header block: the slot size and count, or why it is not a header (null error and zero sizes
    /// for a block never written).</summary>
    public static (int SlotSize, int SlotCount, string? Error) ReadHeader(ReadOnlySpan<byte> block)
    {
        if (block.Length < HeaderSize)
        {
            return (0, 0, $"the header block is short ({block.Length} of {HeaderSize} bytes)");
        }

        if (!block[..HeaderSize].ContainsAnyExcept((byte)0))
        {
            return (0, 0, null);
        }

        if (!block[..8].SequenceEqual(HeaderMagic))
        {
            return (0, 0, "the header block does not start with COHORTPP: not a poison-pill device (or overwritten)");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(block[20..]) != Crc32.HashToUInt32(block[..20]))
        {
            return (0, 0, "the header's checksum is wrong (torn or damaged)");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(block[8..]);
        var slotSize = BinaryPrimitives.ReadUInt32LittleEndian(block[12..]);
        var slotCount = BinaryPrimitives.ReadUInt32LittleEndian(block[16..]);
        if (version != Version)
        {
            return (0, 0, $"layout version {version}; this agent knows version {Version}");
        }

        if (slotSize < MessageLength || slotSize > HeaderSize || slotSize % 512 != 0 || slotCount is 0 or > 65536)
        {
            return (0, 0, $"slot size {slotSize} and count {slotCount}: expected a multiple of 512 up to {HeaderSize}, and 1 to 65536 slots");
        }

        return ((int)slotSize, (int)slotCount, null);
    }

    /// <summary>Encodes <paramref name="message"/> into <paramref name="slot"/> (the whole slot: the rest is zeroed).</summary>
    public static void Encode(PillMessage message, Span<byte> slot)
    {
        ArgumentNullException.ThrowIfNull(message);
        slot.Clear();
        MessageMagic.CopyTo(slot);
        BinaryPrimitives.WriteUInt16LittleEndian(slot[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(slot[6..], (ushort)message.Kind);
        BinaryPrimitives.WriteInt32LittleEndian(slot[8..], message.Target.Node.Value);
        BinaryPrimitives.WriteInt64LittleEndian(slot[16..], message.Target.Incarnation);
        BinaryPrimitives.WriteInt32LittleEndian(slot[24..], message.Fencer.Node.Value);
        BinaryPrimitives.WriteInt64LittleEndian(slot[32..], message.Fencer.Incarnation);
        BinaryPrimitives.WriteUInt64LittleEndian(slot[40..], message.Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(slot[48..], message.UnixMilliseconds);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[ChecksumOffset..], Checksum(slot));
    }

    /// <summary>Decodes slot <paramref name="node"/>'s bytes.</summary>
    public static SlotContent Decode(ReadOnlySpan<byte> slot, int node)
    {
        if (slot.Length < MessageLength)
        {
            return new SlotContent(null, $"slot {node} is short ({slot.Length} bytes)");
        }

        if (!slot.ContainsAnyExcept((byte)0))
        {
            return default;
        }

        if (!slot[..4].SequenceEqual(MessageMagic))
        {
            return new SlotContent(null, $"slot {node} holds no message (garbage: it does not start with PILL)");
        }

        if (BinaryPrimitives.ReadUInt32LittleEndian(slot[ChecksumOffset..]) != Checksum(slot))
        {
            return new SlotContent(null, $"slot {node}'s checksum is wrong (a torn write, or damaged)");
        }

        var version = BinaryPrimitives.ReadUInt16LittleEndian(slot[4..]);
        var kind = (PillKind)BinaryPrimitives.ReadUInt16LittleEndian(slot[6..]);
        if (version != Version || kind is not (PillKind.Poison or PillKind.Clear))
        {
            return new SlotContent(null, $"slot {node} holds a message of version {version}, kind {(ushort)kind}: unknown to this agent");
        }

        var target = new NodeIncarnation(new NodeId(BinaryPrimitives.ReadInt32LittleEndian(slot[8..])), BinaryPrimitives.ReadInt64LittleEndian(slot[16..]));
        if (target.Node.Value != node)
        {
            return new SlotContent(null, $"slot {node} holds a message for node {target.Node}: misplaced");
        }

        var fencer = new NodeIncarnation(new NodeId(BinaryPrimitives.ReadInt32LittleEndian(slot[24..])), BinaryPrimitives.ReadInt64LittleEndian(slot[32..]));
        return new SlotContent(
            new PillMessage(kind, target, fencer, BinaryPrimitives.ReadUInt64LittleEndian(slot[40..]), BinaryPrimitives.ReadInt64LittleEndian(slot[48..])),
            null);
    }

    // Everything but the checksum itself: a torn write anywhere in the slot shows.
    private static uint Checksum(ReadOnlySpan<byte> slot)
    {
        var crc = new Crc32();
        crc.Append(slot[..ChecksumOffset]);
        crc.Append(slot[(ChecksumOffset + 4)..]);
        return crc.GetCurrentHashAsUInt32();
    }
}
