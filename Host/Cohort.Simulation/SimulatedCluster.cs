using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Cohort.Cores;
using Cohort.Membership;
using Cohort.Quorum;
using Cohort.Transport;
using Microsoft.Extensions.Configuration;

namespace Cohort.Simulation;

/// <summary>What a simulated cluster is made of.</summary>
public sealed record ClusterSetup
{
    /// <summary>The configured nodes.</summary>
    public required IReadOnlyList<ClusterNode> Nodes { get; init; }

    /// <summary>The cluster document, as <c>Cluster:*</c> keys.</summary>
    public required IConfiguration Cluster { get; init; }

    /// <summary>The SHA-256 of the cluster document.</summary>
    public required byte[] ConfigHash { get; init; }

    /// <summary>Makes a quorum policy instance for one node incarnation.</summary>
    public required Func<IQuorumPolicy> Policy { get; init; }

    /// <summary>The membership timings (and mutant).</summary>
    public MembershipOptions Membership { get; init; } = new();

    /// <summary>Makes the service core (CCS, DLM, ...) each node runs beside membership, or null. Its
    /// frames (any lane but <see cref="Transport.TransportLane.Membership"/>) travel on sessions: FIFO, no
    /// duplicates, no loss except at a <see cref="SessionReset"/> reported to both ends.</summary>
    public Func<NodeIncarnation, IProtocolCore>? Service { get; init; }

    /// <summary>The local request that tells the service core a view was installed, as the host does
    /// (queued behind what the service has to handle already), or null to tell it nothing.</summary>
    public Func<View, object>? ServiceView { get; init; }

    /// <summary>The membership rules a node starts with, from the service records on its disk (the cluster
    /// document version its configuration system holds), or null (also as the result) for
    /// <see cref="Nodes"/>, <see cref="Cluster"/>, <see cref="Policy"/> and <see cref="Device"/>.</summary>
    public Func<IReadOnlyDictionary<string, ReadOnlyMemory<byte>>, MembershipRules?>? StartRules { get; init; }

    /// <summary>Maps an event the service publishes to a local request its node's membership core
    /// handles at once, before the service's next output (as the host does for <c>ConfigAccepting</c>),
    /// or to null; null for none.</summary>
    public Func<object, object?>? ServiceToMembership { get; init; }

    /// <summary>Maps an event membership publishes to a local request queued for the service, or to
    /// null; null for none (views go through <see cref="ServiceView"/>).</summary>
    public Func<object, object?>? MembershipToService { get; init; }

    /// <summary>The quorum device, or null for none; its witness is <see cref="Witness"/>.</summary>
    public DeviceSetup? Device { get; init; }

    /// <summary>Makes the witness a <see cref="Device"/> asks (once per schedule).</summary>
    public Func<ISimulatedWitness>? Witness { get; init; }

    /// <summary>Makes the shared device a <see cref="Device"/> runs on each node's behalf (once per
    /// schedule), for a device with no witness process (<see cref="Witness"/> is then null).</summary>
    public Func<ISimulatedSharedDevice>? SharedDevice { get; init; }

    /// <summary>How often each node asks the witness (and at once after installing a view).</summary>
    public TimeSpan DevicePing { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The lease each request asks the witness for.</summary>
    public TimeSpan DeviceLease { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>One-way message latency on a healthy link: uniform in this range.</summary>
    public (TimeSpan Min, TimeSpan Max) Latency { get; init; } = (TimeSpan.FromMicroseconds(50), TimeSpan.FromMicroseconds(500));

    /// <summary>A cluster of <paramref name="count"/> nodes (ids 1..count, one vote each) under the
    /// given policy with its defaults; the config hash is the SHA-256 of the sorted keys and values.</summary>
    public static ClusterSetup Generate(int count, string policyName, Func<IQuorumPolicy> policy, MembershipOptions? membership = null)
    {
        var nodes = Enumerable.Range(1, count).Select(id => new ClusterNode(new NodeId(id), $"n{id}", 1)).ToList();
        return From(nodes, GeneratedKeys(count, policyName), policy, membership);
    }

    /// <summary>The <c>Cluster:*</c> keys of a generated cluster: nodes n1..n<paramref name="count"/>
    /// (ids 1..count, one vote each) under <paramref name="policyName"/> with its defaults.</summary>
    public static IReadOnlyDictionary<string, string?> GeneratedKeys(int count, string policyName)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        var keys = new SortedDictionary<string, string?>(StringComparer.Ordinal)
        {
            ["Cluster:Name"] = "simulated",
            ["Cluster:Quorum:Policy"] = policyName,
        };
        for (var i = 0; i < count; i++)
        {
            keys[$"Cluster:Nodes:{i}:Id"] = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            keys[$"Cluster:Nodes:{i}:Name"] = $"n{i + 1}";
        }

        return keys;
    }

    /// <summary>A canonical encoding of configuration keys, to hash: "key=value\n" lines in ordinal order.</summary>
    public static byte[] Canonical(IEnumerable<KeyValuePair<string, string?>> keys) =>
        Encoding.UTF8.GetBytes(string.Concat(keys.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key + "=" + kv.Value + "\n")));

    /// <summary>A cluster from its nodes and its <c>Cluster:*</c> keys.</summary>
    /// <param name="nodes">The configured nodes.</param>
    /// <param name="keys">The <c>Cluster:*</c> keys.</param>
    /// <param name="policy">Makes the quorum policy.</param>
    /// <param name="membership">The timings; default: the defaults.</param>
    /// <param name="configHash">The document's hash when it is a file (the SHA-256 of its bytes); default: of the keys.</param>
    public static ClusterSetup From(IReadOnlyList<ClusterNode> nodes, IEnumerable<KeyValuePair<string, string?>> keys, Func<IQuorumPolicy> policy, MembershipOptions? membership = null, byte[]? configHash = null)
    {
        var list = keys.ToList();
        return new ClusterSetup
        {
            Nodes = nodes,
            Cluster = new ConfigurationBuilder().AddInMemoryCollection(list).Build(),
            ConfigHash = configHash ?? SHA256.HashData(Canonical(list)),
            Policy = policy,
            Membership = membership ?? new MembershipOptions(),
        };
    }
}

/// <summary>The state of a simulated node's process.</summary>
public enum SimNodeState
{
    /// <summary>Running.</summary>
    Up,

    /// <summary>Stopped (SIGSTOP, a long GC, a VM migration): it keeps its beliefs and resumes with them.</summary>
    Paused,

    /// <summary>Crashed, or exited after leaving cleanly.</summary>
    Down,
}

/// <summary>
/// Many membership cores in one process, driven by one event queue in simulated time: per-node clocks
/// drifting within ±ρ, a network that delays, drops, duplicates, reorders and cuts links one way, a
/// disk per node that loses what was not fsynced, and crash, restart and pause. Everything random
/// comes from one seeded <see cref="SimRandom"/>, so a seed is a schedule, and the SHA-256 of the
/// canonical trace (<see cref="TraceHash"/>) is the same in every process.
/// </summary>
public sealed class SimulatedCluster
{
    private readonly ClusterSetup _setup;
    private readonly SimRandom _random;
    private readonly SimNode[] _nodes;
    private readonly Dictionary<int, int> _index = [];
    private readonly PriorityQueue<SimEvent, (long, long)> _queue = new();
    private readonly bool[,] _blocked;
    private readonly IncrementalHash _trace = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly StepRecord[] _recent = new StepRecord[32];
    private readonly List<ISimulationObserver> _observers = [];
    private readonly Stack<List<CoreOutput>> _outputPool = new();
    private readonly byte[] _scratch = new byte[64];
    private readonly Dictionary<(int, int), Session> _sessions = [];
    private readonly Dictionary<long, (NodeIncarnation From, NodeIncarnation To, TimeSpan Until)> _lastWords = [];
    private readonly ISimulatedWitness? _witness;
    private readonly ISimulatedSharedDevice? _shared;
    private readonly bool[] _witnessBlocked;
    private long _sequence;
    private long _sessionEpochs;

    /// <summary>Creates the cluster; every node boots within the first 200 ms of simulated time.</summary>
    public SimulatedCluster(ClusterSetup setup, ulong seed)
    {
        _setup = setup ?? throw new ArgumentNullException(nameof(setup));
        _random = new SimRandom(seed);
        Seed = seed;
        _nodes = new SimNode[setup.Nodes.Count];
        for (var i = 0; i < _nodes.Length; i++)
        {
            _nodes[i] = new SimNode(setup.Nodes[i].Id);
            _index[setup.Nodes[i].Id.Value] = i;
        }

        _blocked = new bool[_nodes.Length, _nodes.Length];
        _witnessBlocked = new bool[_nodes.Length];
        if (setup.Device is not null)
        {
            _shared = setup.SharedDevice?.Invoke();
            _witness = _shared is null ? (setup.Witness ?? throw new ArgumentException("a device needs a witness or a shared model", nameof(setup)))() : null;
        }
        for (var i = 0; i < _nodes.Length; i++)
        {
            Schedule(TimeSpan.FromTicks(_random.Between(0, TimeSpan.FromMilliseconds(200).Ticks)), new SimEvent(EventKind.Boot, i, 0));
        }
    }

    /// <summary>The seed.</summary>
    public ulong Seed { get; }

    /// <summary>The setup.</summary>
    public ClusterSetup Setup => _setup;

    /// <summary>Simulated real time.</summary>
    public TimeSpan Now { get; private set; }

    /// <summary>How many inputs the cores have handled.</summary>
    public long Steps { get; private set; }

    /// <summary>The simulator's random source, for fault plans that must stay on the same schedule.</summary>
    public SimRandom Random => _random;

    /// <summary>The nodes, in configuration order.</summary>
    public IReadOnlyList<SimNode> Nodes => _nodes;

    /// <summary>Probability that a frame is lost.</summary>
    public double LossRate { get; set; }

    /// <summary>Probability that a frame is delivered twice.</summary>
    public double DuplicateRate { get; set; }

    /// <summary>Extra one-way delay, uniform in [0, this], on top of the latency.</summary>
    public TimeSpan Jitter { get; set; }

    /// <summary>A broken session model (frames may overtake each other), for proving its checker.</summary>
    internal bool BreakSessionOrder { get; set; }

    /// <summary>The first violation a checker reported, if any; the run stops at it.</summary>
    public Violation? Violation { get; private set; }

    /// <summary>Registers a checker or recorder; it sees every step.</summary>
    public void Observe(ISimulationObserver observer) => _observers.Add(observer);

    /// <summary>Reports a violation (called by checkers); the run stops.</summary>
    public void Fail(string invariant, string detail) =>
        Violation ??= new Violation(Seed, invariant, Steps, Now, detail, RecentSteps());

    /// <summary>The SHA-256 of the canonical trace so far, as hex.</summary>
    public string TraceHash
    {
        get
        {
            var copy = _trace.GetCurrentHash();
            return Convert.ToHexStringLower(copy);
        }
    }

    /// <summary>Runs until simulated time <paramref name="until"/> or a violation.</summary>
    public void RunUntil(TimeSpan until)
    {
        while (Violation is null && _queue.TryPeek(out _, out var at) && at.Item1 <= until.Ticks)
        {
            var e = _queue.Dequeue();
            Now = TimeSpan.FromTicks(at.Item1);
            Dispatch(e);
        }

        if (Violation is null && Now < until)
        {
            Now = until;
        }
    }

    /// <summary>Runs for <paramref name="span"/> more.</summary>
    public void RunFor(TimeSpan span) => RunUntil(Now + span);

    /// <summary>Schedules an action of the fault plan at simulated time <paramref name="at"/>.</summary>
    public void At(TimeSpan at, Action action) => Schedule(at, new SimEvent(EventKind.Action, -1, 0) { Action = action });

    /// <summary>Crashes a node now; with <paramref name="midStep"/> it dies after only some of the
    /// outputs of its next step were carried out (disk steps of a persist counted one by one) — of its
    /// service core's next step, with <paramref name="serviceStep"/>.</summary>
    public void Crash(int node, bool midStep = false, bool serviceStep = false)
    {
        var n = _nodes[node];
        if (n.State == SimNodeState.Down)
        {
            return;
        }

        if (midStep && n.State == SimNodeState.Up)
        {
            n.CrashAfterOps = _random.Next(8);
            n.CrashInServiceStep = serviceStep;
            return;
        }

        Kill(n, crashed: true);
    }

    /// <summary>Restarts a crashed node with a new incarnation.</summary>
    public void Restart(int node)
    {
        if (_nodes[node].State == SimNodeState.Down && _nodes[node].Booted)
        {
            Boot(node);
        }
    }

    /// <summary>Pauses a running node for <paramref name="duration"/>.</summary>
    public void Pause(int node, TimeSpan duration)
    {
        var n = _nodes[node];
        if (n.State != SimNodeState.Up)
        {
            return;
        }

        n.State = SimNodeState.Paused;
        Schedule(Now + duration, new SimEvent(EventKind.Resume, node, n.Incarnation));
    }

    /// <summary>Cuts (or restores) the link from one node to another, one way.</summary>
    public void SetBlocked(int from, int to, bool blocked) => _blocked[from, to] = blocked;

    /// <summary>Whether the link from one node to another is cut.</summary>
    public bool IsBlocked(int from, int to) => _blocked[from, to];

    /// <summary>Cuts (or restores) a node's link to the quorum device's witness, both ways.</summary>
    public void SetWitnessBlocked(int node, bool blocked) => _witnessBlocked[node] = blocked;

    /// <summary>Restores every link and clears loss, duplication and jitter.</summary>
    public void HealNetwork()
    {
        Array.Clear(_blocked);
        Array.Clear(_witnessBlocked);
        LossRate = 0;
        DuplicateRate = 0;
        Jitter = TimeSpan.Zero;
    }

    /// <summary>Resumes every paused node, restarts every crashed one, and calls off pending mid-step crashes.</summary>
    public void ReviveAll()
    {
        for (var i = 0; i < _nodes.Length; i++)
        {
            _nodes[i].CrashAfterOps = -1;
            if (_nodes[i].State == SimNodeState.Paused)
            {
                Resume(i);
            }
            else if (_nodes[i].State == SimNodeState.Down && _nodes[i].Booted)
            {
                Boot(i);
            }
        }
    }

    /// <summary>Hands a local request (leave, drained) to a running node's core.</summary>
    public void Request(int node, object request)
    {
        if (_nodes[node].State == SimNodeState.Up)
        {
            Step(node, new LocalRequest(request));
        }
    }

    /// <summary>Hands a local request to a running node's service core (as a separate input, like the
    /// host's queue); dropped if the node is down or restarts before it is handled.</summary>
    public void RequestService(int node, object request)
    {
        if (_nodes[node].State != SimNodeState.Down && _nodes[node].Service is not null)
        {
            Schedule(Now, new SimEvent(EventKind.ServiceRequest, node, _nodes[node].Incarnation) { Request = request });
        }
    }

    /// <summary>The index of a node id.</summary>
    public int IndexOf(NodeId node) => _index[node.Value];

    private void Schedule(TimeSpan at, SimEvent e) => _queue.Enqueue(e, (at.Ticks, _sequence++));

    private void Dispatch(SimEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Action:
                e.Action!();
                return;
            case EventKind.Boot:
                Boot(e.Node);
                return;
            case EventKind.WitnessArrive:
                AnswerAtWitness(e);
                return;
            case EventKind.Resume:
                if (_nodes[e.Node].Incarnation == e.Incarnation && _nodes[e.Node].State == SimNodeState.Paused)
                {
                    Resume(e.Node);
                }

                return;
            default:
                break;
        }

        var node = _nodes[e.Node];
        if (node.State == SimNodeState.Down || (e.Kind is EventKind.Timer or EventKind.SessionReset or EventKind.DevicePing or EventKind.DeviceAnswer or EventKind.ServiceRequest && node.Incarnation != e.Incarnation))
        {
            return; // for an incarnation that is gone
        }

        if (node.State == SimNodeState.Paused)
        {
            node.Backlog.Enqueue(e);
            return;
        }

        Deliver(e);
    }

    private void Deliver(SimEvent e)
    {
        var node = _nodes[e.Node];
        switch (e.Kind)
        {
            case EventKind.Timer:
                if (!node.Timers.TryGetValue(e.Name!, out var version) || version != e.Version)
                {
                    break; // moved or cancelled, perhaps while it waited in a paused node's backlog
                }

                node.Timers.Remove(e.Name!);
                var service = e.Name!.StartsWith(ServiceTimerPrefix, StringComparison.Ordinal);
                Step(e.Node, new TimerFired(service ? e.Name[ServiceTimerPrefix.Length..] : e.Name), service);
                break;
            case EventKind.SessionFrame:
                // Sent on a session that has since been reset, or to an incarnation that is gone: lost,
                // and the reset was (or will be) reported to both ends.
                var live = _sessions.TryGetValue(SessionKey(e.Frame!.From.Node, node.Id), out var session) && session.Epoch == e.Epoch && node.Self == session.End(node.Id);
                var lastWords = _lastWords.TryGetValue(e.Epoch, out var words) && words.From == e.Frame.From && words.To == node.Self && Now <= words.Until;
                if ((live || lastWords) && node.Service is not null)
                {
                    Step(e.Node, e.Frame, service: true);
                }

                break;
            case EventKind.SessionReset:
                if (node.Service is not null)
                {
                    Step(e.Node, new SessionReset(e.Peer), service: true);
                }

                break;
            case EventKind.DevicePing:
                AskWitness(e.Node, node);
                Schedule(Now + _setup.DevicePing, new SimEvent(EventKind.DevicePing, e.Node, node.Incarnation));
                break;
            case EventKind.DeviceAnswer:
                Step(e.Node, new LocalRequest(new DeviceReport(e.Grant!)));
                break;
            case EventKind.ServiceRequest:
                Step(e.Node, new LocalRequest(e.Request!), service: true);
                break;
            default:
                Step(e.Node, e.Frame!);
                break;
        }
    }

    private void Boot(int index)
    {
        var node = _nodes[index];
        var previous = node.Disk.Read("incarnation");
        var incarnation = (previous is { Length: 8 } ? BinaryPrimitives.ReadInt64LittleEndian(previous) : 0) + 1;
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, incarnation);
        node.Disk.Persist("incarnation", bytes);

        var serviceRecords = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        foreach (var name in node.Disk.Names())
        {
            if (name is not ("incarnation" or MembershipCore.RecordName or MembershipCore.PolicyRecordName) && !name.EndsWith(".tmp", StringComparison.Ordinal))
            {
                serviceRecords[name] = node.Disk.Read(name)!;
            }
        }

        var drift = _setup.Membership.ClockDriftBound;
        var rules = _setup.StartRules?.Invoke(serviceRecords);
        node.Start(
            incarnation,
            Now,
            (_random.NextDouble() * 2 - 1) * drift,
            rules is null
                ? new MembershipCore(_setup.Nodes, _setup.Cluster, _setup.ConfigHash, _setup.Policy(), _setup.Membership, _setup.Device)
                : new MembershipCore(rules, _setup.ConfigHash));

        var records = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        foreach (var name in new[] { MembershipCore.RecordName, MembershipCore.PolicyRecordName })
        {
            if (node.Disk.Read(name) is { } record)
            {
                records[name] = record;
            }
        }

        Step(index, new CoreStarted(node.Self, records));
        if (_witness is not null || _shared is not null)
        {
            Schedule(Now + _setup.DevicePing, new SimEvent(EventKind.DevicePing, index, node.Incarnation));
        }
        if (_setup.Service is not null && node.State == SimNodeState.Up)
        {
            node.Service = _setup.Service(node.Self);
            Step(index, new CoreStarted(node.Self, serviceRecords), service: true);
        }
    }

    private void Resume(int index)
    {
        var node = _nodes[index];
        node.State = SimNodeState.Up;
        while (node.State == SimNodeState.Up && node.Backlog.TryDequeue(out var e))
        {
            Deliver(e);
        }
    }

    private void Kill(SimNode node, bool crashed)
    {
        ResetSessionsOf(node.Id, crashed ? node.Self : null);
        node.State = SimNodeState.Down;
        node.Timers.Clear();
        node.Backlog.Clear();
        node.CrashAfterOps = -1;
        if (crashed)
        {
            node.Disk.Crash(_random);
        }

        foreach (var observer in _observers)
        {
            observer.NodeStopped(this, node);
        }
    }

    private void Step(int index, CoreInput input, bool service = false)
    {
        var node = _nodes[index];
        var local = node.LocalAt(Now);
        // Steps nest (a service event handled by membership at once), so each has its own list.
        var outputs = _outputPool.Count > 0 ? _outputPool.Pop() : [];
        outputs.Clear();
        try
        {
            RunStep(index, node, input, local, outputs, service);
        }
        finally
        {
            _outputPool.Push(outputs);
        }
    }

    private void RunStep(int index, SimNode node, CoreInput input, TimeSpan local, List<CoreOutput> outputs, bool service)
    {
        IProtocolCore core = service ? node.Service! : node.Core!;
        core.Handle(input, local, outputs);
        Steps++;
        Record(node, input, local, service, outputs);

        var ops = 0;
        var stopped = false;
        var armed = node.CrashAfterOps >= 0 && (service || !node.CrashInServiceStep);
        foreach (var output in outputs)
        {
            var cost = output is PersistRecord ? 4 : 1;
            if (armed && ops + cost > node.CrashAfterOps)
            {
                if (output is PersistRecord cut)
                {
                    node.Disk.Persist(cut.Name, cut.Contents.Span, node.CrashAfterOps - ops);
                }

                Kill(node, crashed: true);
                stopped = true;
                break;
            }

            ops += cost;
            foreach (var observer in _observers)
            {
                observer.Executed(this, node, output);
            }

            Execute(index, node, output, service);
            if (node.State == SimNodeState.Down)
            {
                stopped = true;
                break;
            }
        }

        if (!stopped && armed)
        {
            Kill(node, crashed: true);
            stopped = true;
        }

        if (!stopped)
        {
            foreach (var observer in _observers)
            {
                observer.AfterStep(this, node);
            }

            if ((_witness is not null || _shared is not null) && !service && !ReferenceEquals(DeviceView(node), node.AskedFor))
            {
                AskWitness(index, node); // a new view is asked for at once, as the real device does
            }
        }
    }

    /// <summary>The view a node's device asks the vote for: the installed one while it may act.</summary>
    private static View? DeviceView(SimNode node) =>
        node.Core is { Phase: MembershipPhase.Member or MembershipPhase.Leaving } core ? core.Installed : null;

    private void AskWitness(int index, SimNode node)
    {
        var view = DeviceView(node);
        node.AskedFor = view;
        if (_shared is not null)
        {
            // The shared state is the device: one step now, reported at once (as a separate input).
            if (!_witnessBlocked[index])
            {
                var grant = _shared.Advance(node.Self, view, node.LocalAt(Now));
                Schedule(Now, new SimEvent(EventKind.DeviceAnswer, index, node.Incarnation) { Grant = grant });
            }

            return;
        }

        if (view is null || _witnessBlocked[index] || _random.Chance(LossRate))
        {
            return;
        }

        var sent = node.LocalAt(Now);
        Schedule(Now + _random.Between(_setup.Latency.Min, _setup.Latency.Max), new SimEvent(EventKind.WitnessArrive, index, node.Incarnation)
        {
            Request = new WitnessAsk(node.Self, view, sent),
        });
    }

    private void AnswerAtWitness(SimEvent e)
    {
        var ask = (WitnessAsk)e.Request!;
        if (_witnessBlocked[e.Node])
        {
            return;
        }

        var granted = _witness!.Ask(ask.Node, ask.View, _setup.DeviceLease, _setup.Membership.ClockDriftBound, Now, out var reason);
        var grant = granted
            ? new QuorumDeviceGrant(ask.View.Id, ask.Sent + (_setup.DeviceLease * (1 - _setup.Membership.ClockDriftBound)), "granted by the simulated witness")
            : new QuorumDeviceGrant(null, TimeSpan.Zero, "simulated witness: " + reason);
        Schedule(Now + _random.Between(_setup.Latency.Min, _setup.Latency.Max), new SimEvent(EventKind.DeviceAnswer, e.Node, e.Incarnation) { Grant = grant });
    }

    private void Execute(int index, SimNode node, CoreOutput output, bool service)
    {
        switch (output)
        {
            case SendFrame send when send.Lane == TransportLane.Membership && !service:
                Send(index, node, send);
                break;
            case SendFrame send:
                SendOnSession(index, node, send);
                break;
            case SetTimer set:
                var version = ++node.TimerVersion;
                var key = TimerKey(set.Name, service);
                node.Timers[key] = version;
                var at = node.GlobalAt(set.At);
                Schedule(at < Now ? Now : at, new SimEvent(EventKind.Timer, index, node.Incarnation) { Name = key, Version = version });
                break;
            case CancelTimer cancel:
                node.Timers.Remove(TimerKey(cancel.Name, service));
                break;
            case PersistRecord persist:
                node.Disk.Persist(persist.Name, persist.Contents.Span);
                break;
            case PublishEvent publish:
                foreach (var observer in _observers)
                {
                    observer.Published(this, node, publish.Event);
                }

                if (!service && publish.Event is ViewInstalled installed && _setup.ServiceView is { } tell)
                {
                    RequestService(index, tell(installed.View));
                }

                if (!service && _setup.MembershipToService?.Invoke(publish.Event) is { } serviceRequest)
                {
                    RequestService(index, serviceRequest);
                }

                if (service && _setup.ServiceToMembership?.Invoke(publish.Event) is { } membershipRequest)
                {
                    Step(index, new LocalRequest(membershipRequest));
                }

                if (publish.Event is LeftCluster)
                {
                    Kill(node, crashed: false); // the agent exits after a clean leave
                }

                break;
            default:
                throw new InvalidOperationException($"unknown output {output.GetType().Name}");
        }
    }

    private void Send(int from, SimNode sender, SendFrame send)
    {
        if (!_index.TryGetValue(send.To.Value, out var to) || _blocked[from, to] || _random.Chance(LossRate))
        {
            return;
        }

        var copies = _random.Chance(DuplicateRate) ? 2 : 1;
        var frame = new FrameReceived(sender.Self, send.Lane, send.Frame);
        for (var c = 0; c < copies; c++)
        {
            var delay = _random.Between(_setup.Latency.Min, _setup.Latency.Max);
            if (Jitter > TimeSpan.Zero)
            {
                delay += _random.Between(TimeSpan.Zero, Jitter);
            }

            Schedule(Now + delay, new SimEvent(EventKind.Frame, to, 0) { Frame = frame });
        }
    }

    private const string ServiceTimerPrefix = "service:";

    private static string TimerKey(string name, bool service) => service ? ServiceTimerPrefix + name : name;

    private static (int, int) SessionKey(NodeId a, NodeId b) => a.Value < b.Value ? (a.Value, b.Value) : (b.Value, a.Value);

    /// <summary>
    /// The session model of DESIGN.md for service cores: per pair of node incarnations, frames arrive in
    /// order and once; a cut link, a crash or a restart resets the session, which both ends hear as a
    /// <see cref="SessionReset"/>, and frames in flight on it are lost.
    /// </summary>
    private void SendOnSession(int from, SimNode sender, SendFrame send)
    {
        if (!_index.TryGetValue(send.To.Value, out var to) || to == from)
        {
            return;
        }

        var receiver = _nodes[to];
        var key = SessionKey(sender.Id, receiver.Id);
        if (_sessions.TryGetValue(key, out var session) && (session.End(sender.Id) != sender.Self || session.End(receiver.Id) != receiver.Self))
        {
            ResetSession(key);
            session = null;
        }

        var wrongIncarnation = send.ToIncarnation != 0 && send.ToIncarnation != receiver.Incarnation;
        if (receiver.State == SimNodeState.Down || _blocked[from, to] || _blocked[to, from] || wrongIncarnation)
        {
            // No session can carry it. A live session breaks, and both ends hear of it; with none,
            // the send is refused, which the sender hears as a reset (a transport's TrySend says false).
            if (session is not null && !wrongIncarnation)
            {
                ResetSession(key);
            }
            else
            {
                var peer = wrongIncarnation ? new NodeIncarnation(receiver.Id, send.ToIncarnation) : receiver.Self;
                Schedule(ResetTime(sender.Self, peer), new SimEvent(EventKind.SessionReset, from, sender.Incarnation) { Peer = peer });
            }

            return;
        }

        if (session is null)
        {
            session = new Session(sender.Self, receiver.Self, ++_sessionEpochs);
            _sessions[key] = session;
        }

        var delay = _random.Between(_setup.Latency.Min, _setup.Latency.Max) + (Jitter > TimeSpan.Zero ? _random.Between(TimeSpan.Zero, Jitter) : TimeSpan.Zero);
        var at = Now + delay;
        var last = session.LastDelivery(sender.Id);
        if (at <= last && !BreakSessionOrder)
        {
            at = last + TimeSpan.FromTicks(1); // FIFO: never overtake an earlier frame
        }

        session.Delivered(sender.Id, at);
        Schedule(at, new SimEvent(EventKind.SessionFrame, to, receiver.Incarnation) { Epoch = session.Epoch, Frame = new FrameReceived(sender.Self, send.Lane, send.Frame) });
    }

    /// <summary>When <paramref name="end"/> may hear that its session with <paramref name="peer"/> broke:
    /// now, or after the last frames a crashed <paramref name="peer"/> sent are delivered.</summary>
    private TimeSpan ResetTime(NodeIncarnation end, NodeIncarnation peer)
    {
        var at = Now;
        foreach (var words in _lastWords.Values)
        {
            if (words.From == peer && words.To == end && words.Until > at)
            {
                at = words.Until;
            }
        }

        return at;
    }

    /// <param name="node">The node whose sessions break.</param>
    /// <param name="crashed">The incarnation, when it crashed: what it sent before it died may still
    /// arrive (it was in the network already), a random prefix of it, before the peer hears of the reset.</param>
    private void ResetSessionsOf(NodeId node, NodeIncarnation? crashed = null)
    {
        foreach (var key in _sessions.Keys.Where(k => k.Item1 == node.Value || k.Item2 == node.Value).Order().ToList())
        {
            ResetSession(key, crashed);
        }
    }

    private void ResetSession((int, int) key, NodeIncarnation? crashed = null)
    {
        if (!_sessions.Remove(key, out var session))
        {
            return;
        }

        foreach (var (end, peer) in new[] { (session.A, session.B), (session.B, session.A) })
        {
            var index = _index[end.Node.Value];
            if (_nodes[index].Incarnation == end.Incarnation && _nodes[index].State != SimNodeState.Down)
            {
                var at = Now;
                if (crashed == peer && session.LastDelivery(peer.Node) > Now)
                {
                    // Often all of it arrives (the last frame included), else a prefix.
                    at = _random.Chance(0.5) ? session.LastDelivery(peer.Node) : _random.Between(Now, session.LastDelivery(peer.Node));
                    foreach (var spent in _lastWords.Where(w => w.Value.Until < Now).Select(w => w.Key).ToList())
                    {
                        _lastWords.Remove(spent);
                    }

                    _lastWords[session.Epoch] = (peer, end, at);
                }

                Schedule(at, new SimEvent(EventKind.SessionReset, index, end.Incarnation) { Peer = peer });
            }
        }
    }

    private void Record(SimNode node, CoreInput input, TimeSpan local, bool service, List<CoreOutput> outputs)
    {
        var s = _scratch.AsSpan();
        BinaryPrimitives.WriteInt64LittleEndian(s, Now.Ticks);
        BinaryPrimitives.WriteInt64LittleEndian(s[8..], local.Ticks);
        BinaryPrimitives.WriteInt32LittleEndian(s[16..], node.Id.Value);
        BinaryPrimitives.WriteInt64LittleEndian(s[20..], node.Incarnation);
        s[28] = (byte)((input switch { CoreStarted => 1, FrameReceived => 2, TimerFired => 3, LocalRequest => 4, _ => 5 }) | (service ? 0x80 : 0));
        _trace.AppendData(s[..29]);
        switch (input)
        {
            case FrameReceived f:
                BinaryPrimitives.WriteInt32LittleEndian(s, f.From.Node.Value);
                BinaryPrimitives.WriteInt64LittleEndian(s[4..], f.From.Incarnation);
                _trace.AppendData(s[..12]);
                _trace.AppendData(f.Frame.Span);
                break;
            case TimerFired t:
                _trace.AppendData(Encoding.UTF8.GetBytes(t.Name));
                break;
            case LocalRequest r:
                _trace.AppendData(Encoding.UTF8.GetBytes(r.Request.GetType().Name));
                break;
            case SessionReset reset:
                BinaryPrimitives.WriteInt32LittleEndian(s, reset.Peer.Node.Value);
                BinaryPrimitives.WriteInt64LittleEndian(s[4..], reset.Peer.Incarnation);
                _trace.AppendData(s[..12]);
                break;
            default:
                break;
        }

        foreach (var output in outputs)
        {
            switch (output)
            {
                case SendFrame send:
                    BinaryPrimitives.WriteInt32LittleEndian(s, send.To.Value);
                    _trace.AppendData(s[..4]);
                    _trace.AppendData(send.Frame.Span);
                    break;
                case SetTimer set:
                    BinaryPrimitives.WriteInt64LittleEndian(s, set.At.Ticks);
                    _trace.AppendData(s[..8]);
                    _trace.AppendData(Encoding.UTF8.GetBytes(set.Name));
                    break;
                case PersistRecord persist:
                    _trace.AppendData(persist.Contents.Span);
                    break;
                case PublishEvent publish:
                    _trace.AppendData(Encoding.UTF8.GetBytes(publish.Event.ToString() ?? ""));
                    break;
                default:
                    break;
            }
        }

        _recent[Steps % _recent.Length] = new StepRecord(Now, node.Self, input, [.. outputs.Where(o => o is not SetTimer and not CancelTimer)]);
    }

    private List<string> RecentSteps()
    {
        var lines = new List<string>();
        for (var i = Math.Max(0, Steps - _recent.Length + 1); i <= Steps; i++)
        {
            if (_recent[i % _recent.Length] is { } r)
            {
                lines.Add(r.Describe());
            }
        }

        return lines;
    }

    private sealed record StepRecord(TimeSpan At, NodeIncarnation Node, CoreInput Input, CoreOutput[] Outputs)
    {
        public string Describe()
        {
            var input = Input switch
            {
                FrameReceived f when f.Lane == TransportLane.Membership => $"frame from {f.From}: {MembershipFrames.Describe(f.Frame.Span)}",
                FrameReceived f => $"{f.Lane} frame from {f.From} ({f.Frame.Length} bytes)",
                SessionReset r => $"session with {r.Peer} reset",
                TimerFired t => $"timer {t.Name}",
                LocalRequest r => $"request {r.Request.GetType().Name}",
                CoreStarted => "started",
                _ => Input.GetType().Name,
            };
            var outputs = string.Join("; ", Outputs.Select(o => o switch
            {
                SendFrame s when s.Lane == TransportLane.Membership => $"send {s.To} {MembershipFrames.Describe(s.Frame.Span)}",
                SendFrame s => $"send {s.To} on {s.Lane} ({s.Frame.Length} bytes)",
                PersistRecord p => $"persist {p.Name}",
                PublishEvent e => $"event {e.Event}",
                _ => o.GetType().Name,
            }));
            return $"{At.TotalMilliseconds:F3} ms {Node}: {input} -> {outputs}";
        }
    }
}

internal enum EventKind
{
    Boot,
    Frame,
    Timer,
    Resume,
    Action,
    SessionFrame,
    SessionReset,
    DevicePing,
    WitnessArrive,
    DeviceAnswer,
    ServiceRequest,
}

internal sealed record WitnessAsk(NodeIncarnation Node, View View, TimeSpan Sent);

/// <summary>One event in the queue.</summary>
/// <param name="Kind">What it is.</param>
/// <param name="Node">The node it is for (-1 for plan actions).</param>
/// <param name="Incarnation">The incarnation a timer, resume or session reset is for; stale when the
/// node has moved on.</param>
internal sealed record SimEvent(EventKind Kind, int Node, long Incarnation)
{
    public FrameReceived? Frame { get; init; }

    public string? Name { get; init; }

    /// <summary>A timer's version: a moved or cancelled timer's event is stale.</summary>
    public long Version { get; init; }

    /// <summary>The session a session frame travels on: a reset session's frames are lost.</summary>
    public long Epoch { get; init; }

    public Action? Action { get; init; }

    public NodeIncarnation Peer { get; init; }

    /// <summary>A witness request, or a service's local request.</summary>
    public object? Request { get; init; }

    public QuorumDeviceGrant? Grant { get; init; }
}

/// <summary>A session between two node incarnations, with the last delivery time per direction.</summary>
internal sealed class Session(NodeIncarnation a, NodeIncarnation b, long epoch)
{
    private TimeSpan _fromA, _fromB;

    public NodeIncarnation A { get; } = a;

    public NodeIncarnation B { get; } = b;

    public long Epoch { get; } = epoch;

    public NodeIncarnation End(NodeId node) => A.Node == node ? A : B;

    public TimeSpan LastDelivery(NodeId sender) => A.Node == sender ? _fromA : _fromB;

    public void Delivered(NodeId sender, TimeSpan at)
    {
        if (A.Node == sender)
        {
            _fromA = at;
        }
        else
        {
            _fromB = at;
        }
    }
}

/// <summary>One node of a <see cref="SimulatedCluster"/>: its process state, clock, timers and disk.</summary>
public sealed class SimNode
{
    internal SimNode(NodeId id) => Id = id;

    /// <summary>Its node id.</summary>
    public NodeId Id { get; }

    /// <summary>Its current (or last) incarnation; 0 before it booted.</summary>
    public long Incarnation { get; private set; }

    /// <summary>Its identity.</summary>
    public NodeIncarnation Self => new(Id, Incarnation);

    /// <summary>Running, paused or down.</summary>
    public SimNodeState State { get; internal set; } = SimNodeState.Down;

    /// <summary>Its membership core (of the current or last incarnation).</summary>
    public MembershipCore? Core { get; private set; }

    /// <summary>Its service core (of the current or last incarnation), when the setup has one.</summary>
    public IProtocolCore? Service { get; internal set; }

    /// <summary>Its disk; survives crashes, minus what was not durable.</summary>
    public VirtualDisk Disk { get; } = new();

    /// <summary>When (simulated real time) the current incarnation booted.</summary>
    public TimeSpan BootedAt { get; private set; }

    /// <summary>Its clock's rate error: local time runs at (1 + Drift) times real time.</summary>
    public double Drift { get; private set; }

    internal bool Booted => Incarnation > 0;

    internal Dictionary<string, long> Timers { get; } = new(StringComparer.Ordinal);

    internal long TimerVersion { get; set; }

    internal Queue<SimEvent> Backlog { get; } = new();

    internal int CrashAfterOps { get; set; } = -1;

    /// <summary>Whether the armed mid-step crash waits for a step of the service core.</summary>
    internal bool CrashInServiceStep { get; set; }

    /// <summary>The view this node's device last asked the witness about.</summary>
    internal View? AskedFor { get; set; }

    /// <summary>Its local monotonic time at real time <paramref name="global"/>.</summary>
    public TimeSpan LocalAt(TimeSpan global) => TimeSpan.FromTicks((long)((global - BootedAt).Ticks * (1 + Drift)));

    /// <summary>The real time at which this incarnation's clock reads <paramref name="local"/>.</summary>
    public TimeSpan GlobalAt(TimeSpan local)
    {
        if (local == TimeSpan.MaxValue)
        {
            return TimeSpan.MaxValue;
        }

        var g = BootedAt.Ticks + (long)Math.Ceiling(local.Ticks / (1 + Drift));
        while (LocalAt(TimeSpan.FromTicks(g)) < local)
        {
            g++;
        }

        return TimeSpan.FromTicks(g);
    }

    internal void Start(long incarnation, TimeSpan now, double drift, MembershipCore core)
    {
        Incarnation = incarnation;
        BootedAt = now;
        Drift = drift;
        Core = core;
        State = SimNodeState.Up;
        Timers.Clear();
        CrashAfterOps = -1;
    }
}
