using System.Diagnostics;
using Cohort.Cores;
using Cohort.Locking;
using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Dlm.Bench;

/// <summary>
/// A few lock-manager cores wired in process, like tests/Cohort.Dlm.Tests/DlmHarness.cs but built for volume: one
/// FIFO queue of frames for the whole cluster (so every (from, to) pair stays FIFO, as sessions are), frames passed
/// on without a copy, and completions counted rather than kept. Time stands still: no timer ever fires, so the
/// resource cache never tosses anything during a measurement.
/// </summary>
internal sealed class Cluster
{
    private readonly ILockManagerCore?[] _cores;
    private readonly long[] _incarnations;
    private readonly Queue<(int From, int To, ReadOnlyMemory<byte> Frame)> _wire = new();
    private readonly List<CoreOutput> _outputs = [];
    private readonly LockManagerSetup _setup = new(new Dictionary<NodeId, int>(), LockManagerSetup.DefaultCacheTime);
    private readonly long[] _nextLockId;

    public Cluster(int nodes)
    {
        _cores = new ILockManagerCore?[nodes + 1];
        _incarnations = new long[nodes + 1];
        _nextLockId = new long[nodes + 1];
        LockspaceIds = new int[nodes + 1];
        Progress = new DlmRecoveryProgress?[nodes + 1];
        Granted = new long[nodes + 1];
        Unlocked = new long[nodes + 1];
        Refused = new long[nodes + 1];
        for (var n = 1; n <= nodes; n++)
        {
            _incarnations[n] = 1;
            _cores[n] = new DlmSystem().CreateCore(_setup);
            Step(n, new CoreStarted(Inc(n), new Dictionary<string, ReadOnlyMemory<byte>>()));
        }
    }

    public static readonly TimeSpan Now = TimeSpan.FromSeconds(1);

    public View? View { get; private set; }

    /// <summary>Each node's id of the lockspace, once joined (index: node id).</summary>
    public int[] LockspaceIds { get; }

    /// <summary>Each node's last recovery progress event.</summary>
    public DlmRecoveryProgress?[] Progress { get; }

    /// <summary>Completions per node: granted, unlocked, and anything else (would-block, deadlock, cancelled).</summary>
    public long[] Granted { get; }

    /// <inheritdoc cref="Granted"/>
    public long[] Unlocked { get; }

    /// <inheritdoc cref="Granted"/>
    public long[] Refused { get; }

    /// <summary>When set, the last completion of every lock, by (node, lock id).</summary>
    public Dictionary<(int Node, long Id), LockStatus>? Completions { get; set; }

    /// <summary>When set, every recovery progress event with the time it was published (Stopwatch ticks).</summary>
    public List<(int Node, DlmRecoveryPhase Phase, long At)>? PhaseLog { get; set; }

    public long FramesDelivered { get; private set; }

    public long BytesDelivered { get; private set; }

    public int InFlight => _wire.Count;

    public ILockManagerCore Core(int node) => _cores[node] ?? throw new InvalidOperationException($"node {node} is down");

    public NodeIncarnation Inc(int node) => new(new NodeId(node), _incarnations[node]);

    public long NextLockId(int node) => ++_nextLockId[node];

    /// <summary>Installs a quorate view of <paramref name="nodes"/> on each of them.</summary>
    public void InstallView(params int[] nodes)
    {
        View = new View(new ViewId((View?.Id.Seq ?? 0) + 1, new NodeId(nodes.Min())), nodes.Select(Inc));
        foreach (var n in nodes)
        {
            Step(n, new LocalRequest(new DlmView(View, true)));
        }
    }

    /// <summary>Installs a view of every node, joins lockspace "bench" on each, and delivers until all joined.</summary>
    public void Form()
    {
        var all = Enumerable.Range(1, _cores.Length - 1).ToArray();
        InstallView(all);
        foreach (var n in all)
        {
            Step(n, new LocalRequest(new DlmJoin(1, "bench", 32)));
        }

        Deliver(10_000_000, TimeSpan.FromSeconds(60));
        foreach (var n in all)
        {
            if (LockspaceIds[n] == 0)
            {
                throw new InvalidOperationException($"node {n} did not join the lockspace: {Describe(n)}");
            }
        }
    }

    public void Crash(int node)
    {
        _cores[node] = null;
    }

    public void OpenGate(int node, NodeIncarnation departed) => Step(node, new LocalRequest(new DlmGateOpened(departed)));

    public long Lock(int node, ReadOnlyMemory<byte> resource, LockMode mode, LockFlags flags = LockFlags.None)
    {
        var id = NextLockId(node);
        Step(node, new LocalRequest(new DlmOperation(DlmOperationKind.Lock, LockspaceIds[node], id, resource, mode, flags, default)));
        return id;
    }

    public void Unlock(int node, long id) =>
        Step(node, new LocalRequest(new DlmOperation(DlmOperationKind.Unlock, LockspaceIds[node], id, default, LockMode.Null, LockFlags.None, default)));

    /// <summary>Delivers frames in FIFO order until none is left, <paramref name="maxFrames"/> were delivered,
    /// <paramref name="budget"/> of wall time passed, or <paramref name="until"/> holds (checked after each frame).</summary>
    /// <returns>Whether it stopped because the wire was empty or <paramref name="until"/> held.</returns>
    public bool Deliver(long maxFrames, TimeSpan budget, Func<bool>? until = null)
    {
        var start = Stopwatch.GetTimestamp();
        for (long delivered = 0; ; delivered++)
        {
            if (until?.Invoke() == true || _wire.Count == 0)
            {
                return true;
            }

            if (delivered >= maxFrames || ((delivered & 1023) == 0 && Stopwatch.GetElapsedTime(start) > budget))
            {
                return false;
            }

            var (from, to, frame) = _wire.Dequeue();
            if (_cores[to] is not null)
            {
                FramesDelivered++;
                BytesDelivered += frame.Length;
                Step(to, new FrameReceived(Inc(from), TransportLane.Data, frame));
            }
        }
    }

    public void Step(int node, CoreInput input)
    {
        _outputs.Clear();
        Core(node).Handle(input, Now, _outputs);
        foreach (var output in _outputs)
        {
            switch (output)
            {
                case SendFrame send:
                {
                    var to = send.To.Value;
                    if (to < _cores.Length && _cores[to] is not null && (send.ToIncarnation == 0 || send.ToIncarnation == _incarnations[to]))
                    {
                        _wire.Enqueue((node, to, send.Frame));
                    }

                    break;
                }

                case PublishEvent { Event: DlmCompleted c }:
                    switch (c.Result.Status)
                    {
                        case LockStatus.Granted:
                            Granted[node]++;
                            break;
                        case LockStatus.Unlocked:
                            Unlocked[node]++;
                            break;
                        default:
                            Refused[node]++;
                            break;
                    }

                    Completions?.Remove((node, c.LockId));
                    Completions?.Add((node, c.LockId), c.Result.Status);
                    break;
                case PublishEvent { Event: DlmRecoveryProgress p }:
                    Progress[node] = p;
                    PhaseLog?.Add((node, p.Phase, Stopwatch.GetTimestamp()));
                    break;
                case PublishEvent { Event: DlmJoined { Id: > 0 } joined }:
                    LockspaceIds[node] = joined.Id;
                    break;
            }
        }
    }

    /// <summary>Whether every node of <paramref name="nodes"/> reported its lockspace running after a recovery newer
    /// than <paramref name="after"/>.</summary>
    public bool AllRunning(int[] nodes, DlmRecoverySequence after)
    {
        foreach (var n in nodes)
        {
            if (Progress[n] is not { Phase: DlmRecoveryPhase.Running } p || p.Sequence <= after)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The node's lockspace status, one line.</summary>
    public string Describe(int node)
    {
        var core = _cores[node];
        if (core is null)
        {
            return $"node {node} down";
        }

        var s = core.Status.Lockspaces;
        return s.Count == 0
            ? $"node {node}: no lockspace"
            : $"node {node}: phase {s[0].Phase} seq {s[0].Sequence} members {s[0].Members.Count} resources {s[0].Resources} mastered {s[0].Mastered} locks {s[0].Locks}; last progress {Progress[node]?.Phase} {Progress[node]?.Sequence}";
    }
}
