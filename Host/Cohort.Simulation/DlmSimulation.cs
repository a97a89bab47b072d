using System.Globalization;
using System.Text;
using Cohort.Cores;
using Cohort.Fencing;
using Cohort.Locking;
using Cohort.Membership;

namespace Cohort.Simulation;

/// <summary>
/// Runs a lock manager beside membership and the fencing orchestrator on every simulated node, with a workload of
/// lock clients on each, under the fault plan (crashes — also in the middle of recoveries —, partitions, pauses,
/// restarts) and fence devices that really crash their victims; checks invariant 3 against what every live
/// incarnation's clients believe they hold, partitioned and paused ones included.
/// </summary>
/// <remarks>
/// The workload: four hot resources under contention and ten cold ones that go idle long enough to be dropped
/// from the masters' caches and come back mastered elsewhere; every mode; NOQUEUE, QUECVT and CONVDEADLK requests;
/// PR holders up-converting to EX; PW/EX holders writing value blocks on unlock (and dying with them); holders
/// release within <see cref="DlmChecker.HoldMax"/>. Checked: no two incompatible locks believed held at once; the
/// fencing tokens of a resource grow with every PW/EX grant; a valid value block read is never older than a write
/// completed before the request; after calm returns, every request completes and every node has joined.
/// </remarks>
public static class DlmSimulation
{
    /// <summary>The invariant's name in reports.</summary>
    public const string Name = "dlm";

    /// <summary>The lockspace the workload uses.</summary>
    public const string Lockspace = "sim";

    /// <summary>The membership setup with a node core (fencing + lock manager + workload) as every node's service.</summary>
    public static ClusterSetup With(ClusterSetup membership, ILockManager system, ulong seed, DlmChecker checker, TimeSpan cacheTime)
    {
        ArgumentNullException.ThrowIfNull(membership);
        ArgumentNullException.ThrowIfNull(system);
        var topology = FencingSimulation.Topology(membership.Nodes);
        var setup = new LockManagerSetup(new Dictionary<NodeId, int>(), cacheTime);
        return membership with
        {
            Service = self =>
            {
                var random = new SimRandom(seed ^ ((ulong)self.Node.Value << 32) ^ (ulong)self.Incarnation);
                return new DlmNode(self, new FencingCore(topology, random.NextDouble), system.CreateCore(setup), new SimRandom(random.NextUInt64()), checker);
            },
            ServiceView = null,
            MembershipToService = published => published is ViewInstalled or QuorumChanged or Draining ? published : null,
        };
    }

    /// <summary>Runs one schedule.</summary>
    /// <param name="membership">The membership setup (without a service).</param>
    /// <param name="system">The lock manager (its mutant, if any).</param>
    /// <param name="seed">The schedule's seed.</param>
    /// <param name="span">Simulated time to run.</param>
    /// <param name="observer">Another observer, or null.</param>
    /// <param name="cacheTime">How long masters keep idle resources.</param>
    public static (SimulatedCluster Cluster, DlmChecker Checker) RunOne(ClusterSetup membership, ILockManager system, ulong seed, TimeSpan span, ISimulationObserver? observer = null, TimeSpan? cacheTime = null)
    {
        var checker = new DlmChecker();
        var cluster = new SimulatedCluster(With(membership, system, seed, checker, cacheTime ?? TimeSpan.FromMilliseconds(300)), seed);
        checker.Cluster = cluster;
        var fencing = new FencingChecker();
        cluster.Observe(fencing);
        cluster.Observe(checker);
        cluster.Observe(new SplitBrainChecker());
        if (observer is not null)
        {
            cluster.Observe(observer);
        }

        var plan = FaultPlan.Install(cluster, faults: true, extraCalm: TimeSpan.FromSeconds(4));
        fencing.Plan = plan;
        plan.Calmed += checker.OnCalm;
        plan.CalmEnding += checker.OnCalmEnding;
        cluster.RunUntil(span);
        return (cluster, checker);
    }
}

/// <summary>One simulated node's services: the fencing core, the lock-manager core and the lock clients, wired as the
/// host wires them (gates opened by fencing are handed to the lock manager, views and quorum to both).</summary>
internal sealed class DlmNode : IProtocolCore
{
    private const string NextTimer = "wl-next";
    private static readonly string[] Hot = ["h0", "h1", "h2", "h3"];
    private static readonly string[] Cold = [.. Enumerable.Range(0, 10).Select(i => "c" + i.ToString(CultureInfo.InvariantCulture))];

    private readonly NodeIncarnation _self;
    private readonly FencingCore _fencing;
    private readonly ILockManagerCore _dlm;
    private readonly SimRandom _random;
    private readonly DlmChecker _checker;
    private readonly List<CoreOutput> _inner = [];
    private readonly SortedSet<NodeIncarnation> _awaited = [];
    private readonly SortedDictionary<long, ClientLock> _locks = [];
    private View? _view;
    private int _lockspace;
    private long _nextId;
    private bool _draining;

    public DlmNode(NodeIncarnation self, FencingCore fencing, ILockManagerCore dlm, SimRandom random, DlmChecker checker)
    {
        _self = self;
        _fencing = fencing;
        _dlm = dlm;
        _random = random;
        _checker = checker;
    }

    /// <summary>The lock manager's core.</summary>
    public ILockManagerCore Dlm => _dlm;

    /// <summary>Whether the workload's lockspace is joined.</summary>
    public bool Joined => _lockspace != 0;

    /// <summary>The locks the clients believe they hold: resource and mode.</summary>
    /// <summary>The incarnation this service runs in.</summary>
    public NodeIncarnation Self => _self;

    public IEnumerable<(string Resource, LockMode Mode, long Id)> Held
    {
        get
        {
            foreach (var (id, l) in _locks)
            {
                if (l.Believed is { } mode)
                {
                    yield return (l.Resource, mode, id);
                }
            }
        }
    }

    /// <summary>Requests in flight and when they were made.</summary>
    public IEnumerable<(long Id, TimeSpan Since, string What)> Pending
    {
        get
        {
            foreach (var (id, l) in _locks)
            {
                if (l.Op is { } op)
                {
                    yield return (id, l.Since, $"{op} {l.Target} on {l.Resource}");
                }
            }
        }
    }

    public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        switch (input)
        {
            case CoreStarted:
                Fencing(input, now, outputs);
                Lock(input, now, outputs);
                Lock(new LocalRequest(new DlmJoin(1, DlmSimulation.Lockspace, 8)), now, outputs);
                break;
            case FrameReceived { Frame.Length: > 0 } frame when frame.Frame.Span[0] == DlmFrames.Tag:
                Lock(input, now, outputs);
                break;
            case FrameReceived:
                Fencing(input, now, outputs);
                break;
            case SessionReset:
                Fencing(input, now, outputs);
                Lock(input, now, outputs);
                break;
            case TimerFired { Name: var name } when name.StartsWith("dlm-", StringComparison.Ordinal):
                Lock(input, now, outputs);
                break;
            case TimerFired { Name: var name } when name.StartsWith("wl-", StringComparison.Ordinal):
                Workload(name, now, outputs);
                break;
            case TimerFired:
                Fencing(input, now, outputs);
                break;
            case LocalRequest { Request: ViewInstalled installed }:
                _view = installed.View;
                Fencing(new LocalRequest(new FencingViewInstalled(installed.View, installed.LeftCleanly, installed.Departed)), now, outputs);
                Lock(new LocalRequest(new DlmView(installed.View, false) { Departed = installed.Departed }), now, outputs);
                break;
            case LocalRequest { Request: Draining }:
                Drain(now, outputs);
                break;
            case LocalRequest { Request: QuorumChanged changed }:
                Fencing(new LocalRequest(new FencingQuorum(changed.Quorate, changed.View)), now, outputs);
                if (_view is not null && changed.View == _view.Id)
                {
                    Lock(new LocalRequest(new DlmView(_view, changed.Quorate)), now, outputs);
                }

                break;
            case LocalRequest { Request: DlmOperation or DlmJoin or DlmLeave }:
                Lock(input, now, outputs);
                break;
            case LocalRequest:
                Fencing(input, now, outputs);
                break;
        }
    }

    private void Fencing(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        _inner.Clear();
        _fencing.Handle(input, now, _inner);
        foreach (var output in _inner)
        {
            outputs.Add(output);
        }

        Gates(now, outputs);
    }

    /// <summary>Hands the lock manager every awaited gate that fencing has opened.</summary>
    private void Gates(TimeSpan now, ICollection<CoreOutput> outputs)
    {
        foreach (var awaited in _awaited.ToArray())
        {
            if (_fencing.IsOpen(awaited))
            {
                _awaited.Remove(awaited);
                Lock(new LocalRequest(new DlmGateOpened(awaited)), now, outputs);
            }
        }
    }

    private void Lock(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        var inner = new List<CoreOutput>();
        _dlm.Handle(input, now, inner);
        var gates = false;
        foreach (var output in inner)
        {
            outputs.Add(output);
            if (output is PublishEvent { Event: var e })
            {
                switch (e)
                {
                    case DlmAwaitGate await:
                        _awaited.Add(await.Incarnation);
                        gates = true;
                        break;
                    case DlmJoined { Id: > 0 } joined:
                        _lockspace = joined.Id;
                        outputs.Add(new SetTimer(NextTimer, now + _random.Between(TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(30))));
                        break;
                    case DlmCompleted completed:
                        Completed(completed, now, outputs);
                        break;
                }
            }
        }

        if (gates)
        {
            Gates(now, outputs);
        }
    }

    // ---- the clients ----

    private void Workload(string timer, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        if (timer == NextTimer)
        {
            outputs.Add(new SetTimer(NextTimer, now + _random.Between(TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(60))));
            if (_locks.Count < 3 && !_draining)
            {
                NewLock(now, outputs);
            }

            return;
        }

        // wl-hold-ID: a holder is done with its lock.
        var id = long.Parse(timer.AsSpan("wl-hold-".Length), CultureInfo.InvariantCulture);
        if (_locks.TryGetValue(id, out var l) && l.Op is null && l.Granted is { } granted)
        {
            if (granted <= LockMode.ProtectedRead && !l.Converted && _random.Chance(0.5))
            {
                var flags = LockFlags.ValueBlock | (_random.Chance(0.3) ? LockFlags.QueueConvert : 0) | (_random.Chance(0.3) ? LockFlags.ConvertDeadlock : 0);
                l.Converted = true;
                Operate(l, DlmOperationKind.Convert, LockMode.Exclusive, flags, now, outputs);
            }
            else if (granted >= LockMode.ProtectedWrite && !l.Converted && _random.Chance(0.25))
            {
                l.Converted = true; // down to PR, writing the value block on the way
                Operate(l, DlmOperationKind.Convert, LockMode.ProtectedRead, LockFlags.ValueBlock, now, outputs);
            }
            else
            {
                var write = granted >= LockMode.ProtectedWrite;
                var flags = !write ? LockFlags.None : _random.Chance(0.05) ? LockFlags.InvalidateValueBlock : LockFlags.ValueBlock;
                Operate(l, DlmOperationKind.Unlock, LockMode.Null, flags, now, outputs);
            }
        }
    }

    /// <summary>The node leaves cleanly: as the host's drain does, its clients give up every lock (they rely on
    /// none from now on), release what is granted and cancel what waits.</summary>
    private void Drain(TimeSpan now, ICollection<CoreOutput> outputs)
    {
        _draining = true;
        foreach (var l in _locks.Values.ToArray())
        {
            l.Abandoned = true;
            if (l.Op is null && l.Granted is not null)
            {
                Operate(l, DlmOperationKind.Unlock, LockMode.Null, LockFlags.None, now, outputs);
            }
            else if (l.Op is DlmOperationKind.Lock or DlmOperationKind.Convert)
            {
                Lock(new LocalRequest(new DlmOperation(DlmOperationKind.Cancel, _lockspace, l.Id, default, LockMode.Null, LockFlags.None, default)), now, outputs);
            }
        }
    }

    private void NewLock(TimeSpan now, ICollection<CoreOutput> outputs)
    {
        var resource = _random.Chance(0.75) ? Hot[_random.Next(Hot.Length)] : Cold[_random.Next(Cold.Length)];
        var roll = _random.Next(100);
        var mode = roll switch
        {
            < 35 => LockMode.Exclusive,
            < 60 => LockMode.ProtectedRead,
            < 70 => LockMode.ProtectedWrite,
            < 80 => LockMode.ConcurrentRead,
            < 90 => LockMode.ConcurrentWrite,
            _ => LockMode.Null,
        };
        var flags = LockFlags.ValueBlock | (_random.Chance(0.1) ? LockFlags.NoQueue | (_random.Chance(0.5) ? LockFlags.NoQueueBlocking : 0) : 0);
        if (mode == LockMode.Null && (flags & LockFlags.NoQueue) == 0 && _random.Chance(0.5))
        {
            flags |= LockFlags.Expedite;
        }
        else if (mode == LockMode.Exclusive && _random.Chance(0.15))
        {
            flags |= _random.Chance(0.6) ? LockFlags.AlternatePR : LockFlags.AlternateCW;
        }

        var l = new ClientLock(++_nextId, resource);
        _locks.Add(l.Id, l);
        Operate(l, DlmOperationKind.Lock, mode, flags, now, outputs);
    }

    private void Operate(ClientLock l, DlmOperationKind kind, LockMode mode, LockFlags flags, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        l.Op = kind;
        l.Flags = flags;
        l.Target = mode;
        l.Since = now;
        ReadOnlyMemory<byte> block = default;
        l.Written = 0; // what an earlier operation meant to write was written, or never will be (cancelled)
        if ((kind == DlmOperationKind.Unlock || (kind == DlmOperationKind.Convert && mode < l.Granted)) && (flags & LockFlags.ValueBlock) != 0)
        {
            l.Written = _checker.NextWrite(l.Resource);
            block = BitConverter.GetBytes(l.Written);
        }

        l.RequestedAfter = _checker.CompletedWrite(l.Resource);
        var resource = kind == DlmOperationKind.Lock ? Encoding.UTF8.GetBytes(l.Resource) : default(ReadOnlyMemory<byte>);
        Lock(new LocalRequest(new DlmOperation(kind, _lockspace, l.Id, resource, mode, flags, block)), now, outputs);
    }

    private void Completed(DlmCompleted completed, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        if (!_locks.TryGetValue(completed.LockId, out var l) || l.Op is not { } op)
        {
            _checker.Fail($"{_self}: a completion of lock {completed.LockId} that has no operation in flight ({completed.Result})");
            return;
        }

        var result = completed.Result;
        l.Op = null;
        if (result.Status == LockStatus.Unlocked)
        {
            _locks.Remove(l.Id);
            if (l.Written != 0)
            {
                _checker.WriteCompleted(l.Resource, l.Written);
            }

            return;
        }

        if (op == DlmOperationKind.Lock && result.Status != LockStatus.Granted)
        {
            _locks.Remove(l.Id);
            return;
        }

        l.Granted = result.Mode;
        if (l.Written != 0 && result.Status == LockStatus.Granted)
        {
            _checker.WriteCompleted(l.Resource, l.Written); // a down-conversion that wrote
            l.Written = 0;
        }

        if (result.Status == LockStatus.Granted)
        {
            _checker.Granted(_self, l.Resource, result, completed.ValueBlock.Span, l.RequestedAfter, (completed.Result.Flags & LockResultFlags.ValueNotValid) != 0);
        }

        if (l.Abandoned)
        {
            Operate(l, DlmOperationKind.Unlock, LockMode.Null, LockFlags.None, now, outputs); // granted before the cancel
            return;
        }

        outputs.Add(new SetTimer($"wl-hold-{l.Id}", now + _random.Between(TimeSpan.FromMilliseconds(1), DlmChecker.HoldMax)));
    }

    private sealed class ClientLock(long id, string resource)
    {
        public long Id { get; } = id;

        public string Resource { get; } = resource;

        public LockMode? Granted { get; set; }

        public DlmOperationKind? Op { get; set; }

        public LockMode Target { get; set; }

        public TimeSpan Since { get; set; }

        public bool Converted { get; set; }

        public long Written { get; set; }

        public long RequestedAfter { get; set; }

        public LockFlags Flags { get; set; }

        /// <summary>What the client relies on: the granted mode; NL while a conversion that may demote it
        /// (<see cref="LockFlags.ConvertDeadlock"/>) is in flight; the lower mode once it asked for a down-conversion;
        /// nothing once it asked to unlock.</summary>
        public bool Abandoned { get; set; }

        public LockMode? Believed => Op switch
        {
            _ when Abandoned => null,
            DlmOperationKind.Unlock => null,
            DlmOperationKind.Convert when (Flags & LockFlags.ConvertDeadlock) != 0 => LockMode.Null,
            DlmOperationKind.Convert when Target < Granted => Target, // down: what it asked for (Linux grants it at once)
            _ => Granted,
        };
    }
}

/// <summary>The invariant-3 checker of <see cref="DlmSimulation"/>.</summary>
public sealed class DlmChecker : ISimulationObserver
{
    /// <summary>The longest a client holds a lock before it converts or releases it.</summary>
    public static readonly TimeSpan HoldMax = TimeSpan.FromMilliseconds(80);

    /// <summary>How long a request may wait once the cluster is calm and membership converged.</summary>
    public static readonly TimeSpan CompletionBound = TimeSpan.FromSeconds(3);

    private readonly Dictionary<string, FencingToken> _tokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _writes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _completedWrites = new(StringComparer.Ordinal);
    private long _nextWrite;
    private TimeSpan? _converged;

    /// <summary>The cluster checked.</summary>
    public SimulatedCluster? Cluster { get; set; }

    /// <summary>Grants seen.</summary>
    public long Grants { get; private set; }

    /// <summary>PW/EX grants seen (each with a token).</summary>
    public long TokenGrants { get; private set; }

    /// <summary>Grants that read a valid value block written by someone.</summary>
    public long ValueReads { get; private set; }

    /// <summary>Recoveries finished, over all nodes.</summary>
    public long Recoveries { get; private set; }

    /// <summary>Calm periods whose liveness check ran.</summary>
    public long LivenessChecks { get; private set; }

    internal void Fail(string detail) => Cluster?.Fail(DlmSimulation.Name, detail);

    internal long NextWrite(string resource) => ++_nextWrite;

    internal long CompletedWrite(string resource) => _completedWrites.GetValueOrDefault(resource);

    internal void WriteCompleted(string resource, long value)
    {
        _writes[resource] = value;
        if (value > _completedWrites.GetValueOrDefault(resource))
        {
            _completedWrites[resource] = value;
        }
    }

    internal void Granted(NodeIncarnation node, string resource, LockResult result, ReadOnlySpan<byte> valueBlock, long requestedAfter, bool notValid)
    {
        Grants++;
        if (result.Mode >= LockMode.ProtectedWrite)
        {
            TokenGrants++;
            if (result.Token.IsNone)
            {
                Fail($"{node} was granted {result.Mode} on {resource} without a fencing token");
                return;
            }

            if (_tokens.TryGetValue(resource, out var last) && result.Token <= last)
            {
                Fail($"{node} was granted {result.Mode} on {resource} with token {result.Token}, not above the previous grant's {last}: fencing tokens must only grow");
                return;
            }

            _tokens[resource] = result.Token;
        }

        if (!notValid && valueBlock.Length == 8)
        {
            var value = BitConverter.ToInt64(valueBlock);
            if (value != 0)
            {
                ValueReads++;
            }

            if (value < requestedAfter)
            {
                Fail($"{node} read value {value} of {resource} as valid, but write {requestedAfter} had completed before it asked");
            }
        }
    }

    /// <inheritdoc />
    public void AfterStep(SimulatedCluster cluster, SimNode node)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var held = new Dictionary<string, List<(NodeIncarnation Node, LockMode Mode, long Id)>>(StringComparer.Ordinal);
        foreach (var n in cluster.Nodes)
        {
            if (n.State == SimNodeState.Down || n.Service is not DlmNode dlm || dlm.Self != n.Self)
            {
                continue; // down, or booting: the service of the incarnation that died is not replaced yet
            }

            foreach (var (resource, mode, id) in dlm.Held)
            {
                if (!held.TryGetValue(resource, out var list))
                {
                    held[resource] = list = [];
                }

                foreach (var other in list)
                {
                    if (!Compatible(mode, other.Mode))
                    {
                        cluster.Fail(DlmSimulation.Name, $"{n.Self} holds {mode} on {resource} (lock {id}) while {other.Node} holds {other.Mode} (lock {other.Id}): incompatible locks held at once");
                        return;
                    }
                }

                list.Add((n.Self, mode, id));
            }
        }
    }

    /// <summary>The standard compatibility matrix, written out here so the checker does not trust the engine's.</summary>
    public static bool Compatible(LockMode a, LockMode b)
    {
        static int Rank(LockMode m) => (int)m;
        bool[,] matrix =
        {
            // NL     CR     CW     PR     PW     EX
            { true, true, true, true, true, true },    // NL
            { true, true, true, true, true, false },   // CR
            { true, true, true, false, false, false }, // CW
            { true, true, false, true, false, false }, // PR
            { true, true, false, false, false, false }, // PW
            { true, false, false, false, false, false }, // EX
        };
        return matrix[Rank(a), Rank(b)];
    }

    /// <inheritdoc />
    public void Executed(SimulatedCluster cluster, SimNode node, CoreOutput output)
    {
    }

    /// <inheritdoc />
    public void NodeStopped(SimulatedCluster cluster, SimNode node)
    {
    }

    /// <inheritdoc />
    public void Published(SimulatedCluster cluster, SimNode node, object published)
    {
        if (published is DlmRecoveryProgress { Phase: DlmRecoveryPhase.Running })
        {
            Recoveries++;
        }
    }

    internal void OnCalm(TimeSpan converged) => _converged = converged;

    /// <summary>At the end of a calm period: every node joined, and nothing asked after membership converged (plus the
    /// bound) still waits.</summary>
    internal void OnCalmEnding()
    {
        if (Cluster is not { } cluster || _converged is not { } converged)
        {
            return;
        }

        _converged = null;
        var deadline = cluster.Now - CompletionBound;
        if (deadline < converged)
        {
            return; // the calm was too short to promise anything
        }

        LivenessChecks++;
        foreach (var n in cluster.Nodes)
        {
            if (n.State != SimNodeState.Up || n.Service is not DlmNode dlm || dlm.Self != n.Self)
            {
                continue;
            }

            if (!dlm.Joined && n.BootedAt < deadline)
            {
                cluster.Fail(DlmSimulation.Name, $"{n.Self} has not joined the lockspace {CompletionBound.TotalSeconds} s into a calm period ({Describe(dlm)})");
                return;
            }

            foreach (var (id, local, what) in dlm.Pending)
            {
                var since = n.GlobalAt(local); // the node asked on its own clock
                if (since < deadline && converged < deadline)
                {
                    cluster.Fail(DlmSimulation.Name, $"{n.Self}: {what} (lock {id}), asked at {since.TotalMilliseconds:F0} ms, is still waiting {CompletionBound.TotalSeconds} s into a calm period ({Describe(dlm)})");
                    return;
                }
            }
        }
    }

    private static string Describe(DlmNode dlm) =>
        string.Join("; ", dlm.Dlm.Status.Lockspaces.Select(ls => $"{ls.Name} {ls.Phase} {ls.Sequence} members [{string.Join(",", ls.Members)}] locks {ls.Locks}"));
}
