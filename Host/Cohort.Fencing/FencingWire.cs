using System.Text.Json;
using System.Text.Json.Serialization;
using Cohort.Membership;

namespace Cohort.Fencing;

/// <summary>
/// How the fencing core encodes its frames and its record: UTF-8 JSON of the types below, frames behind
/// <see cref="Tag"/>. Decoding never throws: anything malformed is null (the frame is dropped, the record refused).
/// </summary>
internal static class FencingWire
{
    /// <summary>The first byte of every fencing frame on the data lane.</summary>
    public const byte Tag = 0xFE;

    public static byte[] EncodeFrame(WireFrame frame)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(frame, FencingJsonContext.Default.WireFrame);
        var bytes = new byte[json.Length + 1];
        bytes[0] = Tag;
        json.CopyTo(bytes, 1);
        return bytes;
    }

    public static WireFrame? DecodeFrame(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 2 || frame[0] != Tag)
        {
            return null;
        }

        try
        {
            var decoded = JsonSerializer.Deserialize(frame[1..], FencingJsonContext.Default.WireFrame);
            return decoded is not null && (decoded.Sync is null || IsWhole(decoded.Sync)) ? decoded : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Whether every list of a state and every entry in them is present (JSON may leave any out).</summary>
    private static bool IsWhole(WireState state) =>
        state.Victims is not null && state.Candidates is not null && state.Fenced is not null && state.Clean is not null && state.History is not null
        && !state.Victims.Contains(null!) && !state.Candidates.Contains(null!) && !state.Fenced.Contains(null!) && !state.Clean.Contains(null!) && !state.History.Contains(null!);

    public static byte[] EncodeState(WireState state) => JsonSerializer.SerializeToUtf8Bytes(state, FencingJsonContext.Default.WireState);

    /// <exception cref="InvalidDataException">The record is not one this core wrote.</exception>
    public static WireState DecodeState(ReadOnlySpan<byte> bytes)
    {
        try
        {
            var state = JsonSerializer.Deserialize(bytes, FencingJsonContext.Default.WireState);
            return state is not null && IsWhole(state) ? state : throw new InvalidDataException("fencing: the record is incomplete");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"fencing: the record is damaged ({ex.Message})", ex);
        }
    }

    public static WireRecord From(FenceRecord r) => new(r.Requester.Node.Value, r.Requester.Incarnation, r.Seq, r.Victim.Node.Value, r.Victim.Incarnation, r.Level, r.Device, (int)r.Action, (int)r.Result, (int)r.Reason, r.Fenced, r.Attempt, r.UnixMilliseconds, r.Detail);

    /// <summary>The record, or null when a field is out of range.</summary>
    public static FenceRecord? To(WireRecord w) =>
        w.Device is null || w.Detail is null || !Enum.IsDefined((FenceAction)w.Action) || !Enum.IsDefined((FenceResult)w.Result) || !Enum.IsDefined((FenceReason)w.Reason)
            ? null
            : new FenceRecord(new NodeIncarnation(new NodeId(w.RequesterNode), w.RequesterIncarnation), w.Seq, new NodeIncarnation(new NodeId(w.VictimNode), w.VictimIncarnation), w.Level, w.Device, (FenceAction)w.Action, (FenceResult)w.Result, (FenceReason)w.Reason, w.Fenced, w.Attempt, w.UnixMilliseconds, w.Detail);
}

/// <summary>One history record on the wire.</summary>
internal sealed record WireRecord(int RequesterNode, long RequesterIncarnation, long Seq, int VictimNode, long VictimIncarnation, int Level, string Device, int Action, int Result, int Reason, bool Fenced, int Attempt, long UnixMilliseconds, string Detail);

/// <summary>A victim on the wire: the incarnation, why, the action an operator asked for (0: the topology's), and the
/// incarnations that named it (null or empty: not known).</summary>
internal sealed record WireVictim(int Node, long Incarnation, int Reason, int Action, List<WireIncarnation>? Namers = null);

/// <summary>An incarnation on the wire.</summary>
internal sealed record WireIncarnation(int Node, long Incarnation);

/// <summary>What a node knows: persisted as its record, and sent to the members of every view it installs.</summary>
internal sealed record WireState(List<WireVictim> Victims, List<WireVictim> Candidates, List<WireIncarnation> Fenced, List<WireIncarnation> Clean, List<WireRecord> History);

/// <summary>A fencing frame: exactly one of its parts is set.</summary>
internal sealed record WireFrame(WireRecord? Record = null, WireState? Sync = null, WireVictim? Victim = null, int? Ack = null);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(WireFrame))]
[JsonSerializable(typeof(WireState))]
internal sealed partial class FencingJsonContext : JsonSerializerContext;
