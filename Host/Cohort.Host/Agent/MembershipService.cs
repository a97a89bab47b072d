using Cohort.Cores;
using Cohort.Host.Configuration;
using Cohort.Host.Plugins;
using Cohort.Plugins;
using Cohort.Host.Runtime;
using Cohort.Host.State;
using Cohort.Membership;
using Cohort.Quorum;
using Cohort.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// Runs the membership core under the <see cref="CoreRuntime"/>, publishes what it believes to the
/// agent's state, and carries out a clean leave: on <c>cohort leave</c> or when the host stops
/// (SIGTERM), the node goes LEAVING, the drain hooks run, the node goes DRAINED and waits to be
/// excluded; after <c>Node:DrainTimeout</c> it stops anyway and counts as an unclean leaver.
/// </summary>
internal sealed partial class MembershipService : IHostedService, IAsyncDisposable
{
    private readonly AgentState _state;
    private readonly IQuorumPolicy? _policy;
    private readonly IQuorumDevice? _device;
    private readonly byte[] _clusterKey;
    private readonly TransportService? _transport;
    private readonly StateDirectory _directory;
    private readonly TimeProvider _time;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<MembershipService> _logger;
    private readonly TaskCompletionSource _left = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private MembershipCore? _core;
    private CoreRuntime? _runtime;
    private bool _everQuorate;
    private View? _deviceView;
    private (ViewId View, TimeSpan Since)? _awaitingDevice;
    private QuorumDeviceGrant? _lastGrant;
    private TimeSpan _longestGrant;

    /// <summary>The no-quorum policy of each version membership was given, so that a view acts by the
    /// policy of the version it was judged under; read on the membership task and by status.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, NoQuorumPolicy> _noQuorumPolicies = new();

    public MembershipService(AgentState state, IQuorumPolicy? policy, IQuorumDevice? device, byte[] clusterKey, TransportService? transport, StateDirectory directory, TimeProvider time, IHostApplicationLifetime lifetime, ILogger<MembershipService> logger)
    {
        _state = state;
        _policy = policy;
        _device = device;
        _clusterKey = clusterKey;
        _transport = transport;
        _directory = directory;
        _time = time;
        _lifetime = lifetime;
        _logger = logger;
    }

    /// <summary>Raised on the membership core's task for every view this node installs; the services
    /// (CCS, ...) queue it for their cores.</summary>
    public event Action<ViewInstalled>? ViewInstalled;

    /// <summary>Raised on the membership core's task whenever this node becomes or stops being quorate in
    /// its installed view (after the <see cref="ViewInstalled"/> of that view).</summary>
    public event Action<QuorumChanged>? QuorumChanged;

    /// <summary>Raised on the membership core's task when a peer holds a newer cluster document version:
    /// CCS fetches it.</summary>
    public event Action<ConfigurationAhead>? ConfigurationAhead;

    private TimeSpan DrainTimeout => TimeSpan.FromSeconds(_state.Configuration.Node.DrainTimeout);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var cluster = _state.Configuration.Cluster;
        if (cluster is null || _policy is null)
        {
            _state.Publish(new AgentState.Snapshot(null, null, Reason: "no cluster document (Node:Bootstrap is not set): a node without one has no vote"));
            return;
        }

        _noQuorumPolicies[_state.ConfigVersion] = cluster.NoQuorumPolicy;
        _core = new MembershipCore(RulesOf(_state.ConfigVersion, cluster, ClusterSnapshot(_state.Configuration.Root)), Convert.FromHexString(_state.GenesisSha256 ?? cluster.Sha256));
        _runtime = new CoreRuntime("membership", _core, Path.Combine(_directory.Path, "membership"), _time, Send, OnEvent, AfterStep, _logger);
        _state.Clock = () => _runtime.Now;
        _runtime.Start(_state.Self);
        if (_device is not null)
        {
            await StartDeviceAsync(cluster, cancellationToken).ConfigureAwait(false);
        }

        if (_transport is not null)
        {
            await _transport.StartAsync(_runtime.Post, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Starts the quorum device; a device that cannot start stops the agent with one line.</summary>
    private async Task StartDeviceAsync(ClusterDocument cluster, CancellationToken cancellationToken)
    {
        var runtime = _runtime!;
        try
        {
            await _device!.StartAsync(
                new QuorumDeviceSession(
                    _state.Self,
                    cluster.Name,
                    [.. cluster.Nodes.Select(n => n.ToClusterNode())],
                    () => runtime.Now,
                    grant => runtime.Post(new LocalRequest(new DeviceReport(grant))),
                    _clusterKey,
                    cluster.Membership.ClockDriftBound),
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or IOException)
        {
            throw new CohortStartupException($"quorum device {cluster.QuorumDevice}: {ex.Message}");
        }
    }

    /// <summary>Leaves the cluster cleanly; completes when the node is out (the agent then stops).</summary>
    public Task LeaveAsync()
    {
        if (_runtime is null)
        {
            _lifetime.StopApplication();
            return Task.CompletedTask;
        }

        _runtime.Post(new LocalRequest(LeaveRequest.Instance));
        return _left.Task;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_runtime is null)
        {
            return;
        }

        if (!_left.Task.IsCompleted && !_runtime.Completion.IsCompleted)
        {
            var left = LeaveAsync();
            var timeout = Task.Delay(DrainTimeout, _time, cancellationToken);
            if (await Task.WhenAny(left, timeout, _runtime.Completion).ConfigureAwait(false) != left)
            {
                LogUncleanExit(_logger, DrainTimeout.TotalSeconds);
            }
        }

        if (_device is not null)
        {
            try
            {
                await _device.StopAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogDeviceStopFailed(_logger, ex);
            }
        }

        try
        {
            await _runtime.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogRuntimeFailed(_logger, ex);
        }

        // The transport stops after the leave (which needs it) and the runtime (which sends on it).
        if (_transport is not null)
        {
            await _transport.DisposeAsync().ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => _runtime?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>How long CCS waits for membership to stop supporting views under older rules before an
    /// acknowledgement; membership handles it within a step, so running out means it is stuck.</summary>
    private static readonly TimeSpan PendingTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Called by CCS, on its task, before it acknowledges an uncommitted version: returns once the
    /// membership core has handled it (and so acknowledges no heartbeat in a view under older rules,
    /// unless the version judges quorum alike).
    /// </summary>
    /// <exception cref="TimeoutException">Membership did not handle it in time; the acknowledgement must not leave.</exception>
    public void Pending(long version, ReadOnlyMemory<byte> document)
    {
        if (_runtime is null)
        {
            return;
        }

        string rules;
        try
        {
            rules = RulesOf(version, $"proposed version {version}", document).QuorumRules;
        }
        catch (Exception ex) when (ex is CohortStartupException or InvalidOperationException)
        {
            rules = "unreadable version " + version; // judged as different rules: the safe side
        }

        if (!_runtime.PostAndWait(new LocalRequest(new ConfigurationPending(version, rules)), PendingTimeout))
        {
            throw new TimeoutException($"membership did not take pending cluster document version {version} within {PendingTimeout.TotalSeconds} s");
        }
    }

    /// <summary>Hands a newly committed version to membership: it takes effect at the next view.</summary>
    public void Adopt(long version, string description, ReadOnlyMemory<byte> document)
    {
        if (_runtime is null)
        {
            return;
        }

        try
        {
            var (cluster, keys) = ClusterDocument.Read(description, document);
            var rules = RulesOf(version, cluster, ClusterSnapshot(keys));
            _noQuorumPolicies[version] = cluster.NoQuorumPolicy; // committed: views under it act by it
            _runtime.Post(new LocalRequest(new AdoptConfiguration(rules)));
        }
        catch (CohortStartupException ex)
        {
            LogAdoptFailed(_logger, version, ex.Problems);
        }
    }

    /// <summary>The membership rules of a proposed document.</summary>
    private MembershipRules RulesOf(long version, string description, ReadOnlyMemory<byte> document)
    {
        var (cluster, keys) = ClusterDocument.Read(description, document);
        return RulesOf(version, cluster, ClusterSnapshot(keys));
    }

    private MembershipRules RulesOf(long version, ClusterDocument cluster, IConfiguration snapshot)
    {
        IReadOnlyList<ClusterNode> nodes = [.. cluster.Nodes.Select(n => n.ToClusterNode())];
        var started = _state.Configuration.Cluster!;
        var policy = _policy!;
        if (!string.Equals(cluster.QuorumPolicy, started.QuorumPolicy, StringComparison.OrdinalIgnoreCase))
        {
            policy = PluginCatalog.Resolve<IQuorumPolicy>(_state.Plugins.Select(PluginSlot.QuorumPolicy, cluster.QuorumPolicy, cluster.Path));
        }

        // The device client runs as started: another device takes effect when the agent restarts.
        var device = _device is not null && cluster.QuorumDevice is { } name && string.Equals(name, started.QuorumDevice, StringComparison.OrdinalIgnoreCase)
            ? new DeviceSetup(name, cluster.DeviceVotes)
            : null;
        return new MembershipRules(version, nodes, snapshot, policy, cluster.Membership, device, MembershipRules.Describe(nodes, snapshot, device));
    }

    private void Send(NodeId to, TransportLane lane, ReadOnlyMemory<byte> frame) => _transport?.Send(to, lane, frame);

    private void AfterStep()
    {
        var core = _core!;
        _state.Publish(new AgentState.Snapshot(core.Installed, core.Decision, core.QuorateUntil, core.QuorumReason, core.Phase.ToString().ToLowerInvariant(), core.DeviceGrant, core.QuorumIsDual));
        TellDevice(core);
        NoteGrant(core);
        SelfFenceIfQuorumLost(core);
    }

    private void OnEvent(object e)
    {
        switch (e)
        {
            case ViewInstalled installed:
                LogViewInstalled(_logger, installed);
                ViewInstalled?.Invoke(installed);
                break;
            case QuorumChanged changed:
                // The stamp is CLOCK_MONOTONIC, shared by every process on the machine: tests and
                // benchmarks order events of different agents by it.
                LogQuorum(_logger, changed.Quorate, changed.View, changed.Reason, _time.GetTimestamp() / (double)_time.TimestampFrequency);
                OnQuorumChanged(changed);
                QuorumChanged?.Invoke(changed);
                break;
            case Draining:
                LogDraining(_logger);
                _ = DrainAsync();
                break;
            case LeftCluster left:
                LogLeft(_logger, left);
                _left.TrySetResult();
                _lifetime.StopApplication();
                break;
            case ConfigMismatch mismatch:
                LogConfigMismatch(_logger, mismatch);
                break;
            case ConfigurationAhead ahead:
                LogBehind(_logger, ahead);
                ConfigurationAhead?.Invoke(ahead);
                break;
            default:
                break;
        }
    }

    /// <summary>Tells the quorum device which view to ask its vote for: the installed one, or none once
    /// the node gave up quorum to leave.</summary>
    private void TellDevice(MembershipCore core)
    {
        var view = core.Phase is MembershipPhase.Member or MembershipPhase.Leaving ? core.Installed : null;
        if (_device is not null && !ReferenceEquals(view, _deviceView))
        {
            _deviceView = view;
            _device.ViewChanged(view);
        }
    }

    /// <summary>What a node does while not quorate in a view judged under <paramref name="version"/>: that
    /// version's no-quorum policy (the started one's, for a version membership was not given).</summary>
    public NoQuorumPolicy NoQuorumPolicyUnder(long version) =>
        _noQuorumPolicies.TryGetValue(version, out var policy) ? policy : _state.Configuration.Cluster!.NoQuorumPolicy;

    private long InstalledVersion => _core?.Installed?.ConfigVersion ?? _state.ConfigVersion;

    /// <summary>Tells the services of a quorum change.</summary>
    private void OnQuorumChanged(QuorumChanged changed)
    {
        _everQuorate |= changed.Quorate;
        var change = new QuorumChange(changed.Quorate, changed.View, NoQuorumPolicyUnder(InstalledVersion), changed.Reason);
        foreach (var listener in _state.Plugins.ResolveAll<IQuorumListener>())
        {
            try
            {
                listener.QuorumChanged(change);
            }
            catch (Exception ex)
            {
                LogListenerFailed(_logger, ex, listener.GetType().FullName ?? "?");
            }
        }
    }

    /// <summary>
    /// Under self-fence, a node that was quorate in this incarnation and now holds a view its policy
    /// judges not quorate fences itself. A lease that merely runs out (a view change hands over, or the
    /// node is cut off and has not yet noticed) is not enough: only the verdict on an installed view is.
    /// </summary>
    /// <remarks>A view that lacks only the quorum device's vote is given <see cref="DeviceGrace"/> to get
    /// it: a device grants a new view its vote only once the old view's grant ran out.</remarks>
    private void SelfFenceIfQuorumLost(MembershipCore core)
    {
        if (!_everQuorate
            || NoQuorumPolicyUnder(InstalledVersion) != NoQuorumPolicy.SelfFence
            || core.Phase != MembershipPhase.Member
            || core.Decision is not { Verdict: QuorumVerdict.NotQuorate } decision)
        {
            _awaitingDevice = null;
            return;
        }

        if (core.AwaitingDevice)
        {
            var now = _runtime!.Now;
            if (_awaitingDevice is not { } awaiting || awaiting.View != core.Installed!.Id)
            {
                _awaitingDevice = (core.Installed!.Id, now);
                return;
            }

            if (now - awaiting.Since < DeviceGrace)
            {
                return;
            }
        }

        SelfFence(decision.Reason);
    }

    /// <summary>How long a view that lacks only the device's vote waits for it before self-fence: ten
    /// failure timeouts (4 s by default), or three of the longest grants the device gave, if longer —
    /// time for the old view's grant to run out and the new view to ask.</summary>
    private TimeSpan DeviceGrace
    {
        get
        {
            var floor = _state.Configuration.Cluster!.Membership.FailureTimeout * 10;
            return _longestGrant * 3 > floor ? _longestGrant * 3 : floor;
        }
    }

    /// <summary>Remembers how long the device's grants last, from each new one.</summary>
    private void NoteGrant(MembershipCore core)
    {
        if (core.DeviceGrant is { View: not null } grant && !ReferenceEquals(grant, _lastGrant))
        {
            _lastGrant = grant;
            var length = grant.Until - _runtime!.Now;
            _longestGrant = length > _longestGrant ? length : _longestGrant;
        }
    }

    /// <summary>Kills this agent's process group now. Written straight to standard error first: the
    /// logger's queue would die with the process.</summary>
    private static void SelfFence(string reason)
    {
        Console.Error.WriteLine($"crit: quorum lost ({reason}) and Cluster:Quorum:NoQuorumPolicy is self-fence: this node fences itself (SIGKILL to its process group {Native.Libc.getpgrp()})");
        Console.Error.Flush();
        _ = Native.Signals.SendToGroup(Native.Libc.getpgrp(), Native.Signals.Kill);
    }

    private async Task DrainAsync()
    {
        using var timeout = new CancellationTokenSource(DrainTimeout, _time);
        try
        {
            var hooks = _state.Plugins.ResolveAll<IDrainHook>();
            await Task.WhenAll(hooks.Select(h => h.DrainAsync(timeout.Token))).ConfigureAwait(false);
            _runtime!.Post(new LocalRequest(DrainComplete.Instance));
        }
        catch (Exception ex)
        {
            LogDrainFailed(_logger, ex);
        }
    }

    /// <summary>An immutable copy of the <c>Cluster:*</c> keys, so the policy sees one document throughout.</summary>
    private static IConfiguration ClusterSnapshot(IConfiguration root) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(root.GetSection("Cluster").AsEnumerable().Where(kv => kv.Value is not null))
            .Build();

    [LoggerMessage(Level = LogLevel.Information, Message = "{Installed}")]
    private static partial void LogViewInstalled(ILogger logger, ViewInstalled installed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "quorate:{Quorate} in {View} ({Reason}) at monotonic {Monotonic:F6}")]
    private static partial void LogQuorum(ILogger logger, bool quorate, ViewId? view, string reason, double monotonic);

    [LoggerMessage(Level = LogLevel.Information, Message = "leaving: draining services")]
    private static partial void LogDraining(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Left}")]
    private static partial void LogLeft(ILogger logger, LeftCluster left);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Ahead}")]
    private static partial void LogBehind(ILogger logger, ConfigurationAhead ahead);

    [LoggerMessage(Level = LogLevel.Critical, Message = "committed cluster document version {Version} cannot be used here ({Problems}): this node stays out of views under it")]
    private static partial void LogAdoptFailed(ILogger logger, long version, IReadOnlyList<string> problems);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Mismatch}")]
    private static partial void LogConfigMismatch(ILogger logger, ConfigMismatch mismatch);

    [LoggerMessage(Level = LogLevel.Error, Message = "draining failed; the node will exit uncleanly when Node:DrainTimeout runs out")]
    private static partial void LogDrainFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Node:DrainTimeout ({Seconds} s) ran out before the node left cleanly: exiting anyway; the cluster counts this node as an unclean leaver")]
    private static partial void LogUncleanExit(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "the quorum listener {Listener} threw")]
    private static partial void LogListenerFailed(ILogger logger, Exception exception, string listener);

    [LoggerMessage(Level = LogLevel.Error, Message = "the quorum device failed to stop")]
    private static partial void LogDeviceStopFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Critical, Message = "the membership runtime failed")]
    private static partial void LogRuntimeFailed(ILogger logger, Exception exception);
}
