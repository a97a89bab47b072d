using Cohort.ClusterConfiguration;
using Cohort.Membership;

namespace Cohort.Ccs;

/// <summary>The kinds of CCS frame.</summary>
internal enum CcsKind : byte
{
    /// <summary>Leader → members: promise ballot B to no lower ballot, and tell me what you accepted.</summary>
    Prepare = 1,

    /// <summary>Member → leader: promised; carries the member's accepted version, if any.</summary>
    Promise = 2,

    /// <summary>Member → leader: refused; it promised a higher ballot.</summary>
    Nack = 3,

    /// <summary>Leader → members: accept this version under ballot B (after fsyncing it).</summary>
    Accept = 4,

    /// <summary>Member → leader: the version is fsynced here under ballot B.</summary>
    Accepted = 5,

    /// <summary>Leader → members: this (version, hash) committed.</summary>
    Commit = 6,

    /// <summary>Any → any: send me the committed versions after this one.</summary>
    Fetch = 7,

    /// <summary>Reply to Fetch: committed versions, ascending.</summary>
    Entries = 8,

    /// <summary>Origin → leader: a request to propose.</summary>
    Forward = 9,

    /// <summary>Leader → origin: the outcome of a forwarded request (conflict, invalid, committed).</summary>
    Result = 10,
}

/// <summary>
/// A CCS frame: [tag][kind][genesis hash prefix, 8 bytes][sender's committed version][its hash][body].
/// Every frame carries the sender's committed version so that a node that is behind learns it at once
/// and fetches, and a node that holds another document under the same version learns that too.
/// </summary>
internal readonly record struct CcsHeader(CcsKind Kind, ulong Genesis, long Committed, string CommittedSha);

/// <summary>Encoders and decoders of CCS frames and records.</summary>
internal static class CcsCodec
{
    public const int MaxDocumentBytes = 512 * 1024;

    private const uint AcceptorMagic = 0x41534343; // "CCSA"
    private const uint LogMagic = 0x4C534343; // "CCSL"
    private const byte RecordFormat = 1;

    public static readonly string NoHash = new('0', 64);

    public static ulong GenesisPrefix(string? genesisSha) =>
        genesisSha is null ? 0 : ulong.Parse(genesisSha.AsSpan(0, 16), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);

    public static WireWriter Frame(CcsKind kind, ulong genesis, ConfigVersion? committed)
    {
        var writer = new WireWriter().U8(ConfigFrames.Tag).U8((byte)kind).I64((long)genesis);
        return writer.I64(committed?.Version ?? 0).Hash(committed?.Sha256 ?? NoHash);
    }

    /// <summary>Reads the header; null when the frame is not a CCS frame.</summary>
    public static CcsHeader? Header(ref WireReader reader)
    {
        if (reader.U8() != ConfigFrames.Tag)
        {
            return null;
        }

        var kind = (CcsKind)reader.U8();
        if (kind is < CcsKind.Prepare or > CcsKind.Result)
        {
            throw new InvalidDataException($"unknown kind {(byte)kind}");
        }

        var genesis = (ulong)reader.I64();
        return new CcsHeader(kind, genesis, reader.I64(), reader.Hash());
    }

    public static byte[] AcceptorRecord(ViewId? promised, ConfigVersion? accepted)
    {
        var writer = new WireWriter().I32(unchecked((int)AcceptorMagic)).U8(RecordFormat);
        writer.U8(promised is null ? (byte)0 : (byte)1).Ballot(promised ?? default);
        return writer.OptionalEntry(accepted).ToSealedArray();
    }

    public static (ViewId? Promised, ConfigVersion? Accepted) ReadAcceptor(ReadOnlySpan<byte> record, string name)
    {
        var reader = Open(record, name, AcceptorMagic);
        try
        {
            var hasPromise = reader.U8() == 1;
            var ballot = reader.Ballot();
            var accepted = reader.OptionalEntry();
            return (hasPromise ? ballot : null, accepted);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{name}: {ex.Message}", ex);
        }
    }

    public static byte[] LogRecord(string? genesisSha, IReadOnlyList<ConfigVersion> history)
    {
        var writer = new WireWriter().I32(unchecked((int)LogMagic)).U8(RecordFormat);
        writer.U8(genesisSha is null ? (byte)0 : (byte)1).Hash(genesisSha ?? NoHash).I32(history.Count);
        foreach (var entry in history)
        {
            writer.Entry(entry);
        }

        return writer.ToSealedArray();
    }

    public static (string? Genesis, List<ConfigVersion> History) ReadLog(ReadOnlySpan<byte> record, string name)
    {
        var reader = Open(record, name, LogMagic);
        try
        {
            var hasGenesis = reader.U8() == 1;
            var genesis = reader.Hash();
            var count = reader.I32();
            var history = new List<ConfigVersion>();
            for (var i = 0; i < count; i++)
            {
                var entry = reader.Entry();
                if (history.Count > 0 && entry.Version <= history[^1].Version)
                {
                    throw new InvalidDataException($"versions out of order ({history[^1].Version}, then {entry.Version})");
                }

                history.Add(entry);
            }

            return (hasGenesis ? genesis : null, history);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{name}: {ex.Message}", ex);
        }
    }

    private static WireReader Open(ReadOnlySpan<byte> record, string name, uint magic)
    {
        var reader = new WireReader(WireReader.Unseal(record, name));
        if (unchecked((uint)reader.I32()) != magic)
        {
            throw new InvalidDataException($"{name}: not a CCS record");
        }

        if (reader.U8() is var format && format != RecordFormat)
        {
            throw new InvalidDataException($"{name}: record format {format}, this build reads {RecordFormat}");
        }

        return reader;
    }
}
