using Cohort.Membership;

namespace Cohort.Quorum.WitnessFile;

/// <summary>One node's slot of the shared file, as read or to be written.</summary>
/// <param name="Node">The node that owns the slot.</param>
/// <param name="Incarnation">Its incarnation when it wrote it.</param>
/// <param name="Counter">Bumped by every write of the slot.</param>
/// <param name="Claim">The view the node claims the vote for, or null for none.</param>
internal sealed record SlotContent(NodeId Node, long Incarnation, long Counter, ViewId? Claim);

/// <summary>Deliberately broken lease cores, each of which the file lease's checker must catch.</summary>
internal enum FileLeaseMutant
{
    /// <summary>The real core.</summary>
    None = 0,

    /// <summary>A claim or renewal counts without reading the other slots after writing it.</summary>
    NoInterlock,
}

/// <summary>
/// The witness-file lease on one node: a sans-IO state machine the device drives with what it read
/// from every slot and when, and with when each of its own writes began.
/// </summary>
/// <remarks>
/// <para><b>The file.</b> One slot per node of the document; a node writes only its own slot: its
/// incarnation, a counter bumped by every write, and the view it claims the vote for, if any.
/// Storage must be linearizable for single-slot reads and writes (a local file shared by processes,
/// a block device, a cluster file system); it need not bound how long an IO takes.</para>
/// <para><b>Exclusion without timing.</b> A node counts the vote for its view only after a write of
/// its claim (or a renewal of it) followed by a read of every slot in which no claim for another view
/// had changed. Two nodes claiming for different views cannot both pass: whichever read last sees the
/// other's write. A grant lasts from the start of the verified write for lease × (1−ρ) on the node's
/// clock; renewals every renew interval extend it, each verified the same way.</para>
/// <para><b>Waiting out a silent claim.</b> A node does not claim while another view's claim changed
/// within the last lease × (1+ρ) on its own clock (a node that starts treats every claim it first sees
/// as just changed): a holder that died or hangs has then stopped counting. A holder that is paused
/// past its grant and resumes finds the new holder's changes and withdraws.</para>
/// <para><b>Preference.</b> After two views collide, both withdraw; the one holding the tie-breaker
/// node retries first, the others one renew interval later per node they lack.</para>
/// <para>Only the node itself counts its grant; every member of a view claims for it on its own, so
/// each member of the view holding the vote counts it.</para>
/// </remarks>
internal sealed class FileLeaseCore
{
    private static readonly ViewId Unknown = new(-1, new NodeId(-1));

    private readonly int _self;
    private readonly NodeId[] _slotNodes;
    private readonly NodeId _selfNode;
    private readonly long _incarnation;
    private readonly TimeSpan _lease;
    private readonly TimeSpan _renew;
    private readonly double _rho;
    private readonly NodeId _tieBreaker;
    private readonly int _nodes;
    private readonly FileLeaseMutant _mutant;
    private readonly Other[] _others;
    private long _counter;
    private Phase _phase;
    private ViewId? _claimView;
    private TimeSpan? _pendingWrite;
    private TimeSpan _lastWrite = TimeSpan.MinValue;
    private TimeSpan _grantUntil;
    private TimeSpan _backoffUntil = TimeSpan.MinValue;
    private string _detail = "not read yet";

    /// <param name="slotNodes">The node owning each slot, in slot order (the document's nodes by id).</param>
    /// <param name="node">This node and incarnation.</param>
    /// <param name="lease">How long a grant lasts from the start of its verified write.</param>
    /// <param name="renew">How often a holder renews.</param>
    /// <param name="clockDriftBound">ρ.</param>
    /// <param name="tieBreaker">The node whose view retries first after a collision.</param>
    /// <param name="mutant">A deliberately broken variant, for the checker.</param>
    public FileLeaseCore(IReadOnlyList<NodeId> slotNodes, NodeIncarnation node, TimeSpan lease, TimeSpan renew, double clockDriftBound, NodeId tieBreaker, FileLeaseMutant mutant = FileLeaseMutant.None)
    {
        ArgumentNullException.ThrowIfNull(slotNodes);
        _slotNodes = [.. slotNodes];
        _self = Array.IndexOf(_slotNodes, node.Node);
        if (_self < 0)
        {
            throw new ArgumentException($"node {node.Node} has no slot", nameof(node));
        }

        _selfNode = node.Node;
        _incarnation = node.Incarnation;
        _nodes = _slotNodes.Length;
        _lease = lease;
        _renew = renew;
        _rho = clockDriftBound;
        _tieBreaker = tieBreaker;
        _mutant = mutant;
        _others = new Other[_nodes];
    }

    private enum Phase
    {
        None,
        Claiming,
        Held,
    }

    /// <summary>When the claim that last kept this node from claiming falls silent (on its clock), so
    /// the device reads again then rather than a whole renew interval later; null when none did.</summary>
    public TimeSpan? BlockedUntil { get; private set; }

    /// <summary>What to report: the view the vote is this node's for, and until when.</summary>
    public QuorumDeviceGrant Grant(TimeSpan now) =>
        _phase == Phase.Held && _claimView is { } view && now < _grantUntil
            ? new QuorumDeviceGrant(view, _grantUntil, _detail)
            : new QuorumDeviceGrant(null, TimeSpan.Zero, _detail);

    /// <summary>
    /// Takes what a read of every slot found (null for a slot that did not parse: a write in flight,
    /// or never written), begun at <paramref name="now"/>, and the view this node holds (null: none
    /// it may act in). Returns what to write to this node's slot, or null; after writing, call
    /// <see cref="Written"/> with the time the write began.
    /// </summary>
    public SlotContent? Read(TimeSpan now, View? view, IReadOnlyList<SlotContent?> slots)
    {
        ArgumentNullException.ThrowIfNull(slots);
        var conflictChanged = false;
        for (var i = 0; i < _nodes; i++)
        {
            if (i == _self)
            {
                _counter = Math.Max(_counter, slots[i]?.Counter ?? 0);
                continue;
            }

            // A slot another node wrote (the document's node list changed under an old file) is as
            // unreadable as a torn one, until its owner rewrites it.
            var s = slots[i] is { } read && (read.Counter == 0 || read.Node == _slotNodes[i]) ? read : null;
            var claim = s is null ? Unknown : s.Claim;
            var key = s is null ? (-1L, -1L) : (s.Incarnation, s.Counter);
            ref var other = ref _others[i];
            if (!other.Known || other.Key != key)
            {
                other.Known = true;
                other.Key = key;
                other.ChangeSeenAt = now;
                conflictChanged |= claim is { } c && c != view?.Id;
            }

            other.Claim = claim;
        }

        if (view is null)
        {
            _detail = "this node holds no view it may act in";
            return _claimView is null && _phase == Phase.None ? null : Withdraw(now, backoff: false);
        }

        if (_claimView != view.Id && _phase != Phase.None)
        {
            _phase = Phase.None; // a new view is claimed afresh: the old grant was for the old view
            _pendingWrite = null;
        }

        var blocking = Blocking(now, view.Id);
        BlockedUntil = blocking is { } until ? until.ChangeSeenAt + (_lease * (1 + _rho)) + TimeSpan.FromTicks(1) : null;
        switch (_phase)
        {
            case Phase.None:
                if (now < _backoffUntil)
                {
                    _detail = "backing off after a collision with another view's claim";
                    return null;
                }

                if (blocking is { } b)
                {
                    _detail = $"node {b.Node}'s claim for view {Describe(b.Claim)} changed {Ms(now - b.ChangeSeenAt)} ms ago; waiting until it has been silent for the lease";
                    return null;
                }

                _phase = Phase.Claiming;
                _claimView = view.Id;
                _detail = "claiming";
                return Write(view.Id);
            case Phase.Claiming when _pendingWrite is { } claimed:
                if (blocking is { } other && _mutant != FileLeaseMutant.NoInterlock)
                {
                    _detail = $"collided with node {other.Node}'s claim for view {Describe(other.Claim)}";
                    return Withdraw(now, backoff: true, view);
                }

                _phase = Phase.Held;
                _pendingWrite = null;
                _grantUntil = claimed + (_lease * (1 - _rho));
                _detail = "held";
                return RenewIfDue(now, view.Id);
            case Phase.Claiming:
                return null; // the claim is not written yet
            case Phase.Held:
                if (conflictChanged && _mutant != FileLeaseMutant.NoInterlock)
                {
                    _detail = "another view's claim changed while this node held the vote";
                    return Withdraw(now, backoff: true, view);
                }

                if (_pendingWrite is { } renewed)
                {
                    _grantUntil = renewed + (_lease * (1 - _rho));
                    _pendingWrite = null;
                }

                _detail = "held";
                return RenewIfDue(now, view.Id);
            default:
                return null;
        }
    }

    /// <summary>The write <see cref="Read"/> asked for began at <paramref name="at"/> and completed.</summary>
    public void Written(TimeSpan at)
    {
        _lastWrite = at;
        if (_phase != Phase.None)
        {
            _pendingWrite = at;
            if (_mutant == FileLeaseMutant.NoInterlock && _phase == Phase.Held)
            {
                _grantUntil = at + (_lease * (1 - _rho));
            }
        }
    }

    /// <summary>The write <see cref="Read"/> asked for failed: the claim or renewal does not count.</summary>
    public void WriteFailed(string reason)
    {
        _detail = $"writing the slot failed: {reason}";
        if (_phase == Phase.Claiming)
        {
            _phase = Phase.None;
            _pendingWrite = null;
        }
    }

    private SlotContent? RenewIfDue(TimeSpan now, ViewId view) =>
        _lastWrite == TimeSpan.MinValue || now - _lastWrite >= _renew ? Write(view) : null;

    private SlotContent Write(ViewId? claim) => new(_selfNode, _incarnation, ++_counter, claim);

    private SlotContent Withdraw(TimeSpan now, bool backoff, View? view = null)
    {
        _phase = Phase.None;
        _claimView = null;
        _pendingWrite = null;
        _grantUntil = TimeSpan.Zero;
        if (backoff && view is not null)
        {
            var rank = view.Contains(_tieBreaker) ? 0 : 1 + _nodes - view.Members.Count;
            _backoffUntil = now + (_renew * rank);
        }

        return Write(null);
    }

    /// <summary>A claim for another view that changed within the last lease × (1+ρ), if any.</summary>
    private (NodeId Node, ViewId Claim, TimeSpan ChangeSeenAt)? Blocking(TimeSpan now, ViewId view)
    {
        for (var i = 0; i < _nodes; i++)
        {
            var other = _others[i];
            if (i != _self && other.Known && other.Claim is { } claim && claim != view && now < other.ChangeSeenAt + (_lease * (1 + _rho)))
            {
                return (_slotNodes[i], claim, other.ChangeSeenAt);
            }
        }

        return null;
    }

    private static string Describe(ViewId view) => view == Unknown ? "(unreadable slot)" : view.ToString();

    private static string Ms(TimeSpan t) => Math.Max(0, t.TotalMilliseconds).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);

    private struct Other
    {
        public bool Known;
        public (long, long) Key;
        public ViewId? Claim;
        public TimeSpan ChangeSeenAt;
    }
}
