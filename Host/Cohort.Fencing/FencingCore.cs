using Cohort.Cores;
using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Fencing;

/// <summary>
/// The fencing orchestrator of one node, as a sans-IO state machine. It decides which incarnations must be
/// fenced, which node fences each, through which levels and devices, and when to try again; it keeps and shares
/// the history, and opens the fencing gate.
/// </summary>
/// <remarks>
/// <para><b>Victims.</b> A member of this node's previous view that is gone from the new one without leaving
/// cleanly is a <i>candidate</i>. It becomes a <i>victim</i> once this node is quorate in a view — so only a
/// quorate partition fences, and a minority that saw the majority "depart" fences nobody. A candidate that comes
/// back into a view before that (same or newer incarnation) was never excluded by a quorate view and is dropped.
/// A victim stays one until a fence operation of its node, at its incarnation or a later one, succeeds: an
/// incarnation that comes back after a healed partition is fenced, not welcomed. Victims and results reach every
/// member: each node sends what it knows to the members of every view it installs, and every result to the
/// members of its view.</para>
/// <para><b>Fencer.</b> One per victim: the lowest-id member of the view that is not itself a victim, and only while
/// it is quorate; when every member is a victim (a split that healed mid-race), each member fences the others. When the view changes, the fencer is chosen again; an operation of a node that is no longer the
/// fencer is cut short (<see cref="CancelFenceDevice"/>).</para>
/// <para><b>Fence races.</b> Before a pass starts with a device that has delays (<see cref="FenceDelay"/>), the
/// fencer waits the victim's static delay plus a random one drawn from the injected source, plus
/// <see cref="FencingTopology.PriorityDelay"/> when it has no majority and the departed victim's priority is above
/// every member of its view (<see cref="FenceDelayed"/>). A view change during the wait starts the wait afresh. Every
/// victim carries the incarnations that <i>named</i> it (saw it depart while quorate, or took the operator's request);
/// a victim that is a live member of this node's view while all of its namers are gone (fenced, or restarted as newer
/// incarnations) lost its case with them and is dropped (<see cref="VictimOverruled"/>).</para>
/// <para><b>Levels.</b> Tried in order; every device of a level must succeed, one after the other; a failure,
/// timeout or unknown result moves on to the next level. When every level failed, the pass is recorded, and the
/// fencer tries again after a backoff (1 s, doubling, at most <see cref="MaxBackoff"/>), for as long as it takes.
/// A timeout or an unknown result is never success.</para>
/// <para><b>Inputs.</b> <see cref="CoreStarted"/> (record <c>fencing</c>), frames on the data lane whose first byte
/// is <see cref="FencingWire.Tag"/>, the timer <c>retry</c>, and the local requests
/// <see cref="FencingViewInstalled"/>, <see cref="FencingQuorum"/>, <see cref="FencingTopologyChanged"/>,
/// <see cref="FenceDeviceCompleted"/>, <see cref="FenceNodeRequest"/> and <see cref="FenceAckRequest"/>.</para>
/// </remarks>
public sealed class FencingCore : IProtocolCore
{
    /// <summary>The first byte of every fencing frame on the data lane; the host routes data frames by it.</summary>
    public const byte FrameTag = FencingWire.Tag;

    /// <summary>The name of the core's record.</summary>
    public const string RecordName = "fencing";

    /// <summary>The longest wait between two passes over a victim's levels.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    /// <summary>How many history records a node keeps (and how many clean leavers it remembers).</summary>
    public const int HistoryLength = 256;

    /// <summary>How many of the latest history records a node sends with a view.</summary>
    public const int SyncedHistory = 64;

    private const string RetryTimer = "retry";

    private readonly SortedDictionary<NodeIncarnation, Victim> _victims = [];
    private readonly SortedDictionary<NodeIncarnation, FenceReason> _candidates = [];
    private readonly SortedDictionary<NodeId, long> _fenced = [];
    private readonly SortedSet<NodeIncarnation> _clean = [];
    private readonly Queue<NodeIncarnation> _cleanOrder = new();
    private readonly SortedDictionary<long, Operation> _operations = [];
    private readonly List<(NodeIncarnation From, WireFrame Frame)> _early = [];
    private readonly List<CoreOutput> _step = [];
    private readonly List<FenceRecord> _history = [];
    private readonly HashSet<(NodeIncarnation, long)> _known = [];
    private readonly SortedDictionary<NodeId, long> _lastSeen = [];
    private readonly Func<double> _random;
    private FencingTopology _topology;
    private TimeSpan _now;
    private NodeIncarnation _self;
    private View? _view;
    private bool _quorate;
    private long _nextOperation;
    private long _nextSeq;
    private TimeSpan? _retryAt;
    private byte[] _persisted = [];

    /// <param name="topology">The topology of the committed document the node starts with.</param>
    /// <param name="random">A uniform double in [0, 1) at each call: where random fence-race delays come from (seeded
    /// by the simulator, <see cref="Random.Shared"/> in the host; never the same sequence on two nodes, or their random
    /// delays are equal).</param>
    public FencingCore(FencingTopology topology, Func<double> random)
    {
        ArgumentNullException.ThrowIfNull(topology);
        ArgumentNullException.ThrowIfNull(random);
        _topology = topology;
        _random = random;
    }

    /// <summary>Testing only: a deliberately broken core (a mutant) that a checker must catch.</summary>
    public FencingMutant Mutant { get; init; }

    /// <summary>What the core knows; read between calls only.</summary>
    public FencingStatus Status => new(
        [.. _victims.Select(v => Pending(v.Key, v.Value))],
        [.. _history],
        new SortedDictionary<NodeId, long>(_fenced),
        new SortedSet<NodeIncarnation>(_clean));

    /// <summary>Whether the gate of <paramref name="incarnation"/> is open.</summary>
    public bool IsOpen(NodeIncarnation incarnation) => FencingStatus.IsOpen(_fenced, _clean, incarnation);

    /// <inheritdoc />
    public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(outputs);
        _step.Clear();
        _now = now;
        switch (input)
        {
            case CoreStarted started:
                Start(started);
                break;
            case FrameReceived { Lane: TransportLane.Data } frame:
                OnFrame(frame.From, frame.Frame.Span);
                break;
            case TimerFired { Name: RetryTimer }:
                _retryAt = null;
                break;
            case LocalRequest { Request: FencingViewInstalled installed }:
                OnView(installed);
                break;
            case LocalRequest { Request: FencingQuorum quorum }:
                OnQuorum(quorum);
                break;
            case LocalRequest { Request: FencingTopologyChanged changed }:
                _topology = changed.Topology;
                break;
            case LocalRequest { Request: FenceDeviceCompleted completed }:
                OnCompleted(completed);
                break;
            case LocalRequest { Request: FenceNodeRequest request }:
                OnOperator(request);
                break;
            case LocalRequest { Request: FenceAckRequest ack }:
                Broadcast(new WireFrame(Ack: ack.Node.Value));
                Publish(new FenceAcknowledged(ack.Node));
                break;
            default:
                break;
        }

        DropOverruled(); // a fence or a view may have taken the last namer of a victim
        Drive();
        // Compared with what is on disk, so an unchanged step writes (and encodes) once, not twice.
        var after = Persisted();
        if (!after.AsSpan().SequenceEqual(_persisted))
        {
            _persisted = after;
            // Persisted before anything of this step is carried out, so nothing a peer or a service
            // learns from this step is lost at a crash.
            outputs.Add(new PersistRecord(RecordName, after));
        }

        foreach (var output in _step)
        {
            outputs.Add(output);
        }
    }

    private void Start(CoreStarted started)
    {
        _self = started.Self;
        _persisted = Persisted(); // a first start has nothing to write
        if (started.Records.TryGetValue(RecordName, out var bytes))
        {
            _persisted = bytes.ToArray();
            var state = FencingWire.DecodeState(bytes.Span);
            foreach (var f in state.Fenced)
            {
                _fenced[new NodeId(f.Node)] = f.Incarnation;
            }

            foreach (var c in state.Clean)
            {
                var clean = new NodeIncarnation(new NodeId(c.Node), c.Incarnation);
                if (_clean.Add(clean))
                {
                    _cleanOrder.Enqueue(clean);
                }
            }

            foreach (var v in state.Victims)
            {
                _victims[Of(v)] = new Victim((FenceReason)v.Reason, FencingActionOf(v.Action), NamersOf(v));
            }

            foreach (var v in state.Candidates)
            {
                _candidates[Of(v)] = (FenceReason)v.Reason;
            }

            foreach (var r in state.History)
            {
                if (FencingWire.To(r) is { } record)
                {
                    Remember(record);
                }
            }
        }
    }

    private static NodeIncarnation Of(WireVictim v) => new(new NodeId(v.Node), v.Incarnation);

    private static NodeIncarnation[] NamersOf(WireVictim v) =>
        v.Namers?.Where(n => n is not null).Select(n => new NodeIncarnation(new NodeId(n.Node), n.Incarnation)).ToArray() ?? [];

    private void OnView(FencingViewInstalled installed)
    {
        _view = installed.View;
        _quorate = false; // membership reports quorum in this view afresh (FencingQuorum)
        foreach (var member in installed.View.Members)
        {
            _lastSeen[member.Node] = _lastSeen.TryGetValue(member.Node, out var seen) && seen > member.Incarnation ? seen : member.Incarnation;
        }

        foreach (var clean in installed.LeftCleanly)
        {
            if (!IsOpen(clean) && !_victims.ContainsKey(clean))
            {
                AddClean(clean);
            }
        }

        foreach (var departed in installed.Departed)
        {
            // Also when it is a victim already (a peer named it): this node names it too once quorate.
            if (!IsOpen(departed))
            {
                _candidates[departed] = FenceReason.Departed;
            }
        }

        // A candidate back in the view (in this or a later incarnation) was never excluded by a quorate view.
        foreach (var back in _candidates.Keys.Where(c => installed.View.Members.Any(m => m.Node == c.Node && m.Incarnation >= c.Incarnation)).ToList())
        {
            _candidates.Remove(back);
        }

        DropOverruled(); // before the sync: what this view overrules is not sent on
        var sync = FencingWire.EncodeFrame(new WireFrame(Sync: Snapshot(SyncedHistory)));
        foreach (var member in installed.View.Members)
        {
            if (member != _self)
            {
                _step.Add(new SendFrame(member.Node, TransportLane.Data, sync, member.Incarnation));
            }
        }

        foreach (var (incarnation, victim) in _victims)
        {
            if (victim.Operation is not null && FencerOf(incarnation) != _self.Node)
            {
                CutShort(victim); // someone else fences it in this view
            }
            else if (victim.Delayed)
            {
                CutShort(victim); // a fence-race delay is waited in the view it was drawn for
            }
        }

        // Frames that came before this node installed the view their sender was in.
        var early = _early.Where(e => installed.View.Members.Contains(e.From)).ToList();
        _early.RemoveAll(e => installed.View.Members.Contains(e.From) || !installed.View.Contains(e.From.Node));
        foreach (var (from, frame) in early)
        {
            Apply(frame);
        }
    }

    /// <summary>Cuts the victim's running operation short; its pass starts afresh next time.</summary>
    private void CutShort(Victim victim)
    {
        if (victim.Operation is { } operation && _operations.TryGetValue(operation, out var running) && !running.Cancelled)
        {
            running.Cancelled = true;
            Publish(new CancelFenceDevice(operation));
        }

        victim.Operation = null;
        victim.Level = 0;
        victim.DeviceIndex = 0;
        if (victim.Delayed)
        {
            victim.Delayed = false;
            victim.RetryAt = null;
        }
    }

    private void OnQuorum(FencingQuorum quorum)
    {
        if (_view is null || quorum.View != _view.Id)
        {
            return; // a verdict on another view than the one this core holds
        }

        _quorate = quorum.Quorate;
        if (!_quorate)
        {
            foreach (var victim in _victims.Values.Where(v => v.Operation is not null || v.Delayed))
            {
                CutShort(victim); // a node without quorum fences nobody
            }
        }
    }

    /// <summary>Makes <paramref name="incarnation"/> a victim named by <paramref name="namers"/> (or adds them to its
    /// namers); true when this node is among them for the first time, which its caller tells the view.</summary>
    private bool AddVictim(NodeIncarnation incarnation, FenceReason reason, FenceAction? action, IReadOnlyCollection<NodeIncarnation> namers)
    {
        if (IsOpen(incarnation))
        {
            return false;
        }

        _candidates.Remove(incarnation);
        if (_victims.TryGetValue(incarnation, out var known))
        {
            var before = known.Namers.Contains(_self);
            known.Namers.UnionWith(namers);
            return !before && known.Namers.Contains(_self);
        }

        var victim = new Victim(reason, action, namers);
        if (Overruled(incarnation, victim))
        {
            return false; // named by a partition that is gone, and alive in this node's view
        }

        _victims[incarnation] = victim;
        Publish(new VictimAdded(incarnation, reason));
        if (incarnation == _self)
        {
            Publish(new SelfIsVictim());
        }

        return victim.Namers.Contains(_self);
    }

    private void AddClean(NodeIncarnation incarnation)
    {
        if (_clean.Add(incarnation))
        {
            _cleanOrder.Enqueue(incarnation);
        }

        _candidates.Remove(incarnation);
        while (_clean.Count > HistoryLength)
        {
            _clean.Remove(_cleanOrder.Dequeue()); // the oldest clean leaver is forgotten first
        }

        Publish(new FenceGateOpenedEvent(incarnation, LeftCleanly: true, null));
    }

    /// <summary>Whether every namer of <paramref name="victim"/> is gone while it is a live member of this node's view.</summary>
    private bool Overruled(NodeIncarnation incarnation, Victim victim) =>
        Mutant != FencingMutant.NoOverrule && _view is not null && _view.Members.Contains(incarnation) && victim.Namers.Count > 0 && victim.Namers.All(Gone);

    /// <summary>Whether <paramref name="incarnation"/> is known to be dead: fenced, or its node seen in a newer incarnation.</summary>
    private bool Gone(NodeIncarnation incarnation) =>
        (_lastSeen.TryGetValue(incarnation.Node, out var seen) && seen > incarnation.Incarnation)
        || (_fenced.TryGetValue(incarnation.Node, out var fenced) && fenced >= incarnation.Incarnation);

    private void DropOverruled()
    {
        foreach (var (incarnation, victim) in _victims.Where(v => Overruled(v.Key, v.Value)).ToList())
        {
            CutShort(victim);
            _victims.Remove(incarnation);
            Publish(new VictimOverruled(incarnation, [.. victim.Namers]));
        }
    }

    /// <summary>Records that <paramref name="incarnation"/> was fenced: its gate, and those of older incarnations of
    /// its node, open.</summary>
    private void MarkFenced(NodeIncarnation incarnation, string device)
    {
        if (_fenced.TryGetValue(incarnation.Node, out var already) && already >= incarnation.Incarnation)
        {
            return;
        }

        _fenced[incarnation.Node] = incarnation.Incarnation;
        foreach (var gone in _victims.Keys.Where(v => v.Node == incarnation.Node && v.Incarnation <= incarnation.Incarnation).ToList())
        {
            CutShort(_victims[gone]);
            _victims.Remove(gone);
        }

        foreach (var gone in _candidates.Keys.Where(v => v.Node == incarnation.Node && v.Incarnation <= incarnation.Incarnation).ToList())
        {
            _candidates.Remove(gone);
        }

        Publish(new FenceGateOpenedEvent(incarnation, LeftCleanly: false, device));
    }

    /// <summary>The node that fences <paramref name="victim"/> in the current view: the lowest-id member that is not a victim.</summary>
    private NodeId? FencerOf(NodeIncarnation victim)
    {
        if (_view is null)
        {
            return null;
        }

        foreach (var member in _view.Members)
        {
            // Not the victim's node in any incarnation (a restarted victim would fence its own machine),
            // nor any other victim's.
            if (member.Node != victim.Node && !_victims.Keys.Any(v => v.Node == member.Node))
            {
                return member.Node;
            }
        }

        // Every member is a victim: the halves of a split that healed before either fence was done, each holding
        // the other a victim. The race they started goes on (with its delays), each fencing the other: no gate
        // opened on either side, and whoever loses is overruled as a victim once its namers are gone.
        if (_view.Members.All(m => _victims.Keys.Any(v => v.Node == m.Node)))
        {
            foreach (var member in _view.Members)
            {
                if (member.Node != victim.Node)
                {
                    return member.Node;
                }
            }
        }

        return null;
    }

    /// <summary>Starts every operation this node owes: as the quorate fencer of a victim with nothing running.</summary>
    private void Drive()
    {
        if (!_quorate || _view is null)
        {
            return;
        }

        foreach (var (candidate, reason) in _candidates.ToList())
        {
            // Quorate now: what this node saw depart is fenced, and the view hears that this node named it.
            if (AddVictim(candidate, reason, null, [_self]))
            {
                Broadcast(new WireFrame(Victim: WireVictimOf(candidate, _victims[candidate])));
            }
        }

        foreach (var (incarnation, victim) in _victims)
        {
            if (victim.Operation is not null || FencerOf(incarnation) != _self.Node || victim.RetryAt > _now)
            {
                continue;
            }

            var levels = _topology.LevelsOf(incarnation.Node);
            if (victim.Level == 0 || victim.Level > levels.Count || victim.DeviceIndex >= levels[victim.Level - 1].Count)
            {
                victim.Attempt++; // a fresh pass (also when the topology changed under one)
                victim.Level = 1;
                victim.DeviceIndex = 0;
                victim.RetryAt = null;
                if (levels.Count > 0 && Delay(incarnation, victim, levels[0][0]) is { } delay)
                {
                    victim.Delayed = true;
                    victim.RetryAt = _now + delay.Wait;
                    Publish(new FenceDelayed(incarnation, levels[0][0], delay.Wait, delay.Why));
                    continue;
                }
            }

            victim.Delayed = false;
            victim.RetryAt = null;
            if (levels.Count == 0)
            {
                Record(incarnation, victim.Reason, ActionOf(victim), victim.Attempt, 0, "(none)", FenceResult.Failed, fenced: false, 0,
                    $"no fencing levels for node {incarnation.Node} (Cluster:Fencing:Levels)");
                Exhausted(incarnation, victim);
                continue;
            }

            var level = levels[victim.Level - 1];
            var operation = new Operation(incarnation, victim.Reason, ActionOf(victim), victim.Attempt, victim.Level, level[victim.DeviceIndex], victim.DeviceIndex + 1 == level.Count);
            var number = ++_nextOperation;
            _operations[number] = operation;
            victim.Operation = number;
            Publish(new RunFenceDevice(number, incarnation, operation.Level, operation.Device, operation.Action, operation.Attempt));
        }

        var retry = _victims.Values.Where(v => v.Operation is null && v.RetryAt > _now).Min(v => v.RetryAt);
        if (retry is { } at && at != _retryAt)
        {
            _retryAt = at;
            _step.Add(new SetTimer(RetryTimer, at));
        }
    }

    private FenceAction ActionOf(Victim victim) => victim.Action ?? _topology.Action;

    /// <summary>The fence-race delay before a pass over <paramref name="incarnation"/>'s levels that starts with
    /// <paramref name="device"/>, or null when there is none.</summary>
    private (TimeSpan Wait, string Why)? Delay(NodeIncarnation incarnation, Victim victim, string device)
    {
        if (Mutant == FencingMutant.NoDelay)
        {
            return null; // the mutant: both halves of a split shoot at once
        }

        var wait = TimeSpan.Zero;
        var why = new List<string>();
        if (_topology.Delays.TryGetValue(device, out var delays))
        {
            var fixedPart = delays.BaseFor(incarnation.Node);
            if (fixedPart > TimeSpan.Zero)
            {
                wait += fixedPart;
                why.Add(FormattableString.Invariant($"DelayBase {fixedPart.TotalSeconds:0.###} s"));
            }

            if (delays.Max > fixedPart)
            {
                var randomPart = (delays.Max - fixedPart) * _random();
                wait += randomPart;
                why.Add(FormattableString.Invariant($"random {randomPart.TotalSeconds:0.###} s of DelayMax {delays.Max.TotalSeconds:0.###} s"));
            }
        }

        // Pacemaker's priority-fencing-delay: without a majority, a more important node is shot later.
        if (victim.Reason == FenceReason.Departed && _topology.PriorityDelay > TimeSpan.Zero && _view is not null
            && _view.Members.Count * 2 <= _topology.ClusterSize
            && _view.Members.All(m => _topology.PriorityOf(m.Node) < _topology.PriorityOf(incarnation.Node)))
        {
            wait += _topology.PriorityDelay;
            why.Add(FormattableString.Invariant($"PriorityDelay {_topology.PriorityDelay.TotalSeconds:0.###} s (priority {_topology.PriorityOf(incarnation.Node)})"));
        }

        return wait > TimeSpan.Zero ? (wait, string.Join(" + ", why)) : null;
    }

    private void OnCompleted(FenceDeviceCompleted completed)
    {
        if (!_operations.Remove(completed.Operation, out var operation))
        {
            return; // not one of this incarnation's
        }

        var result = completed.Result;
        if (Mutant == FencingMutant.GateOnTimeout && result == FenceResult.Timeout)
        {
            result = FenceResult.Success; // the mutant: a device that did not answer counts as done
        }

        // Recorded whatever became of the victim meanwhile: the history says what every device did.
        var levelDone = result == FenceResult.Success && operation.LastOfLevel;
        Record(operation.Victim, operation.Reason, operation.Action, operation.Attempt, operation.Level, operation.Device, result, levelDone, completed.UnixMilliseconds, completed.Detail);
        if (levelDone)
        {
            MarkFenced(operation.Victim, operation.Device);
            return;
        }

        if (!_victims.TryGetValue(operation.Victim, out var victim) || victim.Operation != completed.Operation)
        {
            return; // fenced by another node, or cut short: its pass was reset then
        }

        victim.Operation = null;
        if (result == FenceResult.Success)
        {
            victim.DeviceIndex++;
            return;
        }

        if (victim.Level < _topology.LevelsOf(operation.Victim.Node).Count)
        {
            victim.Level++;
            victim.DeviceIndex = 0;
            return;
        }

        Exhausted(operation.Victim, victim);
    }

    private void Exhausted(NodeIncarnation incarnation, Victim victim)
    {
        var exponent = Math.Min(victim.Attempt - 1, 5);
        var backoff = TimeSpan.FromSeconds(1 << exponent);
        backoff = backoff > MaxBackoff ? MaxBackoff : backoff;
        victim.Level = 0;
        victim.DeviceIndex = 0;
        victim.RetryAt = _now + backoff;
        Publish(new FencingExhausted(incarnation, victim.Attempt, backoff));
    }

    private void Record(NodeIncarnation victim, FenceReason reason, FenceAction action, int attempt, int level, string device, FenceResult result, bool fenced, long unixMilliseconds, string detail)
    {
        var record = new FenceRecord(_self, ++_nextSeq, victim, level, device, action, result, reason, fenced, attempt, unixMilliseconds, detail);
        Remember(record);
        Publish(new FenceRecorded(record, Local: true));
        Broadcast(new WireFrame(Record: FencingWire.From(record)));
    }

    private void Remember(FenceRecord record)
    {
        if (!_known.Add((record.Requester, record.Seq)))
        {
            return;
        }

        _history.Add(record);
        if (record.Requester == _self && record.Seq > _nextSeq)
        {
            _nextSeq = record.Seq;
        }

        if (_history.Count > HistoryLength)
        {
            var dropped = _history[0];
            _history.RemoveAt(0);
            _known.Remove((dropped.Requester, dropped.Seq));
        }
    }

    private void OnOperator(FenceNodeRequest request)
    {
        string? error = null;
        NodeIncarnation? target = null;
        if (request.Action is not (null or FenceAction.Off or FenceAction.Reboot))
        {
            error = $"fencing is off or reboot, not {request.Action.ToString()!.ToLowerInvariant()}";
        }
        else if (request.Node == _self.Node)
        {
            error = "a node does not fence itself: ask another node";
        }
        else if (!_quorate || _view is null)
        {
            error = "this node is not quorate: only a quorate partition fences";
        }
        else if (_view.Members.FirstOrDefault(m => m.Node == request.Node) is { Incarnation: > 0 } member)
        {
            target = member;
        }
        else if (_lastSeen.TryGetValue(request.Node, out var seen))
        {
            target = new NodeIncarnation(request.Node, seen);
        }
        else
        {
            error = $"node {request.Node} was never a member of a view this node installed: its incarnation is unknown";
        }

        if (target is { } victim)
        {
            if (IsOpen(victim))
            {
                error = $"{victim} is fenced already";
                target = null;
            }
            else
            {
                AddVictim(victim, FenceReason.Operator, request.Action, [_self]);
                Broadcast(new WireFrame(Victim: WireVictimOf(victim, _victims[victim])));
            }
        }

        Publish(new FenceNodeAnswered(request.Token, target, error));
    }

    /// <summary>How many frames from senders outside this node's view are kept for the view that includes them.</summary>
    private const int EarlyFrames = 256;

    private void OnFrame(NodeIncarnation from, ReadOnlySpan<byte> bytes)
    {
        if (FencingWire.DecodeFrame(bytes) is not { } frame)
        {
            return; // malformed: dropped
        }

        if (_view is null || !_view.Members.Contains(from))
        {
            // Only members of this node's view are heard; a frame may come before this node installed the
            // view its sender sent it in, so it is kept (a bounded number) until then.
            if (_early.Count < EarlyFrames)
            {
                _early.Add((from, frame));
            }

            return;
        }

        Apply(frame);
    }

    private void Apply(WireFrame frame)
    {
        if (frame.Record is { } wire && FencingWire.To(wire) is { } record)
        {
            Learn(record);
        }

        if (frame.Sync is { } sync)
        {
            foreach (var f in sync.Fenced)
            {
                MarkFenced(new NodeIncarnation(new NodeId(f.Node), f.Incarnation), "(peer)");
            }

            foreach (var c in sync.Clean)
            {
                var incarnation = new NodeIncarnation(new NodeId(c.Node), c.Incarnation);
                if (!IsOpen(incarnation) && !_victims.ContainsKey(incarnation))
                {
                    AddClean(incarnation);
                }
            }

            foreach (var r in sync.History)
            {
                if (FencingWire.To(r) is { } synced)
                {
                    Learn(synced);
                }
            }

            foreach (var v in sync.Victims.Where(v => Enum.IsDefined((FenceReason)v.Reason)))
            {
                AddVictim(Of(v), (FenceReason)v.Reason, FencingActionOf(v.Action), NamersOf(v));
            }
        }

        if (frame.Victim is { } named && Enum.IsDefined((FenceReason)named.Reason))
        {
            AddVictim(Of(named), (FenceReason)named.Reason, FencingActionOf(named.Action), NamersOf(named));
        }

        if (frame.Ack is { } ack)
        {
            Publish(new FenceAcknowledged(new NodeId(ack)));
        }
    }

    /// <summary>An action on the wire as a victim's action: off or reboot, else the topology's (null).</summary>
    private static FenceAction? FencingActionOf(int action) => (FenceAction)action is FenceAction.Off or FenceAction.Reboot ? (FenceAction)action : null;

    private void Learn(FenceRecord record)
    {
        if (_known.Contains((record.Requester, record.Seq)))
        {
            return;
        }

        Remember(record);
        Publish(new FenceRecorded(record, Local: false));
        if (record.Fenced)
        {
            MarkFenced(record.Victim, record.Device);
        }
    }

    private void Broadcast(WireFrame frame)
    {
        if (_view is null)
        {
            return;
        }

        var bytes = FencingWire.EncodeFrame(frame);
        foreach (var member in _view.Members)
        {
            if (member != _self)
            {
                _step.Add(new SendFrame(member.Node, TransportLane.Data, bytes, member.Incarnation));
            }
        }
    }

    private void Publish(object e) => _step.Add(new PublishEvent(e));

    private WireState Snapshot(int history) => new(
        [.. _victims.Select(v => WireVictimOf(v.Key, v.Value))],
        [.. _candidates.Select(c => new WireVictim(c.Key.Node.Value, c.Key.Incarnation, (int)c.Value, 0))],
        [.. _fenced.Select(f => new WireIncarnation(f.Key.Value, f.Value))],
        [.. _cleanOrder.Select(c => new WireIncarnation(c.Node.Value, c.Incarnation))],
        [.. _history.Skip(Math.Max(0, _history.Count - history)).Select(FencingWire.From)]);

    private static WireVictim WireVictimOf(NodeIncarnation incarnation, Victim victim) =>
        new(incarnation.Node.Value, incarnation.Incarnation, (int)victim.Reason, (int)(victim.Action ?? 0), [.. victim.Namers.Select(WireOf)]);

    private static WireIncarnation WireOf(NodeIncarnation incarnation) => new(incarnation.Node.Value, incarnation.Incarnation);

    private byte[] Persisted() => FencingWire.EncodeState(Snapshot(HistoryLength));

    private PendingFence Pending(NodeIncarnation incarnation, Victim victim)
    {
        var fencer = FencerOf(incarnation);
        var running = victim.Operation is { } number && _operations.TryGetValue(number, out var operation) ? operation : null;
        var state = running is not null ? "running"
            : !_quorate || fencer is null ? "waiting"
            : fencer != _self.Node ? "elsewhere"
            : victim.Delayed ? "delayed"
            : victim.RetryAt is not null ? "retrying"
            : "waiting";
        return new PendingFence(incarnation, victim.Reason, fencer, state, victim.Attempt, running?.Level ?? 0, running?.Device);
    }

    /// <summary>A device operation this node asked for and has not heard the end of.</summary>
    private sealed record Operation(NodeIncarnation Victim, FenceReason Reason, FenceAction Action, int Attempt, int Level, string Device, bool LastOfLevel)
    {
        public bool Cancelled { get; set; }
    }

    private sealed class Victim(FenceReason reason, FenceAction? action, IEnumerable<NodeIncarnation> namers)
    {
        public FenceReason Reason { get; } = reason;

        public FenceAction? Action { get; } = action;

        /// <summary>The incarnations that named it: saw it depart while quorate, or took an operator's request.</summary>
        public SortedSet<NodeIncarnation> Namers { get; } = [.. namers];

        /// <summary>Whether <see cref="RetryAt"/> is a fence-race delay before the pass's first operation.</summary>
        public bool Delayed { get; set; }

        public int Attempt { get; set; }

        /// <summary>The level being tried, from 1; 0 between passes.</summary>
        public int Level { get; set; }

        public int DeviceIndex { get; set; }

        public long? Operation { get; set; }

        public TimeSpan? RetryAt { get; set; }
    }
}

/// <summary>Deliberately broken fencing cores, for proving checkers.</summary>
public enum FencingMutant
{
    /// <summary>The real core.</summary>
    None = 0,

    /// <summary>A device that timed out counts as having fenced: the gate opens on a timeout.</summary>
    GateOnTimeout = 1,

    /// <summary>Fence-race delays are ignored: both halves of a two-node split shoot at once.</summary>
    NoDelay = 2,

    /// <summary>No victim is ever overruled: the restarted loser of a race fences the survivor once the split heals.</summary>
    NoOverrule = 3,
}
