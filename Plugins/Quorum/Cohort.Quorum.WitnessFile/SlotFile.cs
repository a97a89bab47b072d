using System.Buffers.Binary;
using System.Security.Cryptography;
using Cohort.Membership;
using Microsoft.Win32.SafeHandles;

namespace Cohort.Quorum.WitnessFile;

/// <summary>
/// The shared file: one 512-byte slot per node, in the document's node order. A slot holds a magic
/// number, the owner's node id and incarnation, a write counter, the claimed view (if any) and an
/// 8-byte SHA-256 prefix of the rest; all zeros is a slot never written. A slot that fails its check
/// (a write in flight) reads as null.
/// </summary>
internal sealed class SlotFile : IDisposable
{
    public const int SlotBytes = 512;
    private const uint Magic = 0x43574631; // "CWF1"
    private const int Body = 4 + 4 + 8 + 8 + 1 + 8 + 4;

    private readonly SafeFileHandle _handle;
    private readonly int _slots;

    private SlotFile(SafeFileHandle handle, int slots)
    {
        _handle = handle;
        _slots = slots;
    }

    /// <summary>Opens (creating if missing) the file for <paramref name="slots"/> slots.</summary>
    /// <exception cref="IOException">The file cannot be opened.</exception>
    public static SlotFile Open(string path, int slots)
    {
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.None);
        return new SlotFile(handle, slots);
    }

    /// <summary>Reads every slot.</summary>
    public SlotContent?[] ReadAll()
    {
        var buffer = new byte[_slots * SlotBytes];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = RandomAccess.Read(_handle, buffer.AsSpan(read), read);
            if (n == 0)
            {
                break; // short file: the rest was never written
            }

            read += n;
        }

        var slots = new SlotContent?[_slots];
        for (var i = 0; i < _slots; i++)
        {
            slots[i] = Decode(buffer.AsSpan(i * SlotBytes, SlotBytes));
        }

        return slots;
    }

    /// <summary>Writes one slot and flushes it to the device.</summary>
    public void Write(int slot, SlotContent content)
    {
        var buffer = new byte[SlotBytes];
        Encode(content, buffer);
        RandomAccess.Write(_handle, buffer, (long)slot * SlotBytes);
        RandomAccess.FlushToDisk(_handle);
    }

    public void Dispose() => _handle.Dispose();

    internal static void Encode(SlotContent content, Span<byte> slot)
    {
        slot.Clear();
        BinaryPrimitives.WriteUInt32BigEndian(slot, Magic);
        BinaryPrimitives.WriteInt32BigEndian(slot[4..], content.Node.Value);
        BinaryPrimitives.WriteInt64BigEndian(slot[8..], content.Incarnation);
        BinaryPrimitives.WriteInt64BigEndian(slot[16..], content.Counter);
        slot[24] = content.Claim is null ? (byte)0 : (byte)1;
        BinaryPrimitives.WriteInt64BigEndian(slot[25..], content.Claim?.Seq ?? 0);
        BinaryPrimitives.WriteInt32BigEndian(slot[33..], content.Claim?.Coordinator.Value ?? 0);
        SHA256.HashData(slot[..Body])[..8].CopyTo(slot[Body..]);
    }

    internal static SlotContent? Decode(ReadOnlySpan<byte> slot)
    {
        if (!slot.ContainsAnyExcept((byte)0))
        {
            return new SlotContent(default, 0, 0, null); // never written
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(slot) != Magic || !SHA256.HashData(slot[..Body])[..8].AsSpan().SequenceEqual(slot.Slice(Body, 8)) || slot[24] > 1)
        {
            return null;
        }

        ViewId? claim = slot[24] == 1 ? new ViewId(BinaryPrimitives.ReadInt64BigEndian(slot[25..]), new NodeId(BinaryPrimitives.ReadInt32BigEndian(slot[33..]))) : null;
        return new SlotContent(new NodeId(BinaryPrimitives.ReadInt32BigEndian(slot[4..])), BinaryPrimitives.ReadInt64BigEndian(slot[8..]), BinaryPrimitives.ReadInt64BigEndian(slot[16..]), claim);
    }
}
