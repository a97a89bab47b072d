using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using Cohort.ClusterConfiguration;
using Cohort.Membership;

namespace Cohort.Ccs;

/// <summary>Little-endian writer for frames and records.</summary>
internal sealed class WireWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);

    public WireWriter U8(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
        return this;
    }

    public WireWriter I32(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
        return this;
    }

    public WireWriter I64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
        return this;
    }

    public WireWriter Bytes(ReadOnlySpan<byte> value)
    {
        value.CopyTo(_buffer.GetSpan(value.Length));
        _buffer.Advance(value.Length);
        return this;
    }

    public WireWriter Blob(ReadOnlySpan<byte> value) => I32(value.Length).Bytes(value);

    public WireWriter Ballot(ViewId ballot) => I64(ballot.Seq).I32(ballot.Coordinator.Value);

    public WireWriter Hash(string sha256)
    {
        Span<byte> hash = stackalloc byte[32];
        Convert.FromHexString(sha256, hash, out _, out _);
        return Bytes(hash);
    }

    public WireWriter Entry(ConfigVersion entry)
    {
        I64(entry.Version).Ballot(entry.Ballot).I32(entry.Origin.Node.Value).I64(entry.Origin.Incarnation).I64(entry.RequestId);
        I64(entry.ProposedAt.ToUnixTimeMilliseconds()).Hash(entry.Sha256);
        return Blob(entry.Document.Span);
    }

    public WireWriter OptionalEntry(ConfigVersion? entry) => entry is null ? U8(0) : U8(1).Entry(entry);

    public int Length => _buffer.WrittenCount;

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();

    /// <summary>The bytes followed by their SHA-256, so a torn or damaged record is detected.</summary>
    public byte[] ToSealedArray()
    {
        var body = _buffer.WrittenSpan;
        var result = new byte[body.Length + 32];
        body.CopyTo(result);
        SHA256.HashData(body, result.AsSpan(body.Length));
        return result;
    }
}

/// <summary>Reader matching <see cref="WireWriter"/>; every read is bounds-checked and throws
/// <see cref="InvalidDataException"/> past the end.</summary>
internal ref struct WireReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _at;

    public WireReader(ReadOnlySpan<byte> data) => _data = data;

    public readonly bool AtEnd => _at == _data.Length;

    public static ReadOnlySpan<byte> Unseal(ReadOnlySpan<byte> record, string name)
    {
        if (record.Length < 32)
        {
            throw new InvalidDataException($"{name}: truncated ({record.Length} bytes)");
        }

        var body = record[..^32];
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(body, hash);
        if (!hash.SequenceEqual(record[^32..]))
        {
            throw new InvalidDataException($"{name}: corrupt (its checksum does not match its contents)");
        }

        return body;
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || _data.Length - _at < count)
        {
            throw new InvalidDataException("truncated");
        }

        var slice = _data.Slice(_at, count);
        _at += count;
        return slice;
    }

    public byte U8() => Take(1)[0];

    public int I32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public ReadOnlySpan<byte> Bytes(int count) => Take(count);

    public byte[] Blob() => Take(I32()).ToArray();

    public ViewId Ballot()
    {
        var seq = I64();
        return new ViewId(seq, new NodeId(I32()));
    }

    public string Hash() => Convert.ToHexStringLower(Take(32));

    public ConfigVersion Entry()
    {
        var version = I64();
        var ballot = Ballot();
        var origin = new NodeIncarnation(new NodeId(I32()), I64());
        var requestId = I64();
        var at = DateTimeOffset.FromUnixTimeMilliseconds(I64());
        var sha = Hash();
        var document = Blob();
        if (version < 1 || !sha.Equals(CcsHash.Of(document), StringComparison.Ordinal))
        {
            throw new InvalidDataException($"version {version}: its document does not match its hash");
        }

        return new ConfigVersion(version, document, sha, ballot, origin, requestId, at);
    }

    public ConfigVersion? OptionalEntry() => U8() switch
    {
        0 => null,
        1 => Entry(),
        var other => throw new InvalidDataException($"bad presence byte {other}"),
    };
}

/// <summary>Hashes of documents.</summary>
public static class CcsHash
{
    /// <summary>SHA-256 of a document, lower-case hex.</summary>
    public static string Of(ReadOnlySpan<byte> document) => Convert.ToHexStringLower(SHA256.HashData(document));
}
