using System.Collections.Concurrent;
using Cohort.Cores;
using Cohort.Fencing;
using Cohort.Host.Configuration;
using Cohort.Host.Runtime;
using Cohort.Host.State;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// Runs the fencing orchestrator core under the <see cref="CoreRuntime"/>: its record in
/// <c>&lt;state&gt;/fencing</c>, its frames on the data lane, the views and quorum verdicts membership
/// publishes, and the topology of every committed document. Carries out the device operations the core asks
/// for, through the fence-agent plugins, with each device's timeout and retries; monitors the devices; and
/// keeps the fencing gate (<see cref="IFencingGate"/>) every service awaits.
/// </summary>
internal sealed partial class FencingService : IHostedService, IAsyncDisposable, IFencingGate
{
    private readonly AgentState _state;
    private readonly MembershipService _membership;
    private readonly ConfigService _config;
    private readonly TransportService? _transport;
    private readonly string _records;
    private readonly TimeProvider _time;
    private readonly ILogger<FencingService> _logger;
    private readonly ConcurrentDictionary<long, CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<NodeId, TaskCompletionSource> _acknowledged = new();
    private readonly ConcurrentDictionary<long, TaskCompletionSource<FenceNodeAnswered>> _asked = new();
    private readonly ConcurrentDictionary<string, DeviceMonitor> _monitors = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(NodeIncarnation Incarnation, TaskCompletionSource<FenceGateOpened> Opened)> _waiters = [];
    private readonly Lock _gateLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private FencingCore? _core;
    private CoreRuntime? _runtime;
    private volatile FencingStatus? _status;
    private long _nextToken;
    private Task _monitorLoop = Task.CompletedTask;

    public FencingService(AgentState state, MembershipService membership, ConfigService config, TransportService? transport, StateDirectory directory, TimeProvider time, ILogger<FencingService> logger)
    {
        _state = state;
        _membership = membership;
        _config = config;
        _transport = transport;
        _records = Path.Combine(directory.Path, "fencing");
        _time = time;
        _logger = logger;
    }

    /// <summary>What the core knows, as of its last step; null before it started.</summary>
    public FencingStatus? Status => _status;

    /// <summary>The last monitor result of each device, by name.</summary>
    public IReadOnlyDictionary<string, DeviceMonitor> Monitors => _monitors;

    private FencingConfig Fencing => _state.Cluster?.Fencing ?? FencingConfig.None;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_state.Configuration.Cluster is null)
        {
            return Task.CompletedTask;
        }

        var core = new FencingCore(Fencing.Topology, Random.Shared.NextDouble);
        _core = core;
        _runtime = new CoreRuntime("fencing", core, _records, _time, Send, OnEvent, AfterStep, _logger);
        _transport?.Route(FencingCore.FrameTag, _runtime.Post);
        _membership.ViewInstalled += installed => _runtime.Post(new LocalRequest(new FencingViewInstalled(installed.View, installed.LeftCleanly, installed.Departed)));
        _membership.QuorumChanged += changed => _runtime.Post(new LocalRequest(new FencingQuorum(changed.Quorate, changed.View)));
        _config.Committed += cluster => _runtime.Post(new LocalRequest(new FencingTopologyChanged(cluster.Fencing.Topology)));
        _runtime.Start(_state.Self);
        _monitorLoop = MonitorLoopAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var running in _running.Values)
        {
            await running.CancelAsync().ConfigureAwait(false);
        }

        await _monitorLoop.ConfigureAwait(false);
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    /// <summary>Asks to fence <paramref name="node"/> (<c>cohort fence</c>); completes once the core took the
    /// request, with the incarnation it will fence, or throws with why it refused.</summary>
    public async Task<NodeIncarnation> FenceAsync(NodeId node, FenceAction? action)
    {
        var runtime = _runtime ?? throw new InvalidOperationException("this node holds no cluster document: nothing to fence with");
        var token = Interlocked.Increment(ref _nextToken);
        var answered = new TaskCompletionSource<FenceNodeAnswered>(TaskCreationOptions.RunContinuationsAsynchronously);
        _asked[token] = answered;
        try
        {
            runtime.Post(new LocalRequest(new FenceNodeRequest(token, node, action)));
            var answer = await answered.Task.WaitAsync(TimeSpan.FromSeconds(10), _time).ConfigureAwait(false);
            return answer.Victim ?? throw new InvalidOperationException(answer.Error);
        }
        finally
        {
            _asked.TryRemove(token, out _);
        }
    }

    /// <summary>An operator acknowledges <paramref name="node"/> (<c>cohort fence ack</c>): a <c>manual</c> device
    /// waiting for it, on any node of the view, completes.</summary>
    public void Acknowledge(NodeId node)
    {
        var runtime = _runtime ?? throw new InvalidOperationException("this node holds no cluster document");
        runtime.Post(new LocalRequest(new FenceAckRequest(node)));
    }

    /// <inheritdoc />
    public bool IsOpen(NodeIncarnation departed) => OpenedFor(departed) is not null;

    /// <inheritdoc />
    public Task<FenceGateOpened> WaitAsync(NodeIncarnation departed, CancellationToken cancellationToken)
    {
        var opened = new TaskCompletionSource<FenceGateOpened>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gateLock)
        {
            if (OpenedFor(departed) is { } now)
            {
                return Task.FromResult(now);
            }

            _waiters.Add((departed, opened));
        }

        return opened.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Why the gate of <paramref name="incarnation"/> is open, or null: it left cleanly, or it or a
    /// later incarnation of its node was fenced.</summary>
    private FenceGateOpened? OpenedFor(NodeIncarnation incarnation)
    {
        if (_status is not { } status || !status.IsOpen(incarnation))
        {
            return null;
        }

        var clean = status.Clean.Contains(incarnation) && !(status.Fenced.TryGetValue(incarnation.Node, out var f) && f >= incarnation.Incarnation);
        var device = clean ? null : status.History.LastOrDefault(r => r.Fenced && r.Victim.Node == incarnation.Node && r.Victim.Incarnation >= incarnation.Incarnation)?.Device;
        return new FenceGateOpened(incarnation, clean, device);
    }

    private void Send(NodeId to, Transport.TransportLane lane, ReadOnlyMemory<byte> frame) => _transport?.Send(to, lane, frame);

    private void AfterStep()
    {
        _status = _core!.Status;
        List<(FenceGateOpened, TaskCompletionSource<FenceGateOpened>)> ready = [];
        lock (_gateLock)
        {
            foreach (var waiter in _waiters.ToList())
            {
                if (OpenedFor(waiter.Incarnation) is { } opened)
                {
                    _waiters.Remove(waiter);
                    ready.Add((opened, waiter.Opened));
                }
            }
        }

        foreach (var (opened, waiter) in ready)
        {
            waiter.TrySetResult(opened);
        }
    }

    private void OnEvent(object e)
    {
        switch (e)
        {
            case RunFenceDevice run:
                _ = RunAsync(run);
                break;
            case CancelFenceDevice cancel:
                if (_running.TryGetValue(cancel.Operation, out var running))
                {
                    running.Cancel();
                }

                break;
            case FenceGateOpenedEvent opened:
                LogGateOpened(_logger, opened.Incarnation, opened.LeftCleanly, opened.Device ?? "-");
                break;
            case FenceRecorded { Record: var record, Local: var local }:
                if (record.Result == FenceResult.Success)
                {
                    LogSucceeded(_logger, NameOf(record.Victim.Node), record.Victim, record.Level, record.Device, Spell(record.Action), record.Fenced, local ? "this node" : NameOf(record.Requester.Node), record.Detail,
                        _time.GetTimestamp() / (double)_time.TimestampFrequency);
                }
                else
                {
                    LogFailed(_logger, NameOf(record.Victim.Node), record.Victim, record.Level, record.Device, Spell(record.Action), Spell(record.Result), local ? "this node" : NameOf(record.Requester.Node), record.Detail);
                }

                break;
            case VictimAdded added:
                LogVictim(_logger, NameOf(added.Victim.Node), added.Victim, added.Reason == FenceReason.Operator ? "an operator asked" : "it left a quorate view uncleanly");
                break;
            case FencingExhausted exhausted:
                LogExhausted(_logger, NameOf(exhausted.Victim.Node), exhausted.Victim, exhausted.Attempt, exhausted.RetryIn.TotalSeconds);
                break;
            case SelfIsVictim:
                LogSelfVictim(_logger, _state.Self);
                break;
            case FenceDelayed delayed:
                LogDelayed(_logger, NameOf(delayed.Victim.Node), delayed.Victim, delayed.Delay.TotalSeconds, delayed.Device, delayed.Why);
                break;
            case VictimOverruled overruled:
                LogOverruled(_logger, NameOf(overruled.Victim.Node), overruled.Victim, string.Join(", ", overruled.Namers));
                break;
            case FenceAcknowledged ack:
                if (_acknowledged.TryRemove(ack.Node, out var waiting))
                {
                    waiting.TrySetResult();
                }

                LogAcknowledged(_logger, NameOf(ack.Node));
                break;
            case FenceNodeAnswered answer:
                if (_asked.TryGetValue(answer.Token, out var asked))
                {
                    asked.TrySetResult(answer);
                }

                break;
        }
    }

    /// <summary>Runs one device operation with the device's timeout and retries, and answers the core.</summary>
    private async Task RunAsync(RunFenceDevice run)
    {
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        _running[run.Operation] = cut;
        var (result, detail) = (FenceResult.Unknown, "");
        try
        {
            var fencing = Fencing;
            var victim = _state.Cluster?.Find(run.Victim.Node);
            if (!fencing.Devices.TryGetValue(run.Device, out var device))
            {
                (result, detail) = (FenceResult.Failed, $"no device named {run.Device} in the committed document");
            }
            else if (victim is null)
            {
                (result, detail) = (FenceResult.Failed, $"node {run.Victim.Node} is not in the committed document");
            }
            else
            {
                LogRunning(_logger, NameOf(run.Victim.Node), run.Victim, run.Level, run.Device, device.Agent, Spell(run.Action), run.Attempt);
                var acknowledged = _acknowledged.GetOrAdd(run.Victim.Node, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
                var request = new FenceRequest(device.Name, _state.Configuration.Root.GetSection(device.Path), run.Action, run.Victim, victim.Name, device.PlugOf(victim.Name), acknowledged.Task) { Requester = _state.Self };
                for (var attempt = 0; attempt <= device.Retries; attempt++)
                {
                    (result, detail) = await RunDeviceAsync(device, request, cut.Token).ConfigureAwait(false);
                    if (result == FenceResult.Success || cut.IsCancellationRequested)
                    {
                        break;
                    }
                }
            }
        }
        catch (Exception ex)
        {
            (result, detail) = (FenceResult.Unknown, $"{ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            _running.TryRemove(run.Operation, out _);
        }

        _runtime?.Post(new LocalRequest(new FenceDeviceCompleted(run.Operation, result, detail, _time.GetUtcNow().ToUnixTimeMilliseconds())));
    }

    /// <summary>One call of a device's agent under its timeout. A timeout, a cancellation or an exception is never
    /// success, whatever the agent returns afterwards.</summary>
    private async Task<(FenceResult, string)> RunDeviceAsync(FenceDeviceEntry device, FenceRequest request, CancellationToken cut)
    {
        if (_state.Plugins.Find(PluginSlot.FenceAgent, device.Agent) is not { } plugin)
        {
            return (FenceResult.Failed, $"no fence-agent plugin named {device.Agent}");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cut);
        timeout.CancelAfter(device.Timeout);
        try
        {
            var agent = _state.Plugins.Instance<IFenceAgent>(plugin, _state.Configuration.Root);
            var outcome = await agent.RunAsync(request, timeout.Token).WaitAsync(timeout.Token).ConfigureAwait(false);
            return timeout.IsCancellationRequested ? Stopped() : (outcome.Result, outcome.Detail);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return Stopped();
        }
        catch (Exception ex)
        {
            return (FenceResult.Unknown, $"the agent threw {ex.GetType().Name}: {ex.Message}");
        }

        // Whatever the agent answers once it was stopped counts as what stopped it.
        (FenceResult, string) Stopped() => cut.IsCancellationRequested
            ? (FenceResult.Unknown, "cut short: this node is no longer the fencer, or is stopping")
            : (FenceResult.Timeout, $"no answer within {device.Timeout.TotalSeconds:0.###} s");
    }

    /// <summary>Runs <see cref="FenceAction.Monitor"/> on every device at start and every
    /// <c>Cluster:Fencing:MonitorInterval</c>.</summary>
    private async Task MonitorLoopAsync(CancellationToken stopping)
    {
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var fencing = Fencing;
                if (fencing.MonitorInterval > TimeSpan.Zero)
                {
                    await Task.WhenAll(fencing.Devices.Values.Select(d => MonitorAsync(d, stopping))).ConfigureAwait(false);
                }

                await Task.Delay(fencing.MonitorInterval > TimeSpan.Zero ? fencing.MonitorInterval : TimeSpan.FromSeconds(60), _time, stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task MonitorAsync(FenceDeviceEntry device, CancellationToken stopping)
    {
        var request = new FenceRequest(device.Name, _state.Configuration.Root.GetSection(device.Path), FenceAction.Monitor, null, null, null, new TaskCompletionSource().Task);
        var (result, detail) = await RunDeviceAsync(device, request, stopping).ConfigureAwait(false);
        var previous = _monitors.TryGetValue(device.Name, out var last) ? last.Result : (FenceResult?)null;
        _monitors[device.Name] = new DeviceMonitor(result, detail, _time.GetUtcNow());
        if (result != FenceResult.Success && previous != result)
        {
            LogMonitorFailed(_logger, device.Name, device.Agent, Spell(result), detail);
        }
    }

    private string NameOf(NodeId node) => _state.Cluster?.Find(node)?.Name ?? $"node{node}";

    /// <summary>How the CLI and logs spell an action.</summary>
    public static string Spell(FenceAction action) => action.ToString().ToLowerInvariant();

    /// <summary>How the CLI and logs spell a result.</summary>
    public static string Spell(FenceResult result) => result.ToString().ToLowerInvariant();

    /// <summary>A device's last monitor result.</summary>
    public sealed record DeviceMonitor(FenceResult Result, string Detail, DateTimeOffset At);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fencing {Name} ({Victim}): {Why}")]
    private static partial void LogVictim(ILogger logger, string name, NodeIncarnation victim, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fencing {Name} ({Victim}): level {Level}, device {Device} ({Agent}), action {Action}, pass {Attempt}")]
    private static partial void LogRunning(ILogger logger, string name, NodeIncarnation victim, int level, string device, string agent, string action, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fenced:{Fenced} {Name} ({Victim}): level {Level}, device {Device}, action {Action} succeeded, by {Requester}: {Detail} at monotonic {Monotonic:F6}")]
    private static partial void LogSucceeded(ILogger logger, string name, NodeIncarnation victim, int level, string device, string action, bool fenced, string requester, string detail, double monotonic);

    [LoggerMessage(Level = LogLevel.Error, Message = "fencing {Name} ({Victim}): level {Level}, device {Device}, action {Action}: {Result}, by {Requester}: {Detail}")]
    private static partial void LogFailed(ILogger logger, string name, NodeIncarnation victim, int level, string device, string action, string result, string requester, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "fencing {Name} ({Victim}): every level failed in pass {Attempt}; trying again in {Seconds} s. Until a device succeeds nothing it held is recovered (fix the device, or fence it by hand and use a manual device)")]
    private static partial void LogExhausted(ILogger logger, string name, NodeIncarnation victim, int attempt, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fencing {Name} ({Victim}) in {Seconds:0.###} s (fence-race delay of device {Device}: {Why})")]
    private static partial void LogDelayed(ILogger logger, string name, NodeIncarnation victim, double seconds, string device, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "not fencing {Name} ({Victim}): it is a live member of this view and every node that named it is gone ({Namers}): their side lost the race")]
    private static partial void LogOverruled(ILogger logger, string name, NodeIncarnation victim, string namers);

    [LoggerMessage(Level = LogLevel.Critical, Message = "this node's incarnation {Self} is being fenced by the quorate partition: what it held is someone else's now")]
    private static partial void LogSelfVictim(ILogger logger, NodeIncarnation self);

    [LoggerMessage(Level = LogLevel.Information, Message = "fencing gate of {Incarnation} open: left cleanly {LeftCleanly}, fenced through {Device}")]
    private static partial void LogGateOpened(ILogger logger, NodeIncarnation incarnation, bool leftCleanly, string device);

    [LoggerMessage(Level = LogLevel.Warning, Message = "an operator acknowledged {Name}")]
    private static partial void LogAcknowledged(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Error, Message = "fence device {Device} ({Agent}) monitor: {Result}: {Detail}")]
    private static partial void LogMonitorFailed(ILogger logger, string device, string agent, string result, string detail);
}
