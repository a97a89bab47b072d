using System.Net.Sockets;
using Cohort.Membership;
using Microsoft.Extensions.Logging;

namespace Cohort.Quorum.WitnessNode;

/// <summary>
/// The <c>witness-node</c> device on one node: keeps one connection to <c>cohort witness</c>, asks
/// for the vote for the node's view every ping (at once when the view changes), and reports each
/// answer as a grant counted from the request's send time, shortened by ρ.
/// </summary>
internal sealed partial class WitnessNodeDevice(WitnessNodeOptions options, ILogger logger) : IQuorumDevice, IDisposable
{
    private static readonly TimeSpan RetryMin = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan RetryMax = TimeSpan.FromSeconds(1);

    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _sync = new();
    private QuorumDeviceSession? _session;
    private View? _view;
    private QuorumDeviceGrant _last = new(null, TimeSpan.Zero, "not connected yet");
    private Task _loop = Task.CompletedTask;

    public Task StartAsync(QuorumDeviceSession session, CancellationToken cancellationToken)
    {
        _session = session ?? throw new ArgumentNullException(nameof(session));
        if (session.ClusterKey.IsEmpty)
        {
            throw new InvalidOperationException("witness-node needs the cluster key (Node:KeyFile) to prove itself to the witness");
        }

        _loop = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public void ViewChanged(View? view)
    {
        lock (_sync)
        {
            _view = view;
        }

        Wake();
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stop.Dispose();
        _wake.Dispose();
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // already awake
        }
    }

    private async Task RunAsync()
    {
        var session = _session!;
        var key = session.ClusterKey.ToArray();
        var tieBreaker = options.TieBreakerNode(session.Nodes).Value;
        if (!WitnessNodeOptions.TryParseAddress(options.Address, out var host, out var port))
        {
            throw new InvalidOperationException($"{WitnessNodeOptions.Section}:Address is not host:port; validate first");
        }

        var retry = RetryMin;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                using var client = new TcpClient { NoDelay = true };
                using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                {
                    connecting.CancelAfter(options.Lease);
                    await client.ConnectAsync(host, port, connecting.Token).ConfigureAwait(false);
                }

                var stream = client.GetStream();
                var nonce = new byte[WitnessProtocol.NonceBytes];
                using (var reading = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                {
                    reading.CancelAfter(options.Lease);
                    await stream.ReadExactlyAsync(nonce, reading.Token).ConfigureAwait(false);
                }

                retry = RetryMin;
                LogConnected(logger, options.Address);
                for (long counter = 0; !_stop.IsCancellationRequested; counter++)
                {
                    View? view;
                    lock (_sync)
                    {
                        view = _view;
                    }

                    var wait = options.PingInterval;
                    if (view is not null)
                    {
                        var retryAfter = await AskAsync(stream, key, nonce, counter, session, view, tieBreaker).ConfigureAwait(false);
                        if (retryAfter > TimeSpan.Zero && retryAfter < wait)
                        {
                            wait = retryAfter + TimeSpan.FromMilliseconds(1); // just after the other view's hold ends
                        }
                    }
                    else
                    {
                        counter--; // nothing sent
                    }

                    await _wake.WaitAsync(wait, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or SocketException or InvalidDataException or OperationCanceledException)
            {
                var reason = ex is OperationCanceledException ? "no answer in time" : ex.Message;
                LogUnreachable(logger, options.Address, reason);
                Report(_last with { Detail = $"witness {options.Address} unreachable ({reason})" });
                try
                {
                    await Task.Delay(retry, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, RetryMax.Ticks));
            }
        }
    }

    /// <summary>Asks once and reports the answer; returns how soon to ask again when the witness said.</summary>
    private async Task<TimeSpan> AskAsync(NetworkStream stream, byte[] key, byte[] nonce, long counter, QuorumDeviceSession session, View view, int tieBreaker)
    {
        var sent = session.Now();
        var request = new WitnessRequest(
            session.ClusterName,
            session.Self,
            view.Id,
            [.. view.Members.Select(m => m.Node.Value)],
            tieBreaker,
            options.Lease,
            session.ClockDriftBound,
            sent.Ticks);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(options.Lease);
        await WitnessProtocol.WriteFrameAsync(stream, key, nonce, counter * 2, WitnessProtocol.EncodeRequest(request), timeout.Token).ConfigureAwait(false);
        var body = await WitnessProtocol.ReadFrameAsync(stream, key, nonce, (counter * 2) + 1, timeout.Token).ConfigureAwait(false)
            ?? throw new IOException("the witness closed the connection");
        var answer = WitnessProtocol.DecodeAnswer(body);
        if (answer is null || answer.Stamp != request.Stamp)
        {
            throw new InvalidDataException("an answer that does not parse or answers another request");
        }

        Report(answer.Granted
            ? new QuorumDeviceGrant(view.Id, sent + (options.Lease * (1 - session.ClockDriftBound)), $"granted by witness {options.Address}")
            : new QuorumDeviceGrant(null, TimeSpan.Zero, $"witness {options.Address}: {answer.Reason}"));
        return answer.RetryAfter;
    }

    private void Report(QuorumDeviceGrant grant)
    {
        var changed = grant.View != _last.View || grant.Detail != _last.Detail;
        _last = grant;
        if (changed)
        {
            LogGrant(logger, grant.View, grant.Detail);
        }

        _session!.Report(grant);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "connected to witness {Address}")]
    private static partial void LogConnected(ILogger logger, string address);

    [LoggerMessage(Level = LogLevel.Warning, Message = "witness {Address} unreachable: {Reason}")]
    private static partial void LogUnreachable(ILogger logger, string address, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "witness vote: {View} ({Detail})")]
    private static partial void LogGrant(ILogger logger, ViewId? view, string detail);
}
