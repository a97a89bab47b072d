using Cohort.Cores;
using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Fencing.Tests;

/// <summary>One node of a <see cref="FencingCluster"/>: its core and everything the core asked for.</summary>
internal sealed class FencingNode(NodeIncarnation self, FencingCore core)
{
    public NodeIncarnation Self { get; set; } = self;

    public FencingCore Core { get; set; } = core;

    /// <summary>Whether frames reach it (a crashed node is down).</summary>
    public bool Up { get; set; } = true;

    /// <summary>Everything it published, oldest first (since its last start).</summary>
    public List<object> Events { get; } = [];

    /// <summary>Its timers, as it set them.</summary>
    public Dictionary<string, TimeSpan> Timers { get; } = [];

    /// <summary>The contents of its last <c>fencing</c> record, if it persisted one.</summary>
    public byte[]? Record { get; set; }

    /// <summary>The view it installed last.</summary>
    public View? View { get; set; }

    public IEnumerable<RunFenceDevice> Runs => Events.OfType<RunFenceDevice>();

    public IEnumerable<T> Published<T>() => Events.OfType<T>();

    /// <summary>The device operations it asked for and has not had answered yet.</summary>
    public List<RunFenceDevice> Running { get; } = [];

    public int Id => Self.Node.Value;

    public override string ToString() => Self.ToString();
}

/// <summary>
/// Several fencing cores driven by hand: a test clock, a router that carries data-lane frames to the
/// incarnation they are addressed to, and checks that hold after every step (one <c>fencing</c> record, first;
/// the last record describes what the core reports).
/// </summary>
internal sealed class FencingCluster
{
    private readonly SortedDictionary<int, FencingNode> _nodes = [];
    private readonly Queue<(NodeIncarnation From, SendFrame Frame)> _wire = new();
    private readonly HashSet<(int, int)> _cut = [];
    private long _viewSeq;

    public FencingCluster(FencingTopology topology, FencingMutant mutant = FencingMutant.None)
    {
        Topology = topology;
        Mutant = mutant;
    }

    public FencingTopology Topology { get; }

    /// <summary>Where every core's random delays come from (seeded, so a test is one schedule).</summary>
    public Func<double> Random { get; set; } = new Random(1).NextDouble;

    public FencingMutant Mutant { get; }

    /// <summary>The test clock; every node reads the same one (each compares only its own times).</summary>
    public TimeSpan Now { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>Every frame sent, in order (for the fuzz tests).</summary>
    public List<(NodeIncarnation From, SendFrame Frame)> Sent { get; } = [];

    public FencingNode this[int id] => _nodes[id];

    public IEnumerable<FencingNode> Nodes => _nodes.Values;

    /// <summary>Nodes 1..<paramref name="count"/> (incarnation 1), all in one view, all quorate.</summary>
    public static FencingCluster Formed(int count, FencingTopology topology, FencingMutant mutant = FencingMutant.None)
    {
        var cluster = new FencingCluster(topology, mutant);
        for (var id = 1; id <= count; id++)
        {
            cluster.Start(Inc(id, 1));
        }

        cluster.Install(Enumerable.Range(1, count).ToArray());
        cluster.Quorate(Enumerable.Range(1, count).ToArray());
        cluster.Deliver();
        return cluster;
    }

    public static NodeIncarnation Inc(int node, long incarnation) => new(new NodeId(node), incarnation);

    /// <summary>Starts (or restarts) a node with the record it persisted last, if any.</summary>
    public FencingNode Start(NodeIncarnation self, byte[]? record = null, FencingTopology? topology = null)
    {
        var core = new FencingCore(topology ?? Topology, Random) { Mutant = Mutant };
        var node = new FencingNode(self, core) { Record = record };
        _nodes[self.Node.Value] = node;
        var records = new Dictionary<string, ReadOnlyMemory<byte>>();
        if (record is not null)
        {
            records[FencingCore.RecordName] = record;
        }

        Step(node, new CoreStarted(self, records));
        return node;
    }

    /// <summary>The node restarts as <paramref name="incarnation"/> with its persisted record.</summary>
    public FencingNode Restart(int id, long incarnation) => Start(Inc(id, incarnation), _nodes[id].Record);

    public void Crash(params int[] ids)
    {
        foreach (var id in ids)
        {
            _nodes[id].Up = false;
        }
    }

    /// <summary>Frames between the groups are lost from now on.</summary>
    public void Partition(int[] a, int[] b)
    {
        foreach (var x in a)
        {
            foreach (var y in b)
            {
                _cut.Add((x, y));
                _cut.Add((y, x));
            }
        }
    }

    public void Heal() => _cut.Clear();

    /// <summary>
    /// Installs a view of <paramref name="members"/> (the current incarnation of each) on <paramref name="on"/>
    /// (default: every member that is up). Each node is told, as membership would, which members of its own
    /// previous view left cleanly (<paramref name="clean"/>) and which departed (the rest).
    /// </summary>
    /// <summary>Installs a view on its running members (or on <paramref name="on"/>). As membership does, each node
    /// hears of the view first and of its quorum in it afterwards: with <paramref name="quorate"/> null, a view of a
    /// majority of the cluster's nodes is reported quorate, any other is not.</summary>
    public View Install(int[] members, int[]? on = null, NodeIncarnation[]? clean = null, NodeIncarnation[]? incarnations = null, bool? quorate = null)
    {
        var list = incarnations ?? [.. members.Select(m => _nodes[m].Self)];
        var view = new View(new ViewId(++_viewSeq, list.Min().Node), list);
        foreach (var id in on ?? [.. members.Where(m => _nodes[m].Up)])
        {
            var node = _nodes[id];
            var before = node.View?.Members ?? [];
            var gone = before.Where(m => !view.Members.Contains(m)).ToList();
            var leftCleanly = gone.Where(m => clean?.Contains(m) == true).ToList();
            var departed = gone.Where(m => clean?.Contains(m) != true).ToList();
            node.View = view;
            Step(node, new LocalRequest(new FencingViewInstalled(view, leftCleanly, departed)));
            Step(node, new LocalRequest(new FencingQuorum(quorate ?? view.Members.Count * 2 > _nodes.Count, view.Id)));
        }

        return view;
    }

    public void Quorate(params int[] ids)
    {
        foreach (var id in ids)
        {
            Step(_nodes[id], new LocalRequest(new FencingQuorum(true, _nodes[id].View?.Id)));
        }
    }

    public void NotQuorate(params int[] ids)
    {
        foreach (var id in ids)
        {
            Step(_nodes[id], new LocalRequest(new FencingQuorum(false, _nodes[id].View?.Id)));
        }
    }

    public List<CoreOutput> Request(int id, object request) => Step(_nodes[id], new LocalRequest(request));

    /// <summary>Answers a device operation of node <paramref name="id"/>.</summary>
    public List<CoreOutput> Complete(int id, RunFenceDevice run, FenceResult result, string detail = "said so")
    {
        _nodes[id].Running.Remove(run);
        return Request(id, new FenceDeviceCompleted(run.Operation, result, detail, 1_700_000_000_000 + (long)Now.TotalMilliseconds));
    }

    /// <summary>Answers the one operation node <paramref name="id"/> has running.</summary>
    public RunFenceDevice CompleteOnly(int id, FenceResult result, string detail = "said so")
    {
        Assert.That(_nodes[id].Running, Has.Count.EqualTo(1), $"node {id} runs exactly one device operation");
        var run = _nodes[id].Running[0];
        Complete(id, run, result, detail);
        return run;
    }

    /// <summary>Moves the clock to the <c>retry</c> timer of node <paramref name="id"/> and fires it.</summary>
    public TimeSpan FireRetry(int id)
    {
        var node = _nodes[id];
        Assert.That(node.Timers.ContainsKey("retry"), Is.True, $"node {id} has set its retry timer");
        var at = node.Timers["retry"];
        Now = at > Now ? at : Now;
        node.Timers.Remove("retry");
        Step(node, new TimerFired("retry"));
        return at;
    }

    /// <summary>Carries every frame in flight (and those they cause) to its addressee.</summary>
    public int Deliver()
    {
        var delivered = 0;
        while (_wire.TryDequeue(out var item))
        {
            var (from, frame) = item;
            if (!_nodes.TryGetValue(frame.To.Value, out var to) || !to.Up || _cut.Contains((from.Node.Value, to.Id))
                || (frame.ToIncarnation != 0 && frame.ToIncarnation != to.Self.Incarnation))
            {
                continue;
            }

            delivered++;
            Step(to, new FrameReceived(from, frame.Lane, frame.Frame));
        }

        return delivered;
    }

    /// <summary>Drops every frame in flight.</summary>
    public void Lose() => _wire.Clear();

    public List<CoreOutput> Step(int id, CoreInput input) => Step(_nodes[id], input);

    /// <summary>One input to one core, with the checks that hold after every step.</summary>
    public List<CoreOutput> Step(FencingNode node, CoreInput input)
    {
        var outputs = new List<CoreOutput>();
        node.Core.Handle(input, Now, outputs);
        var persists = outputs.Select((o, i) => (Output: o, Index: i)).Where(x => x.Output is PersistRecord).ToList();
        Assert.That(persists, Has.Count.LessThanOrEqualTo(1), $"{node}: at most one record per step ({input})");
        if (persists.Count == 1)
        {
            var persist = (PersistRecord)persists[0].Output;
            Assert.Multiple(() =>
            {
                Assert.That(persists[0].Index, Is.Zero, $"{node}: the record is the first output of the step ({input})");
                Assert.That(persist.Name, Is.EqualTo(FencingCore.RecordName));
            });
            node.Record = persist.Contents.ToArray();
        }

        CheckRecordDescribesStatus(node, input);
        foreach (var output in outputs)
        {
            switch (output)
            {
                case SendFrame send:
                    Assert.That(send.Lane, Is.EqualTo(TransportLane.Data), "fencing frames travel on the data lane");
                    Sent.Add((node.Self, send));
                    _wire.Enqueue((node.Self, send));
                    break;
                case SetTimer timer:
                    node.Timers[timer.Name] = timer.At;
                    break;
                case CancelTimer cancel:
                    node.Timers.Remove(cancel.Name);
                    break;
                case PublishEvent { Event: var e }:
                    node.Events.Add(e);
                    if (e is RunFenceDevice run)
                    {
                        node.Running.Add(run);
                    }

                    break;
            }
        }

        return outputs;
    }

    /// <summary>Nothing changes without being persisted: the last record holds what the core reports.</summary>
    private static void CheckRecordDescribesStatus(FencingNode node, CoreInput input)
    {
        var status = node.Core.Status;
        if (node.Record is null)
        {
            Assert.Multiple(() =>
            {
                Assert.That(status.Pending, Is.Empty, $"{node}: victims without a record ({input})");
                Assert.That(status.History, Is.Empty, $"{node}: history without a record ({input})");
                Assert.That(status.Fenced, Is.Empty, $"{node}: fenced incarnations without a record ({input})");
            });
            return;
        }

        var state = FencingWire.DecodeState(node.Record);
        Assert.Multiple(() =>
        {
            Assert.That(state.Victims.Select(v => Inc(v.Node, v.Incarnation)), Is.EqualTo(status.Pending.Select(p => p.Victim)), $"{node}: persisted victims ({input})");
            Assert.That(state.Fenced.Select(f => (f.Node, f.Incarnation)), Is.EqualTo(status.Fenced.Select(f => (f.Key.Value, f.Value))), $"{node}: persisted fenced incarnations ({input})");
            Assert.That(state.History.Select(r => (r.RequesterNode, r.RequesterIncarnation, r.Seq)), Is.EqualTo(status.History.Select(r => (r.Requester.Node.Value, r.Requester.Incarnation, r.Seq))), $"{node}: persisted history ({input})");
        });
    }
}

/// <summary>Topologies for the tests: device names carry the node they fence (<c>ipmi-3</c>).</summary>
internal static class Topologies
{
    /// <summary>For nodes 1..<paramref name="nodes"/>, the same levels of devices named <c>device-node</c>.</summary>
    public static FencingTopology Uniform(int nodes, params string[][] levels) => Uniform(nodes, FenceAction.Off, levels);

    public static FencingTopology Uniform(int nodes, FenceAction action, params string[][] levels)
    {
        var map = new Dictionary<NodeId, IReadOnlyList<IReadOnlyList<string>>>();
        for (var n = 1; n <= nodes; n++)
        {
            map[new NodeId(n)] = [.. levels.Select(level => (IReadOnlyList<string>)[.. level.Select(d => $"{d}-{n}")])];
        }

        return new FencingTopology(action, map);
    }

    /// <summary>One level, one IPMI device per node.</summary>
    public static FencingTopology Ipmi(int nodes) => Uniform(nodes, ["ipmi"]);

    /// <summary>Level 1: IPMI; level 2: both PDUs of a dual-fed node.</summary>
    public static FencingTopology IpmiThenPdus(int nodes) => Uniform(nodes, ["ipmi"], ["pdu-a", "pdu-b"]);
}
