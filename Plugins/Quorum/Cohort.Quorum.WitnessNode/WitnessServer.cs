using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace Cohort.Quorum.WitnessNode;

/// <summary>What <c>cohort witness</c> runs with.</summary>
/// <param name="Listen">Where to listen, <c>host:port</c>.</param>
/// <param name="Key">The cluster key every node proves it holds.</param>
/// <param name="MaxLease">The longest lease it grants; after a start it grants nothing for this long.</param>
public sealed record WitnessServerOptions(string Listen, ReadOnlyMemory<byte> Key, TimeSpan MaxLease);

/// <summary>
/// The witness process: accepts nodes' connections, answers their requests through one
/// <see cref="WitnessArbiter"/> per cluster name, and logs every move of a vote.
/// </summary>
public sealed partial class WitnessServer : IAsyncDisposable
{
    private readonly WitnessServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TcpListener _listener;
    private readonly long _origin;
    private readonly Lock _sync = new();
    private readonly Dictionary<string, WitnessArbiter> _clusters = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _connections = [];
    private Task? _accepting;

    private WitnessServer(WitnessServerOptions options, TimeProvider time, ILogger logger, TcpListener listener)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _listener = listener;
        _origin = time.GetTimestamp();
    }

    /// <summary>The address it listens on (with the port it got, when 0 was asked for).</summary>
    public IPEndPoint LocalEndpoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Binds and starts serving.</summary>
    /// <exception cref="ArgumentException">The listen address is not <c>host:port</c>.</exception>
    /// <exception cref="SocketException">The address cannot be bound.</exception>
    public static WitnessServer Start(WitnessServerOptions options, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!WitnessNodeOptions.TryParseAddress(options.Listen, out var host, out var port, allowAnyPort: true))
        {
            throw new ArgumentException($"--listen: expected host:port, such as 127.0.0.1:7409, got \"{options.Listen}\"", nameof(options));
        }

        var address = IPAddress.TryParse(host, out var ip) ? ip : Dns.GetHostAddresses(host)[0];
        var listener = new TcpListener(address, port);
        listener.Start();
        var server = new WitnessServer(options, time, logger, listener);
        server._accepting = server.AcceptAsync();
        LogListening(logger, server.LocalEndpoint, options.MaxLease.TotalMilliseconds);
        return server;
    }

    /// <summary>The most connections served at once; more are closed on arrival.</summary>
    public const int MaxConnections = 1024;

    /// <summary>How long a connection may stay silent before the witness closes it.</summary>
    public static TimeSpan IdleTimeout { get; } = TimeSpan.FromSeconds(30);

    private TimeSpan Now => _time.GetElapsedTime(_origin);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                LogAcceptFailed(_logger, ex.Message);
                continue;
            }

            lock (_sync)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                if (_connections.Count >= MaxConnections)
                {
                    LogTooManyConnections(_logger, MaxConnections);
                    client.Dispose(); // nodes redial; a flood of strangers cannot exhaust the witness
                    continue;
                }

                _connections.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        var peer = client.Client.RemoteEndPoint?.ToString() ?? "?";
        using var _ = client;
        client.NoDelay = true;
        var key = _options.Key.ToArray();
        try
        {
            var stream = client.GetStream();
            var nonce = RandomNumberGenerator.GetBytes(WitnessProtocol.NonceBytes);
            await stream.WriteAsync(nonce, _stop.Token).ConfigureAwait(false);
            for (long counter = 0; ; counter++)
            {
                // A node asks every ping; a connection silent for this long is closed (it redials).
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                idle.CancelAfter(IdleTimeout);
                var body = await WitnessProtocol.ReadFrameAsync(stream, key, nonce, counter * 2, idle.Token).ConfigureAwait(false);
                if (body is null)
                {
                    return;
                }

                var request = WitnessProtocol.DecodeRequest(body) ?? throw new InvalidDataException("a request that does not parse");
                var answer = Answer(request);
                await WitnessProtocol.WriteFrameAsync(stream, key, nonce, (counter * 2) + 1, WitnessProtocol.EncodeAnswer(answer), _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException)
        {
            LogConnectionIdle(_logger, peer, IdleTimeout.TotalSeconds);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or SocketException)
        {
            LogConnectionClosed(_logger, peer, ex.Message);
        }
    }

    private WitnessAnswer Answer(WitnessRequest request)
    {
        lock (_sync)
        {
            var now = Now;
            if (!_clusters.TryGetValue(request.Cluster, out var arbiter))
            {
                arbiter = new WitnessArbiter(_options.MaxLease, TimeSpan.Zero);
                _clusters.Add(request.Cluster, arbiter);
            }

            var before = arbiter.LastGranted;
            var answer = arbiter.Ask(request, now);
            if (answer.Granted && arbiter.LastGranted != before)
            {
                LogGranted(_logger, request.Cluster, request.View, string.Join(",", request.Members), request.Node.ToString());
            }

            return answer;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        Task[] pending;
        lock (_sync)
        {
            pending = [.. _connections];
        }

        await Task.WhenAll([.. pending, _accepting ?? Task.CompletedTask]).ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "witness listening on {Endpoint}; grants leases of up to {MaxLease} ms, none during the first lease after start")]
    private static partial void LogListening(ILogger logger, IPEndPoint endpoint, double maxLease);

    [LoggerMessage(Level = LogLevel.Warning, Message = "cluster {Cluster}: the vote goes to view {View} [{Members}] (asked by {Node})")]
    private static partial void LogGranted(ILogger logger, string cluster, Cohort.Membership.ViewId view, string members, string node);

    [LoggerMessage(Level = LogLevel.Information, Message = "connection from {Peer} closed: {Reason}")]
    private static partial void LogConnectionClosed(ILogger logger, string peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "connection from {Peer} closed: silent for {Seconds} s")]
    private static partial void LogConnectionIdle(ILogger logger, string peer, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Max} connections already: a new one was closed")]
    private static partial void LogTooManyConnections(ILogger logger, int max);

    [LoggerMessage(Level = LogLevel.Warning, Message = "accept failed: {Reason}")]
    private static partial void LogAcceptFailed(ILogger logger, string reason);
}
