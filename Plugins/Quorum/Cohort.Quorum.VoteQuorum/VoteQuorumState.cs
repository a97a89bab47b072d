using System.Buffers.Binary;

namespace Cohort.Quorum.VoteQuorum;

/// <summary>
/// What votequorum remembers between decisions (persisted by the host as the policy's state): the
/// incarnation of this node that has seen every node at once (wait-for-all), and the highest expected
/// votes ever seen (expected-votes tracking). Encoded as a version byte and fixed little-endian fields;
/// anything else decodes as nothing remembered.
/// </summary>
internal readonly record struct VoteQuorumState(long SawAllAsIncarnation, int TrackedExpected)
{
    private const byte Version = 1;
    private const int Bytes = 1 + 8 + 4;

    public static VoteQuorumState Decode(ReadOnlySpan<byte> state) =>
        state.Length == Bytes && state[0] == Version
            ? new VoteQuorumState(BinaryPrimitives.ReadInt64LittleEndian(state[1..]), BinaryPrimitives.ReadInt32LittleEndian(state[9..]))
            : default;

    public byte[] Encode()
    {
        if (this == default)
        {
            return [];
        }

        var bytes = new byte[Bytes];
        bytes[0] = Version;
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(1), SawAllAsIncarnation);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(9), TrackedExpected);
        return bytes;
    }
}
