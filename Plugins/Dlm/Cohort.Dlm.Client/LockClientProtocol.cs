using System.Text.Json;
using System.Text.Json.Serialization;
using Cohort.Locking;

namespace Cohort.Dlm.Client;

/// <summary>
/// The lock-client protocol. A client connects to the agent's admin socket and sends the admin request
/// <c>{"verb":"lock-session"}</c>; after the reply the connection carries <see cref="LockClientMessage"/>s, one JSON
/// object a line, each way. A session that ends without a <see cref="LockOps.Close"/> the agent accepted (the client
/// crashed, or held locks) has its registered process groups killed, and then its locks released.
/// </summary>
internal static class LockClientProtocol
{
    /// <summary>The admin verb that turns a connection into a lock session.</summary>
    public const string Verb = "lock-session";

    /// <summary>The longest line either side accepts: a message with a 4 KiB value block in base64 is far shorter.</summary>
    public const int MaxLineBytes = 64 * 1024;

    /// <summary>Writes one message as a line.</summary>
    public static byte[] Encode(LockClientMessage message) =>
        [.. JsonSerializer.SerializeToUtf8Bytes(message, LockClientJsonContext.Default.LockClientMessage), (byte)'\n'];

    /// <summary>Reads one message of a line.</summary>
    /// <exception cref="FormatException">The line is not a message.</exception>
    public static LockClientMessage Decode(ReadOnlySpan<byte> line)
    {
        try
        {
            return JsonSerializer.Deserialize(line, LockClientJsonContext.Default.LockClientMessage) is { Op: { Length: > 0 } } message
                ? message
                : throw new FormatException("a lock-session message needs an \"op\"");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"not a lock-session message: {ex.Message}", ex);
        }
    }
}

/// <summary>The operations of <see cref="LockClientMessage.Op"/>.</summary>
internal static class LockOps
{
    // client → agent
    public const string Register = "register";     // Pid: the process whose group the agent records (and fsyncs) before any grant
    public const string Join = "join";             // Id (the client's token), Lockspace, ValueBlockLength
    public const string Lock = "lock";             // Id (the client's lock id), Lockspace, Resource, Mode, Flags
    public const string Convert = "convert";       // Id, Mode, Flags, Value
    public const string Unlock = "unlock";         // Id, Flags, Value
    public const string Cancel = "cancel";         // Id
    public const string Close = "close";           // Id: the client is done; its groups rely on nothing any more

    // agent → client
    public const string Registered = "registered"; // Pid, Error
    public const string Joined = "joined";         // Id, Lockspace, ValueBlockLength, Error
    public const string Done = "done";             // Id, Result, Value: the operation in flight of lock Id completed
    public const string Refused = "refused";       // Id, Error: the operation was not accepted (nothing is in flight)
    public const string Blocking = "blocking";     // Id, Mode: lock Id blocks a request for Mode
    public const string Closed = "closed";         // Id, Error: the groups were forgotten (or not: Error says why)
}

/// <summary>One message of a lock session; which fields count depends on <see cref="Op"/> (see <see cref="LockOps"/>).</summary>
internal sealed record LockClientMessage
{
    public required string Op { get; init; }

    public long Id { get; init; }

    public string? Lockspace { get; init; }

    public int ValueBlockLength { get; init; }

    public byte[]? Resource { get; init; }

    public LockMode Mode { get; init; }

    public LockFlags Flags { get; init; }

    public byte[]? Value { get; init; }

    public int Pid { get; init; }

    public LockResult? Result { get; init; }

    public string? Error { get; init; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(LockClientMessage))]
internal sealed partial class LockClientJsonContext : JsonSerializerContext;
