using System.Text;
using Cohort.Cores;
using Cohort.Locking;
using Cohort.Membership;

namespace Cohort.Dlm.Tests;

/// <summary>
/// A few DLM cores wired by hand: frames queue per (from, to) pair in FIFO order and are delivered only when a test
/// says so, so a test can count messages and choose interleavings. Gates open only when the test opens them.
/// </summary>
internal sealed class DlmHarness
{
    private readonly Dictionary<int, DlmCore> _cores = [];
    private readonly Dictionary<int, long> _incarnations = [];
    private readonly List<(int From, int To, byte[] Frame)> _wire = [];
    private readonly LockManagerSetup _setup;
    private readonly DlmMutant _mutant;
    private long _nextLockId;

    public DlmHarness(int nodes, DlmMutant mutant = DlmMutant.None, TimeSpan? cacheTime = null)
    {
        _setup = new LockManagerSetup(new Dictionary<NodeId, int>(), cacheTime ?? TimeSpan.FromSeconds(10));
        _mutant = mutant;
        for (var n = 1; n <= nodes; n++)
        {
            StartNode(n);
        }
    }

    public TimeSpan Now { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A node's own setup, for a node started (again) from now on; null: the common one.</summary>
    public Func<int, LockManagerSetup?>? SetupOf { get; set; }

    public View? View { get; private set; }

    public List<(int Node, object Event)> Events { get; } = [];

    public List<(int Node, string Timer, TimeSpan At)> Timers { get; } = [];

    public int Sent { get; private set; }

    public IReadOnlyDictionary<int, int> Lockspaces => _lockspaces;

    private readonly Dictionary<int, int> _lockspaces = [];

    public DlmCore this[int node] => _cores[node];

    public NodeIncarnation Inc(int node) => new(new NodeId(node), _incarnations[node]);

    public void StartNode(int node)
    {
        _incarnations[node] = _incarnations.GetValueOrDefault(node) + 1;
        _cores[node] = new DlmCore(SetupOf?.Invoke(node) ?? _setup, _mutant);
        _wire.RemoveAll(f => f.From == node || f.To == node);
        _lockspaces.Remove(node);
        Step(node, new CoreStarted(Inc(node), new Dictionary<string, ReadOnlyMemory<byte>>()));
    }

    public void Crash(int node)
    {
        _cores.Remove(node);
        _wire.RemoveAll(f => f.From == node || f.To == node);
    }

    /// <summary>Installs a view of <paramref name="nodes"/> (quorate) on each of them.</summary>
    public void InstallView(params int[] nodes) => InstallView(nodes, []);

    /// <summary>Installs a view of <paramref name="nodes"/> (quorate) on each of them, in which membership reported
    /// <paramref name="departed"/> departed.</summary>
    public void InstallView(int[] nodes, IReadOnlyList<NodeIncarnation> departed)
    {
        View = new View(new ViewId((View?.Id.Seq ?? 0) + 1, new NodeId(nodes.Min())), nodes.Select(Inc));
        foreach (var n in nodes)
        {
            Step(n, new LocalRequest(new DlmView(View, true) { Departed = departed }));
        }
    }

    /// <summary>Joins the lockspace on every node of the view and delivers until all joined.</summary>
    public void JoinAll(string lockspace = "ls", int valueBlock = 32)
    {
        foreach (var m in View!.Members)
        {
            Step(m.Node.Value, new LocalRequest(new DlmJoin(1, lockspace, valueBlock)));
        }

        DeliverAll();
        foreach (var m in View.Members)
        {
            Assert.That(_lockspaces.ContainsKey(m.Node.Value), $"node {m.Node} joined {lockspace}");
        }
    }

    public void OpenGate(int node, NodeIncarnation departed) => Step(node, new LocalRequest(new DlmGateOpened(departed)));

    public long Lock(int node, string resource, LockMode mode, LockFlags flags = LockFlags.None)
    {
        var id = ++_nextLockId;
        Step(node, new LocalRequest(new DlmOperation(DlmOperationKind.Lock, _lockspaces[node], id, Encoding.UTF8.GetBytes(resource), mode, flags, default)));
        return id;
    }

    public void Convert(int node, long id, LockMode mode, LockFlags flags = LockFlags.None, byte[]? valueBlock = null) =>
        Step(node, new LocalRequest(new DlmOperation(DlmOperationKind.Convert, _lockspaces[node], id, default, mode, flags, valueBlock)));

    public void Unlock(int node, long id, LockFlags flags = LockFlags.None, byte[]? valueBlock = null) =>
        Step(node, new LocalRequest(new DlmOperation(DlmOperationKind.Unlock, _lockspaces[node], id, default, LockMode.Null, flags, valueBlock)));

    public void Cancel(int node, long id) =>
        Step(node, new LocalRequest(new DlmOperation(DlmOperationKind.Cancel, _lockspaces[node], id, default, LockMode.Null, LockFlags.None, default)));

    /// <summary>Fires every timer of <paramref name="node"/> due by <see cref="Now"/>.</summary>
    public void FireTimers(int node)
    {
        var due = Timers.Where(t => t.Node == node && t.At <= Now).ToList();
        foreach (var t in due)
        {
            Timers.Remove(t);
            Step(node, new TimerFired(t.Timer));
        }
    }

    public DlmCompleted? Completion(int node, long id) =>
        Events.Where(e => e.Node == node && e.Event is DlmCompleted c && c.LockId == id).Select(e => (DlmCompleted)e.Event).LastOrDefault();

    public int Pending => _wire.Count;

    /// <summary>Delivers frames in FIFO order until none is left (bounded).</summary>
    public int DeliverAll(int max = 100_000)
    {
        var delivered = 0;
        while (_wire.Count > 0 && delivered < max)
        {
            DeliverOne();
            delivered++;
        }

        Assert.That(_wire, Is.Empty, "the cores went quiet");
        return delivered;
    }

    public void DeliverOne()
    {
        var (from, to, frame) = _wire[0];
        _wire.RemoveAt(0);
        if (_cores.ContainsKey(to))
        {
            Step(to, new FrameReceived(Inc(from), Transport.TransportLane.Data, frame));
        }
    }

    /// <summary>Drops every frame in flight to or from <paramref name="node"/> (its session was cut).</summary>
    public void DropFramesOf(int node) => _wire.RemoveAll(f => f.From == node || f.To == node);

    public void Step(int node, CoreInput input)
    {
        var outputs = new List<CoreOutput>();
        _cores[node].Handle(input, Now, outputs);
        foreach (var output in outputs)
        {
            switch (output)
            {
                case SendFrame send:
                    Sent++;
                    Assert.That(send.Frame.Span[0], Is.EqualTo(DlmFrames.Tag));
                    if (_cores.ContainsKey(send.To.Value) && (send.ToIncarnation == 0 || send.ToIncarnation == _incarnations[send.To.Value]))
                    {
                        _wire.Add((node, send.To.Value, send.Frame.ToArray()));
                    }

                    break;
                case SetTimer timer:
                    Timers.RemoveAll(t => t.Node == node && t.Timer == timer.Name);
                    Timers.Add((node, timer.Name, timer.At));
                    break;
                case PublishEvent { Event: var e }:
                    Events.Add((node, e));
                    if (e is DlmJoined { Id: > 0 } joined)
                    {
                        _lockspaces[node] = joined.Id;
                    }

                    break;
            }
        }
    }
}
