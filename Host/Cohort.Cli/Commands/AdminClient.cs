using System.CommandLine;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;
using Cohort.Host.Configuration;

namespace Cohort.Cli.Commands;

/// <summary>Talks to a running agent over its admin socket.</summary>
internal sealed class AdminClient
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(10);

    private AdminClient(string socketPath) => SocketPath = socketPath;

    public string SocketPath { get; }

    /// <summary>The options every client verb takes to find its agent.</summary>
    public static (Option<FileInfo?> Config, Option<string?> Socket) CreateOptions() =>
    (
        new Option<FileInfo?>("--config", "-c") { Description = "The node file of the agent to ask." },
        new Option<string?>("--socket") { Description = "The agent's admin socket (default: $COHORT_SOCKET, else from --config)." }
    );

    /// <summary>Finds the socket from <c>--socket</c>, then <c>COHORT_SOCKET</c>, then <c>--config</c>.</summary>
    public static AdminClient Locate(FileInfo? config, string? socket)
    {
        if (!string.IsNullOrEmpty(socket))
        {
            return new AdminClient(Path.GetFullPath(socket));
        }

        if (Environment.GetEnvironmentVariable("COHORT_SOCKET") is { Length: > 0 } fromEnvironment)
        {
            return new AdminClient(Path.GetFullPath(fromEnvironment));
        }

        if (config is not null)
        {
            var configuration = ConfigurationLoader.Load(config.FullName, []);
            return new AdminClient(configuration.Node.EffectiveAdminSocket);
        }

        throw new CohortStartupException("no agent named: pass --config FILE (the agent's node file), --socket PATH, or set COHORT_SOCKET", ExitCodes.Usage);
    }

    /// <summary>Sends one request and returns the result of a successful reply.</summary>
    public Task<JsonElement> CallAsync(string verb, CancellationToken cancellationToken) => CallAsync(verb, null, cancellationToken);

    /// <summary>Sends one request with arguments and returns the result of a successful reply.</summary>
    /// <param name="verb">The verb.</param>
    /// <param name="arguments">Its arguments, or null.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <param name="replyTimeout">How long to wait for the answer; default 10 s.</param>
    public async Task<JsonElement> CallAsync(string verb, JsonElement? arguments, CancellationToken cancellationToken, TimeSpan? replyTimeout = null)
    {
        var wait = replyTimeout ?? ReplyTimeout;
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), cancellationToken);
        }
        catch (SocketException ex)
        {
            var why = !File.Exists(SocketPath) ? "the socket does not exist"
                : ex.SocketErrorCode == SocketError.ConnectionRefused ? "connection refused: the agent that made it is gone"
                : ex.Message;
            throw new CohortStartupException($"no agent answers on {SocketPath} ({why}); is `cohort agent` running?", ExitCodes.Unavailable);
        }

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var request = JsonSerializer.SerializeToUtf8Bytes(new AdminRequest(verb, arguments), HostJsonContext.Default.AdminRequest);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(wait);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string? line;
        try
        {
            await stream.WriteAsync(request.Append((byte)'\n').ToArray(), cancellationToken);
            line = await reader.ReadLineAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CohortStartupException($"the agent on {SocketPath} did not answer \"{verb}\" within {wait.TotalSeconds:0} s", ExitCodes.Unavailable);
        }
        catch (IOException)
        {
            // The agent went away mid-request (it was stopping): the same as no answer.
            line = null;
        }

        if (line is null)
        {
            throw new CohortStartupException($"the agent on {SocketPath} closed the connection without answering \"{verb}\"", ExitCodes.Unavailable);
        }

        var reply = JsonSerializer.Deserialize(line, HostJsonContext.Default.AdminReply)!;
        if (!reply.Ok || reply.Result is not { } result)
        {
            throw new CohortStartupException($"the agent refused \"{verb}\": {reply.Error}", ExitCodes.Failure);
        }

        return result;
    }
}
