using System.Collections.Concurrent;
using Cohort.Cores;
using Cohort.Fencing;
using Cohort.Host.Runtime;
using Cohort.Host.State;
using Cohort.Locking;
using Cohort.Membership;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// Runs the lock manager's core (the <c>lock-manager</c> plugin, <c>dlm</c>) under the <see cref="CoreRuntime"/>:
/// its frames on the data lane (first byte <see cref="DlmFrames.Tag"/>), every view membership installs and every
/// quorum change in it (<see cref="DlmView"/>), the fencing gate of each departed incarnation it waits for
/// (<see cref="DlmAwaitGate"/> → <see cref="IFencingGate.WaitAsync"/> → <see cref="DlmGateOpened"/>), and the calls
/// of the services on this node through <see cref="Manager"/>, the node's <see cref="IDistributedLockManager"/>.
/// </summary>
/// <remarks>The core persists nothing: locks die with the incarnation that holds them. A clean leave releases them
/// first (<see cref="DrainAsync"/>).</remarks>
internal sealed partial class DlmService : IHostedService, IAsyncDisposable, IDrainHook
{
    private readonly AgentState _state;
    private readonly ILockManager? _system;
    private readonly MembershipService _membership;
    private readonly ConfigService _config;
    private readonly TransportService? _transport;
    private readonly IFencingGate _gate;
    private readonly string _records;
    private readonly TimeProvider _time;
    private readonly ILogger<DlmService> _logger;
    private readonly ConcurrentDictionary<NodeIncarnation, byte> _awaited = new();
    /// <summary>The lockspaces in recovery: their frames are handled off the transport's reading thread. Touched on the core's turn only.</summary>
    private readonly HashSet<string> _recovering = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private GuardedCore? _core;
    private CoreRuntime? _runtime;
    private View? _view;

    /// <param name="state">The agent.</param>
    /// <param name="system">The lock-manager plugin's contract; null when the agent has no cluster document.</param>
    /// <param name="pluginName">Its name, for status.</param>
    /// <param name="membership">Views and quorum.</param>
    /// <param name="config">Committed documents.</param>
    /// <param name="transport">The transport, or null for a one-node cluster.</param>
    /// <param name="gate">The fencing gate.</param>
    /// <param name="directory">The state directory.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The service's log.</param>
    public DlmService(AgentState state, ILockManager? system, string pluginName, MembershipService membership, ConfigService config, TransportService? transport, IFencingGate gate, StateDirectory directory, TimeProvider time, ILogger<DlmService> logger)
    {
        _state = state;
        _system = system;
        PluginName = pluginName;
        _membership = membership;
        _config = config;
        _transport = transport;
        _gate = gate;
        _records = Path.Combine(directory.Path, "dlm");
        _time = time;
        _logger = logger;
        Manager = new DistributedLockManager(logger);
    }

    /// <summary>The node's lock manager, as services use it.</summary>
    public DistributedLockManager Manager { get; }

    /// <summary>The lock-manager plugin's name.</summary>
    public string PluginName { get; }

    /// <summary>What the core holds now; null before it started (or without a cluster document).</summary>
    public DlmCoreStatus? Status => _core?.ReadStatus();

    /// <summary>The resources of a lockspace as this node knows them; null when it has not joined it (or before the core started).</summary>
    public DlmLockspaceDump? Dump(string lockspace, int limit) => _core?.ReadDump(lockspace, limit);

    /// <summary>The clock the core runs on.</summary>
    public TimeProvider Time => _time;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_state.Configuration.Cluster is not { } cluster || _system is null)
        {
            return Task.CompletedTask;
        }

        var core = new GuardedCore(_system.CreateCore(cluster.Dlm.Setup), Manager, _logger);
        _core = core;
        var runtime = new CoreRuntime("dlm", core, _records, _time, Send, OnEvent, static () => { }, _logger);
        _runtime = runtime;
        _transport?.RouteOnReceivingThread(DlmFrames.Tag, runtime);
        _membership.ViewInstalled += installed =>
        {
            // Not quorate in a view until membership says so for that view (it does, for each new one).
            _view = installed.View;
            runtime.Post(new LocalRequest(new DlmView(installed.View, false) { Departed = installed.Departed }));
        };
        _membership.QuorumChanged += changed =>
        {
            if (_view is { } view && changed.View == view.Id)
            {
                runtime.Post(new LocalRequest(new DlmView(view, changed.Quorate)));
            }
        };
        var weights = cluster.Dlm.Weights;
        _config.Committed += committed =>
        {
            // The core takes its weights once; every node must place resources alike, so a change waits for a restart of all.
            if (!SameWeights(weights, committed.Dlm.Weights))
            {
                LogWeightsChanged(_logger);
            }
        };
        Manager.Attach(runtime.Post);
        runtime.Start(_state.Self);
        _ = WatchAsync(runtime);
        return Task.CompletedTask;
    }

    /// <summary>A core that threw has stopped for good (the runtime logged why): what waits on it fails rather than hangs.</summary>
    private async Task WatchAsync(CoreRuntime runtime)
    {
        try
        {
            await runtime.Completion.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Manager.Stop($"the lock manager's core failed ({ex.GetType().Name}: {ex.Message}); restart the agent");
        }
    }

    /// <summary>Runs at the start of <see cref="DrainAsync"/>, before any lock is released: the lock clients' groups
    /// that rely on locks are killed there (<see cref="LockClients"/>).</summary>
    public Func<CancellationToken, Task>? BeforeDrain { get; set; }

    /// <summary>A clean leave: releases every lock of this node's clients (see <see cref="DistributedLockManager.DrainAsync"/>).</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        if (!Manager.Attached)
        {
            return;
        }

        LogDraining(_logger);
        if (BeforeDrain is { } before)
        {
            await before(cancellationToken).ConfigureAwait(false);
        }

        await Manager.DrainAsync(cancellationToken).ConfigureAwait(false);
        LogDrained(_logger);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync().ConfigureAwait(false);
        }

        Manager.Stop("the agent is stopping");
    }

    public async ValueTask DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private static bool SameWeights(IReadOnlyDictionary<NodeId, int> running, IReadOnlyDictionary<NodeId, int> committed) =>
        running.Count == committed.Count && running.All(w => committed.TryGetValue(w.Key, out var c) && c == w.Value);

    private void Send(NodeId to, Transport.TransportLane lane, ReadOnlyMemory<byte> frame) => _transport?.Send(to, lane, frame);

    private void OnEvent(object e)
    {
        switch (e)
        {
            case DlmAwaitGate { Incarnation: var departed }:
                if (_awaited.TryAdd(departed, 0))
                {
                    LogAwaitingGate(_logger, departed);
                    _ = OpenGateAsync(departed);
                }

                break;
            case DlmRecoveryProgress progress:
                LogRecovery(_logger, progress.Lockspace, progress.Sequence, progress.Phase, progress.Members);
                if (progress.Phase == DlmRecoveryPhase.Running ? _recovering.Remove(progress.Lockspace) : _recovering.Add(progress.Lockspace))
                {
                    // A remaster turn over a million locks must not stall the reading of a peer's membership frames.
                    _runtime!.InlineTurns = _recovering.Count == 0;
                }

                break;
            case DlmJoined { Error: { } error } joined:
                LogJoinFailed(_logger, joined.Lockspace, error);
                break;
            case DlmJoined joined:
                LogJoined(_logger, joined.Lockspace, joined.Id);
                break;
        }

        Manager.OnEvent(e);
    }

    /// <summary>Waits for the fencing gate of <paramref name="departed"/> and tells the core it opened.</summary>
    private async Task OpenGateAsync(NodeIncarnation departed)
    {
        try
        {
            var opened = await _gate.WaitAsync(departed, _stopping.Token).ConfigureAwait(false);
            LogGateOpened(_logger, departed, opened.LeftCleanly);
            _runtime?.Post(new LocalRequest(new DlmGateOpened(departed)));
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
        finally
        {
            _awaited.TryRemove(departed, out _);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "dlm: waiting for the fencing gate of {Incarnation} before recovering what it held")]
    private static partial void LogAwaitingGate(ILogger logger, NodeIncarnation incarnation);

    [LoggerMessage(Level = LogLevel.Information, Message = "dlm: the fencing gate of {Incarnation} is open (left cleanly: {LeftCleanly})")]
    private static partial void LogGateOpened(ILogger logger, NodeIncarnation incarnation, bool leftCleanly);

    [LoggerMessage(Level = LogLevel.Information, Message = "dlm: lockspace {Lockspace} recovery {Sequence}: {Phase} with members {Members}")]
    private static partial void LogRecovery(ILogger logger, string lockspace, DlmRecoverySequence sequence, DlmRecoveryPhase phase, IReadOnlyList<NodeIncarnation> members);

    [LoggerMessage(Level = LogLevel.Critical, Message = "dlm: a committed document changes Cluster:Dlm:Weight; this node keeps the weights it started with, and a node started with other weights places resources elsewhere: stop every node, then start them all with the new document")]
    private static partial void LogWeightsChanged(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "dlm: leaving: releasing the locks of this node's clients")]
    private static partial void LogDraining(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "dlm: every lock of this node's clients is released")]
    private static partial void LogDrained(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "dlm: joined lockspace {Lockspace} (id {Id})")]
    private static partial void LogJoined(ILogger logger, string lockspace, int id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "dlm: joining lockspace {Lockspace} failed: {Error}")]
    private static partial void LogJoinFailed(ILogger logger, string lockspace, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "dlm: the core refused an operation on lock {LockId}")]
    private static partial void LogRefused(ILogger logger, long lockId, Exception exception);

    /// <summary>
    /// The lock-manager core as the runtime drives it: its status readable from other threads between steps (a lock
    /// around each step), and the host's cancels checked on the core's task against the operation they were meant
    /// for, which may have completed since.
    /// </summary>
    private sealed class GuardedCore(ILockManagerCore inner, DistributedLockManager manager, ILogger logger) : IProtocolCore
    {
        private readonly Lock _step = new();

        public DlmCoreStatus ReadStatus()
        {
            lock (_step)
            {
                return inner.Status;
            }
        }

        public DlmLockspaceDump? ReadDump(string lockspace, int limit)
        {
            lock (_step)
            {
                return inner.Dump(lockspace, limit);
            }
        }

        public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
        {
            if (input is LocalRequest { Request: DistributedLockManager.CancelRequest cancel })
            {
                if (cancel.Operation is not { } operation)
                {
                    return; // completed before the cancel got here: nothing to cancel
                }

                input = new LocalRequest(operation);
            }

            lock (_step)
            {
                try
                {
                    inner.Handle(input, now, outputs);
                }
                catch (InvalidOperationException ex) when (input is LocalRequest { Request: DlmOperation operation })
                {
                    // The host checks every operation first; a refusal here is a bug, of one lock, not of the node.
                    LogRefused(logger, operation.LockId, ex);
                    manager.Refused(operation.LockId, ex);
                }
            }
        }
    }
}
