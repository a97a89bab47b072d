using System.Collections.Concurrent;
using Cohort.Cores;
using Cohort.Host.Runtime;
using Cohort.Membership;
using Cohort.Transport;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// The agent's side of the transport plugin: starts it, hands what it delivers to the input queue of
/// the core it is for (membership frames to membership, data frames by their first byte to the
/// service that registered it, session resets to all), addresses frames to each node's current
/// session, and exposes its status and (when <c>Node:FaultInjection</c> is on) its fault injection.
/// </summary>
internal sealed partial class TransportService(ITransport transport, TransportStartInfo start, string pluginName, ILogger<TransportService> logger) : ITransportHandler, IAsyncDisposable
{
    private readonly ConcurrentDictionary<int, long> _sessions = new();
    /// <summary>The runtimes this thread queued frames for with <see cref="CoreRuntime.PostDeferred"/>, to run
    /// once the transport calls <see cref="ITransportHandler.FramesDelivered"/>.</summary>
    [ThreadStatic]
    private static List<CoreRuntime>? t_deferred;

    private readonly Dictionary<byte, (Action<CoreInput> Deliver, CoreRuntime? OnReceivingThread)> _services = [];
    private Action<CoreInput>? _deliver;

    /// <summary>Whether the transport calls <see cref="ITransportHandler.FramesDelivered"/> (it has, once): until then
    /// every frame is posted, so a transport that never calls it loses no frame.</summary>
    private volatile bool _reportsBatches;

    /// <summary>Routes data-lane frames whose first byte is <paramref name="tag"/> (and every session
    /// reset) to <paramref name="deliver"/>. Called before <see cref="StartAsync"/>.</summary>
    public void Route(byte tag, Action<CoreInput> deliver) => _services[tag] = (deliver, null);

    /// <summary>Routes data-lane frames whose first byte is <paramref name="tag"/> (and every session reset) to
    /// <paramref name="runtime"/>, whose core handles a frame on the thread that received it when it is idle: a
    /// request answered with no thread hand-off. For a core whose turns are short (one slow turn holds up the
    /// reading of that peer's connection meanwhile). Called before <see cref="StartAsync"/>.</summary>
    public void RouteOnReceivingThread(byte tag, CoreRuntime runtime) => _services[tag] = (runtime.Post, runtime);

    /// <summary>The transport plugin's name.</summary>
    public string PluginName { get; } = pluginName;

    /// <summary>The transport's fault injection, if it has one.</summary>
    public ITransportFaults? Faults => transport as ITransportFaults;

    /// <summary>Starts the transport; what it delivers goes to <paramref name="deliver"/>.</summary>
    /// <exception cref="CohortStartupException">The transport cannot start (its listen address cannot be bound).</exception>
    public async Task StartAsync(Action<CoreInput> deliver, CancellationToken cancellationToken)
    {
        _deliver = deliver;
        try
        {
            await transport.StartAsync(start, this, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            throw new CohortStartupException($"transport {PluginName}: {ex.Message}", ExitCodes.OsError);
        }
    }

    /// <summary>Sends a frame to whichever incarnation of <paramref name="to"/> holds a session; best
    /// effort, as membership frames are.</summary>
    public void Send(NodeId to, TransportLane lane, ReadOnlyMemory<byte> frame)
    {
        if (_sessions.TryGetValue(to.Value, out var incarnation))
        {
            _ = transport.TrySend(new NodeIncarnation(to, incarnation), lane, frame);
        }
    }

    public TransportStatus Status() => transport.GetStatus();

    /// <summary>Gives the transport the peers of a newly committed cluster document: added nodes are
    /// reached, dropped ones refused, without a restart.</summary>
    public void UpdatePeers(IReadOnlyList<TransportPeer> peers) => transport.UpdatePeers(peers);

    /// <summary>The nodes with an open session now.</summary>
    public IReadOnlyList<NodeId> OpenPeers => [.. _sessions.Keys.Order().Select(id => new NodeId(id))];

    void ITransportHandler.SessionOpened(NodeIncarnation peer) => _sessions[peer.Node.Value] = peer.Incarnation;

    void ITransportHandler.FrameReceived(NodeIncarnation peer, TransportLane lane, ReadOnlyMemory<byte> frame)
    {
        if (lane == TransportLane.Membership)
        {
            _deliver?.Invoke(new FrameReceived(peer, lane, frame));
        }
        else if (frame.Length > 0 && _services.TryGetValue(frame.Span[0], out var service))
        {
            if (service.OnReceivingThread is { } runtime && _reportsBatches)
            {
                runtime.PostDeferred(new FrameReceived(peer, lane, frame));
                var deferred = t_deferred ??= [];
                if (deferred.Count == 0 || deferred[^1] != runtime)
                {
                    deferred.Add(runtime);
                }
            }
            else
            {
                service.Deliver(new FrameReceived(peer, lane, frame));
            }
        }
    }

    void ITransportHandler.FramesDelivered()
    {
        _reportsBatches = true;
        if (t_deferred is { Count: > 0 } deferred)
        {
            foreach (var runtime in deferred)
            {
                runtime.RunDeferred();
            }

            deferred.Clear();
        }
    }

    void ITransportHandler.SessionReset(NodeIncarnation peer, string reason)
    {
        _sessions.TryRemove(new KeyValuePair<int, long>(peer.Node.Value, peer.Incarnation));
        _deliver?.Invoke(new SessionReset(peer));
        foreach (var service in _services.Values)
        {
            service.Deliver(new SessionReset(peer));
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await transport.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogStopFailed(logger, PluginName, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "transport {Name} failed to stop")]
    private static partial void LogStopFailed(ILogger logger, string name, Exception exception);
}
