using System.Globalization;
using System.Text.Json;
using Cohort.Host.Agent;
using Cohort.Host.Configuration;
using Cohort.Host.Plugins;
using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Host.Admin;

/// <summary>The verbs the admin socket answers, built from the agent's state.</summary>
internal sealed class AdminVerbs
{
    private readonly AgentState _state;
    private readonly TransportService? _transport;
    private readonly ConfigService _config;
    private readonly MembershipService _membership;
    private readonly FencingService _fencing;
    private readonly WatchdogService? _watchdog;
    private readonly DlmService? _dlm;
    private readonly LockClients? _lockClients;

    public AdminVerbs(AgentState state, MembershipService membership, TransportService? transport, ConfigService config, FencingService fencing, WatchdogService? watchdog = null, DlmService? dlm = null, LockClients? lockClients = null)
    {
        _lockClients = lockClients;
        _watchdog = watchdog;
        _dlm = dlm;
        _state = state;
        _fencing = fencing;
        _membership = membership;
        _transport = transport;
        _config = config;
        Table = new Dictionary<string, Func<AdminRequest, Task<JsonElement>>>(StringComparer.Ordinal)
        {
            ["status"] = Sync(_ => JsonSerializer.SerializeToElement(Status(), HostJsonContext.Default.StatusReport)),
            ["plugins"] = Sync(_ => JsonSerializer.SerializeToElement([.. Plugins()], HostJsonContext.Default.PluginReportArray)),
            ["leave"] = Sync(Leave),
            ["quorum"] = Sync(_ => JsonSerializer.SerializeToElement(Quorum(), HostJsonContext.Default.QuorumStatus)),
            ["debug-partition"] = Sync(request => Debug(request, heal: false)),
            ["debug-heal"] = Sync(request => Debug(request, heal: true)),
            ["config-show"] = Sync(ConfigShow),
            ["config-history"] = Sync(_ => JsonSerializer.SerializeToElement([.. ConfigHistory()], HostJsonContext.Default.ConfigHistoryEntryArray)),
            ["config-apply"] = ConfigApplyAsync,
            ["fence"] = FenceAsync,
            ["fence-ack"] = Sync(FenceAck),
            ["fence-history"] = Sync(_ => JsonSerializer.SerializeToElement([.. FenceHistory()], HostJsonContext.Default.FenceHistoryEntryArray)),
            ["fence-devices"] = Sync(_ => JsonSerializer.SerializeToElement(FenceDevices(), HostJsonContext.Default.FenceDevicesReport)),
            ["debug-dlm-bench"] = DlmBenchAsync,
            [Dlm.Client.LockClientProtocol.Verb] = Sync(_ => LockSession()),
            ["locks"] = Sync(request => JsonSerializer.SerializeToElement(Locks(request), HostJsonContext.Default.LocksReport)),
        };
    }

    /// <summary>The verbs; each answers with its result or throws <see cref="InvalidOperationException"/>
    /// or <see cref="ArgumentException"/> with a message for the operator.</summary>
    public IReadOnlyDictionary<string, Func<AdminRequest, Task<JsonElement>>> Table { get; }

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    /// <summary>Accepts a lock session (the admin server hands the connection over once this has answered).</summary>
    private JsonElement LockSession() =>
        _dlm is { Manager.Attached: true }
            ? EmptyObject
            : throw new InvalidOperationException("the lock manager runs only on a node with a cluster document: start the agent with Node:Bootstrap (or --bootstrap)");

    private static Func<AdminRequest, Task<JsonElement>> Sync(Func<AdminRequest, JsonElement> verb) => request => Task.FromResult(verb(request));

    /// <summary>A committed version and its document (the latest, or the one asked for while this node keeps it).</summary>
    private JsonElement ConfigShow(AdminRequest request)
    {
        var wanted = request.Arguments?.Deserialize(HostJsonContext.Default.ConfigShowArguments)?.Version;
        var history = _config.History;
        if (history.Count == 0)
        {
            throw new InvalidOperationException("this node holds no cluster document (start it with Node:Bootstrap or --bootstrap)");
        }

        var version = wanted is { } number
            ? history.FirstOrDefault(v => v.Version == number)
              ?? throw new ArgumentException($"version {number} is not kept on this node; it keeps versions {history[0].Version} to {history[^1].Version}")
            : history[^1];
        using var document = JsonDocument.Parse(version.Document);
        var report = new ConfigShowReport(version.Version, version.Sha256, document.RootElement.Clone(), System.Text.Encoding.UTF8.GetString(version.Document.Span));
        return JsonSerializer.SerializeToElement(report, HostJsonContext.Default.ConfigShowReport);
    }

    private IEnumerable<ConfigHistoryEntry> ConfigHistory() =>
        _config.History.Select(v =>
        {
            string description;
            try
            {
                using var document = JsonDocument.Parse(v.Document);
                description = document.RootElement.TryGetProperty("Description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
            }
            catch (JsonException)
            {
                description = "";
            }

            return new ConfigHistoryEntry(v.Version, v.Sha256, v.Ballot.ToString(), v.Origin.Node.Value, v.ProposedAt, v.Document.Length, description);
        });

    /// <summary>Proposes a document; answers once its outcome is known (committed, conflict, invalid) or
    /// the wait ran out (outcome unknown).</summary>
    private async Task<JsonElement> ConfigApplyAsync(AdminRequest request)
    {
        var arguments = request.Arguments?.Deserialize(HostJsonContext.Default.ConfigApplyArguments)
            ?? throw new ArgumentException("config-apply needs {\"document\": ..., \"source\": ...}");
        var done = await _config.ApplyAsync(System.Text.Encoding.UTF8.GetBytes(arguments.Document), arguments.ExpectVersion, arguments.Source).ConfigureAwait(false);
        var outcome = done.Outcome switch
        {
            ClusterConfiguration.ConfigApplyOutcome.Committed => "committed",
            ClusterConfiguration.ConfigApplyOutcome.Conflict => "conflict",
            ClusterConfiguration.ConfigApplyOutcome.Invalid => "invalid",
            _ => "outcome-unknown",
        };
        return JsonSerializer.SerializeToElement(new ConfigApplyReport(outcome, done.Version, done.Winner?.Value, done.Detail), HostJsonContext.Default.ConfigApplyReport);
    }

    /// <summary>Lock+unlock cycles through this node's lock manager, and the floors they compare with (<c>cohort debug dlm-bench</c>).</summary>
    private async Task<JsonElement> DlmBenchAsync(AdminRequest request)
    {
        var arguments = request.Arguments?.Deserialize(HostJsonContext.Default.DlmBenchArguments) is { Lockspace: not null, Resource: not null } given
            ? given
            : throw new ArgumentException("dlm-bench needs {\"lockspace\": ..., \"resource\": ..., \"count\": N}");
        var dlm = _dlm is { Manager.Attached: true } running
            ? running
            : throw new InvalidOperationException("this node runs no lock manager (it holds no cluster document)");
        var report = await DlmBench.RunAsync(dlm.Manager, arguments, CancellationToken.None).ConfigureAwait(false);
        return JsonSerializer.SerializeToElement(report, HostJsonContext.Default.DlmBenchReport);
    }

    /// <summary>The resources of one lockspace, or of each this node joined, as this node knows them (<c>cohort locks</c>).</summary>
    /// <exception cref="ArgumentException">The lockspace is not joined here, or the limit is out of range.</exception>
    private LocksReport Locks(AdminRequest request)
    {
        var arguments = request.Arguments?.Deserialize(HostJsonContext.Default.LocksArguments) ?? new LocksArguments();
        var limit = arguments.Limit ?? 1000;
        if (limit is < 1 or > 1_000_000)
        {
            throw new ArgumentException($"--limit {limit}: expected 1 to 1000000");
        }

        if (_dlm?.Status is not { } status)
        {
            throw new InvalidOperationException("this node runs no lock manager (it holds no cluster document)");
        }

        var names = arguments.Lockspace is { } one ? [one] : status.Lockspaces.Select(l => l.Name).ToArray();
        var dumps = names.Select(name => _dlm.Dump(name, limit)
            ?? throw new ArgumentException($"lockspace \"{name}\" is not joined on this node; it joined {(status.Lockspaces.Count == 0 ? "none" : string.Join(", ", status.Lockspaces.Select(l => l.Name)))}"));
        return new LocksReport([.. dumps.Select(d => new LockspaceLocksReport(d.Name, d.TotalResources, [.. d.Resources.Select(ResourceReportOf)]))]);

        static ResourceLocksReport ResourceReportOf(Locking.DlmResourceDump r)
        {
            var bytes = r.Name.Span;
            var text = System.Text.Encoding.UTF8.GetString(bytes);
            var printable = System.Text.Encoding.UTF8.GetByteCount(text) == bytes.Length && !text.Any(c => char.IsControl(c) || c == '\uFFFD');
            return new ResourceLocksReport(printable ? text : null, Convert.ToHexStringLower(bytes), r.Master, r.DirectoryNode, r.MasteredHere,
                [.. r.Granted.Select(Entry)], [.. r.Converting.Select(Entry)], [.. r.Waiting.Select(Entry)], r.ValueSequence, r.ValueNotValid,
                r.LastToken.IsNone ? null : r.LastToken.ToString());
        }

        static LockEntryReport Entry(Locking.DlmLockDump l) => new(l.Owner.Node.Value, l.Owner.Incarnation, l.LockId,
            l.Granted is { } g ? LockModeNames.Of(g) : null, l.Requested is { } q ? LockModeNames.Of(q) : null, l.Flags.ToString(),
            l.Token.IsNone ? null : l.Token.ToString());
    }

    /// <summary>The lock manager in status: each lockspace this node joined.</summary>
    private DlmReport? DlmReportOf()
    {
        if (_dlm?.Status is not { } status)
        {
            return null;
        }

        return new DlmReport(_dlm.PluginName, [.. status.Lockspaces.Select(ls => new DlmLockspaceReport(
            ls.Name,
            ls.Id,
            ls.Phase.ToString().ToLowerInvariant(),
            ls.Sequence.ToString(),
            [.. ls.Members.Select(m => new MemberReport(m.Node.Value, NameOf(m.Node), m.Incarnation))],
            ls.Resources,
            ls.Mastered,
            ls.Locks,
            ls.RejectedFrames))]);
    }

    /// <summary>Makes a node a victim (<c>cohort fence NODE</c>); answers with the incarnation to be fenced.</summary>
    private async Task<JsonElement> FenceAsync(AdminRequest request)
    {
        var arguments = FenceArgumentsOf(request);
        Fencing.FenceAction? action = arguments.Action switch
        {
            null => null,
            "off" => Fencing.FenceAction.Off,
            "reboot" => Fencing.FenceAction.Reboot,
            var other => throw new ArgumentException($"fence action \"{other}\": expected off or reboot"),
        };
        var node = ResolveNode(arguments.Node, allowSelf: true);
        var victim = await _fencing.FenceAsync(node, action).ConfigureAwait(false);
        return JsonSerializer.SerializeToElement(new FenceReport(NameOf(victim.Node), victim.Node.Value, victim.Incarnation), HostJsonContext.Default.FenceReport);
    }

    /// <summary>Acknowledges a node for the <c>manual</c> devices waiting for it, on every node of the view.</summary>
    private JsonElement FenceAck(AdminRequest request)
    {
        var node = ResolveNode(FenceArgumentsOf(request).Node, allowSelf: true);
        _fencing.Acknowledge(node);
        return JsonSerializer.SerializeToElement(new FenceReport(NameOf(node), node.Value, 0), HostJsonContext.Default.FenceReport);
    }

    private static FenceArguments FenceArgumentsOf(AdminRequest request) =>
        request.Arguments?.Deserialize(HostJsonContext.Default.FenceArguments) is { Node: not null } arguments
            ? arguments
            : throw new ArgumentException("name the node (its name or id)");

    /// <summary>The fencing history this node keeps, oldest first.</summary>
    private IEnumerable<FenceHistoryEntry> FenceHistory() =>
        (_fencing.Status?.History ?? []).Select(HistoryEntryOf);

    private FenceHistoryEntry HistoryEntryOf(Fencing.FenceRecord r) => new(
        NameOf(r.Victim.Node), r.Victim.Node.Value, r.Victim.Incarnation, r.Level, r.Device, FencingService.Spell(r.Action), FencingService.Spell(r.Result),
        NameOf(r.Requester.Node), r.Requester.Node.Value, r.Requester.Incarnation, DateTimeOffset.FromUnixTimeMilliseconds(r.UnixMilliseconds),
        r.Fenced, r.Attempt, r.Reason.ToString().ToLowerInvariant(), r.Detail);

    /// <summary>The topology and every device with its last monitor result (<c>cohort fence devices</c>).</summary>
    private FenceDevicesReport FenceDevices()
    {
        var fencing = _state.Cluster?.Fencing ?? FencingConfig.None;
        var nodes = _state.Cluster?.Nodes ?? [];
        return new FenceDevicesReport(
            FencingService.Spell(fencing.Action),
            fencing.MonitorInterval.TotalSeconds,
            [.. nodes.Select(n => new FenceLevelsReport(n.Name, n.Id.Value, fencing.Topology.LevelsOf(n.Id)))],
            [.. fencing.Devices.Values.OrderBy(d => d.Name, StringComparer.Ordinal).Select(d =>
            {
                var monitor = _fencing.Monitors.TryGetValue(d.Name, out var m) ? m : null;
                return new FenceDeviceReport(d.Name, d.Agent, d.Timeout.TotalSeconds, d.Retries, d.HostMap, monitor is null ? null : FencingService.Spell(monitor.Result), monitor?.Detail, monitor?.At);
            })]);
    }

    private FencingReport? FencingReportOf()
    {
        if (_fencing.Status is not { } status)
        {
            return null;
        }

        return new FencingReport(
            [.. status.Pending.Select(p => new PendingFenceReport(NameOf(p.Victim.Node), p.Victim.Node.Value, p.Victim.Incarnation, p.Reason.ToString().ToLowerInvariant(),
                p.Fencer is { } fencer ? NameOf(fencer) : null, p.State, p.Attempt, p.Level, p.Device))],
            [.. status.History.GroupBy(r => r.Victim.Node).OrderBy(g => g.Key).Select(g => HistoryEntryOf(g.Last()))]);
    }

    /// <summary>Starts a clean leave: the node drains, is excluded from the next view as a clean
    /// leaver, and the agent exits. Answers at once with the status.</summary>
    /// <exception cref="InvalidOperationException">Lock clients hold locks, and <see cref="LeaveArguments.Force"/> is not set.</exception>
    private JsonElement Leave(AdminRequest request)
    {
        var force = request.Arguments?.Deserialize(HostJsonContext.Default.LeaveArguments)?.Force ?? false;
        if (!force && _lockClients?.Holding() is { Count: > 0 } holding)
        {
            throw new InvalidOperationException($"lock clients hold locks here ({string.Join("; ", holding)}): let them finish, or leave with --force, which kills their process groups first");
        }

        _ = _membership.LeaveAsync();
        return JsonSerializer.SerializeToElement(Status(), HostJsonContext.Default.StatusReport);
    }

    /// <summary>Cuts or heals links to peers (fault injection); answers with the transport's status.</summary>
    /// <exception cref="InvalidOperationException">Fault injection is off, or there is no transport.</exception>
    /// <exception cref="ArgumentException">The arguments name no configured peer or direction.</exception>
    private JsonElement Debug(AdminRequest request, bool heal)
    {
        if (!_state.Configuration.Node.FaultInjection)
        {
            throw new InvalidOperationException("fault injection is off on this node: set Node:FaultInjection to true in its node file (for tests only)");
        }

        var faults = _transport?.Faults
            ?? throw new InvalidOperationException(_transport is null
                ? "this node has no transport (a one-node cluster): nothing to cut"
                : $"transport {_transport.PluginName} cannot inject faults");
        var arguments = request.Arguments?.Deserialize(HostJsonContext.Default.DebugArguments) ?? new DebugArguments(null);
        var cut = arguments.OneWay switch
        {
            null => TransportCut.Both,
            "out" => TransportCut.Outbound,
            "in" => TransportCut.Inbound,
            var other => throw new ArgumentException($"one-way direction \"{other}\": expected out or in"),
        };
        IEnumerable<NodeId> peers = arguments.Peer is null
            ? heal ? OtherNodes() : throw new ArgumentException("name the peer to cut off (a node name or id)")
            : [.. arguments.Peer.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(ResolvePeer)];
        foreach (var peer in peers)
        {
            if (heal)
            {
                faults.Heal(peer);
            }
            else
            {
                faults.Cut(peer, cut);
            }
        }

        return JsonSerializer.SerializeToElement(TransportReport()!, HostJsonContext.Default.TransportReport);
    }

    private IEnumerable<NodeId> OtherNodes() =>
        _state.Cluster!.Nodes.Select(n => n.Id).Where(id => id != _state.Self.Node);

    private NodeId ResolvePeer(string peer) => ResolveNode(peer, allowSelf: false);

    /// <summary>A node of the committed document, by name or id.</summary>
    private NodeId ResolveNode(string name, bool allowSelf)
    {
        var nodes = _state.Cluster?.Nodes ?? throw new InvalidOperationException("this node holds no cluster document");
        var entry = nodes.FirstOrDefault(n => n.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
            ?? (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? nodes.FirstOrDefault(n => n.Id.Value == id) : null);
        if (entry is null || (!allowSelf && entry.Id == _state.Self.Node))
        {
            var known = nodes.Where(n => allowSelf || n.Id != _state.Self.Node).Select(n => $"{n.Name} ({n.Id})");
            throw new ArgumentException($"\"{name}\" is not {(allowSelf ? "a node of the cluster" : "a peer of this node")}; {(allowSelf ? "the nodes" : "the peers")} are {string.Join(", ", known)}");
        }

        return entry.Id;
    }

    /// <summary>The quorum decision with the lease and every node's votes (<c>cohort quorum</c>).</summary>
    public QuorumStatus Quorum()
    {
        var snapshot = _state.Current;
        var remaining = snapshot.QuorateUntil is { } until ? (until - _state.Clock()).TotalMilliseconds : (double?)null;
        var quorate = _state.IsQuorate;
        var nodes = _state.Cluster?.Nodes
            .Select(n => new NodeVotes(n.Id.Value, n.Name, n.Votes, snapshot.View?.Contains(n.Id) == true))
            .ToList() ?? [];
        return new QuorumStatus(quorate, quorate ? remaining : null, QuorumReportOf(snapshot), ViewReportOf(snapshot), nodes, DeviceStatusOf(snapshot));
    }

    private DeviceStatus? DeviceStatusOf(AgentState.Snapshot snapshot)
    {
        if (_state.Configuration.Cluster is not { QuorumDevice: { } name } cluster)
        {
            return null;
        }

        var now = _state.Clock();
        var grant = snapshot.DeviceGrant;
        var granted = grant is not null && snapshot.View is { } view && grant.Holds(view.Id, now);
        return new DeviceStatus(name, cluster.DeviceVotes, granted, granted ? (grant!.Until - now).TotalMilliseconds : null, grant?.Detail ?? "no report yet");
    }

    public StatusReport Status()
    {
        var snapshot = _state.Current;
        var cluster = _state.Configuration.Cluster;
        return new StatusReport(
            _state.Name,
            _state.Self.Node.Value,
            _state.Self.Incarnation,
            Environment.ProcessId,
            cluster?.Name,
            cluster?.Sha256,
            ViewReportOf(snapshot),
            _state.IsQuorate,
            snapshot.Phase,
            QuorumReportOf(snapshot),
            _state.StateDirectory,
            [.. Plugins()],
            TransportReport(),
            _config.Status is { } config
                ? new ConfigReport(config.Committed, config.CommittedSha256, config.InDoubt, config.Leader?.Value, config.Phase, _state.GenesisSha256,
                    [.. _config.Diverged.Select(d => $"node {d.Peer} holds another document under version {d.Version} (ours {d.Mine[..12]}, theirs {d.Theirs[..12]})")])
                : null,
            FencingReportOf(),
            _watchdog?.Report(),
            DlmReportOf());
    }

    private ViewReport? ViewReportOf(AgentState.Snapshot snapshot) =>
        snapshot.View is null
            ? null
            : new ViewReport(
                snapshot.View.Id.Seq,
                snapshot.View.Id.Coordinator.Value,
                [.. snapshot.View.Members.Select(m => new MemberReport(m.Node.Value, NameOf(m.Node), m.Incarnation))],
                snapshot.View.ConfigVersion);

    private QuorumReport QuorumReportOf(AgentState.Snapshot snapshot)
    {
        var decision = snapshot.Decision;
        return new QuorumReport(
            _state.Cluster?.QuorumPolicy,
            decision?.Votes ?? 0,
            decision?.ExpectedVotes ?? 0,
            snapshot.Reason,
            snapshot.QuorumIsDual || decision?.DualQuorum == true,
            decision?.Needed,
            decision?.Flags ?? [],
            _state.Configuration.Cluster is null ? null : ClusterDocument.Spell(_membership.NoQuorumPolicyUnder(snapshot.View?.ConfigVersion ?? _state.ConfigVersion)));
    }

    private TransportReport? TransportReport() =>
        _transport is null ? null : TransportReportOf(_transport, _state.Configuration.Node.FaultInjection, NameOf);

    /// <summary>The transport and its peers, as status shows them.</summary>
    internal static TransportReport TransportReportOf(TransportService transport, bool faultInjection, Func<NodeId, string> nameOf)
    {
        var status = transport.Status();
        return new TransportReport(
            transport.PluginName,
            status.ListenAddress,
            faultInjection,
            status.RefusedConnections,
            status.LastRefusal,
            [.. status.Peers.Select(p => new PeerReport(
                p.Node.Value,
                nameOf(p.Node),
                p.Incarnation,
                p.SessionOpen,
                p.Connected,
                p.Address,
                p.FramesSent,
                p.FramesReceived,
                p.MalformedFrames,
                p.Reconnects,
                p.SessionResets,
                p.QueuedBytes,
                p.Cut switch
                {
                    TransportCut.None => "none",
                    TransportCut.Outbound => "out",
                    TransportCut.Inbound => "in",
                    _ => "both",
                }))]);
    }

    private string NameOf(NodeId node) => _state.Cluster?.Find(node)?.Name ?? $"node{node}";

    private IEnumerable<PluginReport> Plugins() => PluginReports(_state.Plugins, _state.Selected);

    /// <summary>Every loaded plugin, as <c>cohort plugins</c> and status show it.</summary>
    internal static IEnumerable<PluginReport> PluginReports(PluginCatalog catalog, IReadOnlySet<LoadedPlugin> selected) =>
        catalog.Plugins.Select(p => new PluginReport(
            PluginSlots.Name(p.Manifest.Slot),
            p.Manifest.Name,
            p.Manifest.Version.ToString(),
            p.Manifest.AbstractionsVersion,
            p.AssemblyPath,
            p.LoadContext.Name ?? p.LoadContext.GetType().Name,
            selected.Contains(p),
            [.. p.PrivateAssemblies().Select(a => new AssemblyReport(a.Name ?? "", a.Version?.ToString() ?? ""))]));
}
