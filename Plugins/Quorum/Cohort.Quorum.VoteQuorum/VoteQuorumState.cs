using System.Buffers.Binary;
using Cohort.Membership;

namespace Cohort.Quorum.VoteQuorum;

/// <summary>
/// What votequorum remembers between decisions (persisted by the host as the policy's state): the
/// incarnation of this node that has seen every node at once (wait-for-all), the highest expected
/// votes ever seen (expected-votes tracking), and for last_man_standing the view last decided, since
/// when (this incarnation's clock), and the expected votes it lowered to. Encoded as a version byte
/// and fixed little-endian fields; anything else decodes as nothing remembered (version 1, without the
/// last_man_standing fields, still decodes).
/// </summary>
internal readonly record struct VoteQuorumState(long SawAllAsIncarnation, int TrackedExpected)
{
    private const byte Version1 = 1;
    private const byte Version2 = 2;
    private const int Bytes1 = 1 + 8 + 4;
    private const int Bytes2 = Bytes1 + 8 + 8 + 4 + 8 + 4;

    /// <summary>The incarnation the last_man_standing fields belong to; 0 when none.</summary>
    public long LmsIncarnation { get; init; }

    /// <summary>The view last decided (last_man_standing).</summary>
    public ViewId LmsView { get; init; }

    /// <summary>Since when (<see cref="QuorumContext.Now"/> of <see cref="LmsIncarnation"/>) that view stands.</summary>
    public TimeSpan LmsSince { get; init; }

    /// <summary>The expected votes last_man_standing lowered to; 0 when it has not.</summary>
    public int LmsExpected { get; init; }

    public static VoteQuorumState Decode(ReadOnlySpan<byte> state)
    {
        if (state.Length == Bytes1 && state[0] == Version1)
        {
            return new VoteQuorumState(BinaryPrimitives.ReadInt64LittleEndian(state[1..]), BinaryPrimitives.ReadInt32LittleEndian(state[9..]));
        }

        if (state.Length != Bytes2 || state[0] != Version2)
        {
            return default;
        }

        return new VoteQuorumState(BinaryPrimitives.ReadInt64LittleEndian(state[1..]), BinaryPrimitives.ReadInt32LittleEndian(state[9..]))
        {
            LmsIncarnation = BinaryPrimitives.ReadInt64LittleEndian(state[13..]),
            LmsView = new ViewId(BinaryPrimitives.ReadInt64LittleEndian(state[21..]), new NodeId(BinaryPrimitives.ReadInt32LittleEndian(state[29..]))),
            LmsSince = TimeSpan.FromTicks(BinaryPrimitives.ReadInt64LittleEndian(state[33..])),
            LmsExpected = BinaryPrimitives.ReadInt32LittleEndian(state[41..]),
        };
    }

    public byte[] Encode()
    {
        if (this == default)
        {
            return [];
        }

        if (LmsIncarnation == 0)
        {
            var v1 = new byte[Bytes1];
            v1[0] = Version1;
            BinaryPrimitives.WriteInt64LittleEndian(v1.AsSpan(1), SawAllAsIncarnation);
            BinaryPrimitives.WriteInt32LittleEndian(v1.AsSpan(9), TrackedExpected);
            return v1;
        }

        var bytes = new byte[Bytes2];
        bytes[0] = Version2;
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(1), SawAllAsIncarnation);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(9), TrackedExpected);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(13), LmsIncarnation);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(21), LmsView.Seq);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(29), LmsView.Coordinator.Value);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(33), LmsSince.Ticks);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(41), LmsExpected);
        return bytes;
    }
}
