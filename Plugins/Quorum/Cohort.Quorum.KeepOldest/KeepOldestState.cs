using System.Buffers.Binary;
using Cohort.Membership;

namespace Cohort.Quorum.KeepOldest;

/// <summary>
/// What keep-oldest remembers: the members of the last majority view this node judged, each with its
/// age — the sequence number of the first such view its incarnation was in. Encoded as a version
/// byte, a count, and (node, incarnation, since) little-endian triples; anything else decodes as
/// nothing remembered.
/// </summary>
internal sealed record KeepOldestState(IReadOnlyList<KeepOldestState.Member> Members)
{
    private const byte Version = 1;
    private const int Entry = 4 + 8 + 8;

    public static KeepOldestState Empty { get; } = new([]);

    public static KeepOldestState Decode(ReadOnlySpan<byte> state)
    {
        if (state.Length < 5 || state[0] != Version)
        {
            return Empty;
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(state[1..]);
        if (count < 0 || state.Length != 5 + (count * Entry))
        {
            return Empty;
        }

        var members = new Member[count];
        for (var i = 0; i < count; i++)
        {
            var at = state[(5 + (i * Entry))..];
            members[i] = new Member(new NodeId(BinaryPrimitives.ReadInt32LittleEndian(at)), BinaryPrimitives.ReadInt64LittleEndian(at[4..]), BinaryPrimitives.ReadInt64LittleEndian(at[12..]));
        }

        return new KeepOldestState(members);
    }

    public byte[] Encode()
    {
        if (Members.Count == 0)
        {
            return [];
        }

        var bytes = new byte[5 + (Members.Count * Entry)];
        bytes[0] = Version;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(1), Members.Count);
        for (var i = 0; i < Members.Count; i++)
        {
            var at = bytes.AsSpan(5 + (i * Entry));
            BinaryPrimitives.WriteInt32LittleEndian(at, Members[i].Node.Value);
            BinaryPrimitives.WriteInt64LittleEndian(at[4..], Members[i].Incarnation);
            BinaryPrimitives.WriteInt64LittleEndian(at[12..], Members[i].Since);
        }

        return bytes;
    }

    /// <summary>A remembered member: incarnation 0 means any (the document's nodes, before any view).</summary>
    internal sealed record Member(NodeId Node, long Incarnation, long Since);
}
