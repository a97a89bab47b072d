using System.Net.Sockets;
using System.Text.Json;
using Cohort.Dlm.Client;
using Cohort.Host.Agent;
using Cohort.Host.Native;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Admin;

/// <summary>
/// Serves the admin socket: newline-delimited JSON requests and replies over a Unix socket of mode
/// 0660. A client that sends something unparsable gets one error reply and is disconnected; nothing
/// else is affected.
/// </summary>
internal sealed partial class AdminServer : BackgroundService
{
    /// <summary>The longest request line accepted.</summary>
    public const int MaxRequestBytes = 2 * 1024 * 1024; // a cluster document (at most 512 KiB) escaped as a JSON string

    private readonly Socket _listener;
    private readonly string _path;
    private readonly IReadOnlyDictionary<string, Func<AdminRequest, Task<JsonElement>>> _verbs;
    private readonly ILogger<AdminServer> _logger;

    public AdminServer(AdminSocketListener listener, AdminVerbs verbs, LockClients lockClients, ILogger<AdminServer> logger)
        : this(listener, verbs.Table, logger)
    {
        _lockClients = lockClients;
    }

    /// <summary>Serves the lock sessions a <c>lock-session</c> request turns a connection into; null where there are none.</summary>
    private readonly LockClients? _lockClients;

    /// <summary>Serves <paramref name="verbs"/> alone (a joining node answers only some).</summary>
    /// <param name="listener">The bound socket.</param>
    /// <param name="verbs">The verbs it answers.</param>
    /// <param name="logger">Where it logs.</param>
    /// <param name="answered">Called with the verb once a successful reply has been written: what must
    /// happen only after the client has its answer (a joining node stops on <c>leave</c>).</param>
    public AdminServer(AdminSocketListener listener, IReadOnlyDictionary<string, Func<AdminRequest, Task<JsonElement>>> verbs, ILogger<AdminServer> logger, Action<string>? answered = null)
    {
        _listener = listener.Socket;
        _path = listener.Path;
        _verbs = verbs;
        _logger = logger;
        _answered = answered;
    }

    private readonly Action<string>? _answered;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LogListening(_logger, _path);
        var clients = new List<Task>();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var client = await _listener.AcceptAsync(stoppingToken);
                clients.RemoveAll(t => t.IsCompleted);
                clients.Add(ServeAsync(client, stoppingToken));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await Task.WhenAll(clients);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        _listener.Dispose();
        File.Delete(_path);
    }

    private async Task ServeAsync(Socket client, CancellationToken cancellationToken)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        var buffer = new byte[64 * 1024]; // grows, up to MaxRequestBytes, for a request that needs it
        var filled = 0;
        try
        {
            while (true)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', 0, filled);
                if (newline < 0)
                {
                    if (filled == buffer.Length && buffer.Length < MaxRequestBytes)
                    {
                        Array.Resize(ref buffer, Math.Min(buffer.Length * 2, MaxRequestBytes));
                    }

                    if (filled == buffer.Length)
                    {
                        await WriteAsync(stream, new AdminReply(false, Error: $"request longer than {MaxRequestBytes} bytes"), cancellationToken);
                        return;
                    }

                    var read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken);
                    if (read == 0)
                    {
                        return;
                    }

                    filled += read;
                    continue;
                }

                var (reply, verb) = await DispatchAsync(buffer.AsMemory(0, newline));
                await WriteAsync(stream, reply, cancellationToken);
                if (reply.Ok)
                {
                    _answered?.Invoke(verb!);
                }

                if (reply.Ok && verb == LockClientProtocol.Verb && _lockClients is not null)
                {
                    // From here the connection is a lock session (its client waits for this reply before it
                    // sends anything else, so nothing of it was read here).
                    if (filled == newline + 1)
                    {
                        await _lockClients.ServeAsync(client, cancellationToken);
                    }

                    return;
                }

                if (!reply.Ok && reply.Error!.StartsWith("malformed", StringComparison.Ordinal))
                {
                    return;
                }

                buffer.AsSpan(newline + 1, filled - newline - 1).CopyTo(buffer);
                filled -= newline + 1;
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
            // The client went away or the agent is stopping: nothing to answer.
        }
    }

    private async Task<(AdminReply Reply, string? Verb)> DispatchAsync(ReadOnlyMemory<byte> line)
    {
        AdminRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(line.Span, HostJsonContext.Default.AdminRequest);
        }
        catch (JsonException ex)
        {
            return (new AdminReply(false, Error: $"malformed request: {ex.Message}"), null);
        }

        if (request?.Verb is null)
        {
            return (new AdminReply(false, Error: "malformed request: expected {\"verb\": ...}"), null);
        }

        if (!_verbs.TryGetValue(request.Verb, out var handler))
        {
            return (new AdminReply(false, Error: $"unknown verb \"{request.Verb}\"; this agent knows {string.Join(", ", _verbs.Keys.Order(StringComparer.Ordinal))}"), null);
        }

        try
        {
            return (new AdminReply(true, await handler(request)), request.Verb);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            return (new AdminReply(false, Error: ex.Message), request.Verb);
        }
    }

    private static async Task WriteAsync(NetworkStream stream, AdminReply reply, CancellationToken cancellationToken)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(reply, HostJsonContext.Default.AdminReply);
        await stream.WriteAsync(bytes, cancellationToken);
        await stream.WriteAsync("\n"u8.ToArray(), cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "admin socket listening on {Path}")]
    private static partial void LogListening(ILogger logger, string path);
}

/// <summary>
/// The bound admin socket. Binding happens at start-up, before the host runs, so that a socket held
/// by a live agent is a start-up error, and a stale one left by a killed agent is replaced.
/// </summary>
internal sealed class AdminSocketListener : IDisposable
{
    private AdminSocketListener(Socket socket, string path, bool replacedStale)
    {
        Socket = socket;
        Path = path;
        ReplacedStale = replacedStale;
    }

    public Socket Socket { get; }

    public string Path { get; }

    /// <summary>Whether a stale socket file of a dead agent was found and replaced.</summary>
    public bool ReplacedStale { get; }

    public static AdminSocketListener Bind(string path)
    {
        var replaced = false;
        if (File.Exists(path) || Directory.Exists(path))
        {
            if (IsAnswering(path))
            {
                throw new CohortStartupException($"admin socket {path}: a live agent answers on it; stop that agent or choose another Node:AdminSocket", ExitCodes.InUse);
            }

            File.Delete(path);
            replaced = true;
        }

        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        // The socket file takes its mode from the umask at bind(): 0660 from the start, never wider.
        var previous = Libc.umask(0b_001_001_111); // 0117
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(64);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new CohortStartupException($"admin socket {path}: cannot listen: {ex.Message}", ExitCodes.OsError);
        }
        finally
        {
            _ = Libc.umask(previous);
        }

        return new AdminSocketListener(socket, path, replaced);
    }

    public void Dispose() => Socket.Dispose();

    private static bool IsAnswering(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
