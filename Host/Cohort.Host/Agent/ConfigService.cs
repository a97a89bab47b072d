using System.Collections.Concurrent;
using Cohort.ClusterConfiguration;
using Cohort.Cores;
using Cohort.Host.Configuration;
using Cohort.Host.Runtime;
using Cohort.Host.State;
using Cohort.Membership;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// Runs the configuration system's core (CCS) under the <see cref="CoreRuntime"/>: its records in
/// <c>&lt;state&gt;/ccs</c>, its frames on the data lane, the views membership installs, and the
/// requests of <c>cohort config apply</c>. Keeps the committed history for <c>config show</c> and
/// <c>config history</c>, and reloads the cluster configuration on every commit.
/// </summary>
internal sealed partial class ConfigService : IHostedService, IAsyncDisposable
{
    /// <summary>How long a request waits for its outcome before it is answered outcome-unknown.</summary>
    public static readonly TimeSpan ApplyTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How many committed versions each node keeps.</summary>
    public const int HistoryLength = 16;

    private readonly AgentState _state;
    private readonly IConfigurationSystem _system;
    private readonly MembershipService _membership;
    private readonly TransportService? _transport;
    private readonly string _records;
    private readonly TimeProvider _time;
    private readonly ILogger<ConfigService> _logger;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<ConfigApplyCompleted>> _waiting = new();
    private readonly Lock _historyLock = new();
    private readonly ConfigDocumentInspector _inspect;
    private readonly List<ConfigVersion> _history;
    private readonly List<ConfigDiverged> _diverged = [];
    private IConfigurationCore? _core;
    private CoreRuntime? _runtime;
    private volatile ConfigCoreStatus? _status;
    private long _nextToken;

    public ConfigService(AgentState state, IConfigurationSystem system, ConfigStoreContents contents, MembershipService membership, TransportService? transport, StateDirectory directory, TimeProvider time, ILogger<ConfigService> logger)
    {
        _state = state;
        _system = system;
        _membership = membership;
        _transport = transport;
        _records = RecordDirectory(directory.Path);
        _time = time;
        _logger = logger;
        _history = [.. contents.History];
        _inspect = ClusterDocumentCheck.Inspector(state.Plugins);
    }

    /// <summary>Where CCS keeps its records below a state directory.</summary>
    public static string RecordDirectory(string stateDirectory) => Path.Combine(stateDirectory, "ccs");

    /// <summary>Raised on the CCS core's task with every newly committed document this node can read
    /// (after <see cref="AgentState.Cluster"/> and the <c>Cluster:*</c> keys show it).</summary>
    public event Action<ClusterDocument>? Committed;

    /// <summary>The core's state, as of its last step; null before it started.</summary>
    public ConfigCoreStatus? Status => _status;

    /// <summary>Peers found holding another document under a version this node committed (invariant 4
    /// broken from outside: a restored or copied state directory), as reported.</summary>
    public IReadOnlyList<ConfigDiverged> Diverged
    {
        get
        {
            lock (_historyLock)
            {
                return [.. _diverged];
            }
        }
    }

    /// <summary>The committed versions this node keeps, oldest first.</summary>
    public IReadOnlyList<ConfigVersion> History
    {
        get
        {
            lock (_historyLock)
            {
                return [.. _history];
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_state.Configuration.Cluster is null)
        {
            return Task.CompletedTask; // no document: nothing to keep
        }

        var core = _system.CreateCore(new ConfigCoreSetup(_inspect, ApplyTimeout, HistoryLength));
        _core = core;
        _runtime = new CoreRuntime("ccs", core, _records, _time, Send, OnEvent, () => _status = core.Status, _logger);
        _transport?.Route(ConfigFrames.Tag, _runtime.Post);
        _membership.ViewInstalled += installed => _runtime.Post(new LocalRequest(new ConfigViewInstalled(installed.View)));
        _membership.ConfigurationAhead += ahead => _runtime.Post(new LocalRequest(new ConfigCatchUp(ahead.Peer, ahead.Version)));
        _runtime.Start(_state.Self);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var waiting in _waiting.Values)
        {
            waiting.TrySetResult(new ConfigApplyCompleted(0, ConfigApplyOutcome.OutcomeUnknown, 0, null, "the agent is stopping"));
        }
    }

    public ValueTask DisposeAsync() => _runtime?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>Proposes <paramref name="document"/>; completes with its outcome.</summary>
    /// <param name="document">The bare document's bytes.</param>
    /// <param name="expectedVersion">Commit only on top of this version; null: on top of the version
    /// this node holds now (so a change made from a stale node conflicts rather than overwrites).</param>
    /// <param name="source">How problems name the document (the operator's file).</param>
    public async Task<ConfigApplyCompleted> ApplyAsync(ReadOnlyMemory<byte> document, long? expectedVersion, string source)
    {
        if (_runtime is null || _status is not { } status)
        {
            throw new InvalidOperationException("this node holds no cluster document: start it with Node:Bootstrap (or --bootstrap) first");
        }

        if (!_inspect(document).IsValid)
        {
            // Judged again only to name the operator's file in each problem.
            try
            {
                ClusterDocumentCheck.Validate(source, document, _state.Plugins, proposal: true);
            }
            catch (CohortStartupException ex)
            {
                return new ConfigApplyCompleted(0, ConfigApplyOutcome.Invalid, 0, null, string.Join("\n", ex.Problems));
            }
        }

        var token = Interlocked.Increment(ref _nextToken);
        var done = new TaskCompletionSource<ConfigApplyCompleted>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[token] = done;
        _runtime.Post(new LocalRequest(new ConfigApply(token, document.ToArray(), expectedVersion ?? status.Committed, _time.GetUtcNow())));
        try
        {
            // The core answers within its own timeout; this one only covers a core that stopped.
            return await done.Task.WaitAsync(ApplyTimeout + TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return new ConfigApplyCompleted(token, ConfigApplyOutcome.OutcomeUnknown, 0, null, "the configuration core did not answer");
        }
        finally
        {
            _waiting.TryRemove(token, out _);
        }
    }

    private void Send(NodeId to, Transport.TransportLane lane, ReadOnlyMemory<byte> frame) => _transport?.Send(to, lane, frame);

    private void OnEvent(object e)
    {
        switch (e)
        {
            case ConfigCommitted { Version: var version }:
                lock (_historyLock)
                {
                    _history.Add(version);
                    if (_history.Count > HistoryLength)
                    {
                        _history.RemoveAt(0);
                    }
                }

                // The stamp is CLOCK_MONOTONIC, shared by every process on the machine (bench/ccs reads it).
                var monotonic = _time.GetTimestamp() / (double)_time.TimestampFrequency;
                LogCommitted(_logger, version.Version, version.Sha256, version.Origin.Node.Value, version.Ballot, monotonic);
                var description = $"{_records} (version {version.Version})";
                _state.Configuration.ClusterSource?.Replace(description, version.Document);
                _membership.Adopt(version.Version, description, version.Document);
                Reach(description, version.Document);
                break;
            case ConfigAccepting accepting:
                // Before the acknowledgement leaves (the next output): see ConfigAccepting.
                _membership.Pending(accepting.Version, accepting.Document);
                break;
            case ConfigApplyCompleted completed:
                if (_waiting.TryGetValue(completed.Token, out var waiting))
                {
                    waiting.TrySetResult(completed);
                }

                break;
            case ConfigDiverged diverged:
                lock (_historyLock)
                {
                    _diverged.Add(diverged);
                }

                LogDiverged(_logger, diverged.Peer.Value, diverged.Version, diverged.Mine, diverged.Theirs);
                break;
        }
    }

    /// <summary>Hands the nodes of a committed version to the transport and to status.</summary>
    private void Reach(string description, ReadOnlyMemory<byte> document)
    {
        try
        {
            var (cluster, _) = ClusterDocument.Read(description, document);
            _state.Cluster = cluster;
            _transport?.UpdatePeers(cluster.PeersOf(_state.Self.Node));
            Committed?.Invoke(cluster);
        }
        catch (CohortStartupException ex)
        {
            LogUnreadable(_logger, description, ex.Problems);
        }
    }

    [LoggerMessage(Level = LogLevel.Critical, Message = "{Description} cannot be read here ({Problems}): the transport keeps its peers")]
    private static partial void LogUnreadable(ILogger logger, string description, IReadOnlyList<string> problems);

    [LoggerMessage(Level = LogLevel.Information, Message = "cluster document version {Version} committed (sha256 {Sha256}), proposed by node {Origin} under ballot {Ballot}, at monotonic {Monotonic:F6}")]
    private static partial void LogCommitted(ILogger logger, long version, string sha256, int origin, ViewId ballot, double monotonic);

    [LoggerMessage(Level = LogLevel.Error, Message = "node {Peer} holds another document under version {Version} (ours {Mine}, theirs {Theirs}): a state directory was restored or copied; do not use both")]
    private static partial void LogDiverged(ILogger logger, int peer, long version, string mine, string theirs);
}
