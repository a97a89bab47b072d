using Cohort.Cores;
using Cohort.Quorum;
using Cohort.Transport;
using Microsoft.Extensions.Configuration;

namespace Cohort.Membership;

/// <summary>The life of a node in the cluster, as its membership core sees it.</summary>
public enum MembershipPhase
{
    /// <summary>Started; no view installed by this incarnation yet.</summary>
    Joining,

    /// <summary>A member of an installed view.</summary>
    Member,

    /// <summary>Leaving cleanly: services are draining.</summary>
    Leaving,

    /// <summary>Drained: quorum given up for good; waiting for a view that excludes it.</summary>
    Drained,

    /// <summary>Excluded as a clean leaver; the agent may exit.</summary>
    Left,
}

/// <summary>
/// The membership core: heartbeat failure detection, views installed only after every member
/// accepted them, node incarnations, clean leave, and the quorum lease of DESIGN.md invariant 1.
/// A sans-IO state machine (see <see cref="IProtocolCore"/>); docs/membership.md explains the protocol.
/// </summary>
/// <remarks>
/// Requests it takes: <see cref="LeaveRequest"/>, <see cref="DrainComplete"/>, <see cref="DeviceReport"/>,
/// <see cref="AdoptConfiguration"/>, <see cref="ConfigurationPending"/>. Events it publishes:
/// <see cref="ViewInstalled"/>, <see cref="QuorumChanged"/>, <see cref="Draining"/>,
/// <see cref="LeftCluster"/>, <see cref="ConfigMismatch"/>, <see cref="ConfigurationAhead"/>. Records it
/// persists: <c>membership</c>, <c>quorum-policy</c>. Each view is judged under the rules
/// (<see cref="MembershipRules"/>) of the cluster document version it carries.
/// </remarks>
public sealed class MembershipCore : IProtocolCore
{
    /// <summary>The name of the persisted record.</summary>
    public const string RecordName = "membership";

    /// <summary>The name of the record holding what the quorum policy asked to remember.</summary>
    public const string PolicyRecordName = "quorum-policy";

    private const string HeartbeatTimer = "heartbeat";
    private const string PromisesTimer = "promises";
    private const string LeaseTimer = "lease";
    private const string PolicyTimer = "policy";
    private const string DeviceTimer = "device";
    private const string HoldTimer = "hold";
    private static readonly TimeSpan Never = TimeSpan.MinValue;

    /// <summary>How often a peer that stays ahead is reported again (a fetch may be lost with its session).</summary>
    private static readonly TimeSpan AheadRepeat = TimeSpan.FromSeconds(1);

    private readonly Dictionary<int, Peer> _peers = [];
    private readonly byte[] _configHash;
    private readonly MembershipMutant _mutant;

    // The newest rules adopted; those the installed view is judged by (the start rules before it); and
    // those of the proposal accepted last.
    private MembershipRules _latest;
    private MembershipRules _judge;
    private MembershipRules _acceptedRules;
    private NodeId[] _recipients = [];
    private long _pending;
    private TimeSpan _holdUntil = Never;
    private long _holdFor;

    private ICollection<CoreOutput> _out = [];
    private TimeSpan _now;
    private bool _started;
    private long _maxSeq;
    private ViewId _lastInstalled;
    private View? _installed;

    // The members of the last view the previous incarnation persisted (and the departed it still owed a report of),
    // until this incarnation installs its first view: those not in it are reported departed (startup fencing).
    private NodeIncarnation[] _inherited = [];
    private Propose? _accepted;
    private Coordination? _coordinating;
    private TimeSpan _promiseAllUntil;
    private bool _reportedExpired;
    private TimeSpan _selfEcho = Never;
    private TimeSpan _nextHeartbeat;
    private QuorumDecision? _decision;
    private ReadOnlyMemory<byte> _policyState;
    private bool _publishedQuorate;
    private ViewId? _publishedView;
    private TimeSpan? _leaseTimer;
    private TimeSpan? _promisesTimer;
    private TimeSpan? _quorateUntil;
    private QuorumDeviceGrant? _deviceGrant;

    /// <summary>Creates the core for one node of a cluster.</summary>
    /// <param name="nodes">Every configured node.</param>
    /// <param name="cluster">The cluster document (<c>Cluster:*</c> keys) the quorum policy reads.</param>
    /// <param name="configHash">The SHA-256 of the cluster document; peers with another are ignored.</param>
    /// <param name="policy">The quorum policy; it must count any superset of a quorum as a quorum.</param>
    /// <param name="options">The timings.</param>
    /// <param name="device">The quorum device, or null when the cluster has none; its grants arrive as
    /// <see cref="DeviceReport"/> requests.</param>
    public MembershipCore(IReadOnlyList<ClusterNode> nodes, IConfiguration cluster, byte[] configHash, IQuorumPolicy policy, MembershipOptions options, DeviceSetup? device = null)
        : this(MembershipRules.Unversioned(
            nodes ?? throw new ArgumentNullException(nameof(nodes)),
            cluster ?? throw new ArgumentNullException(nameof(cluster)),
            policy ?? throw new ArgumentNullException(nameof(policy)),
            options ?? throw new ArgumentNullException(nameof(options)),
            device), configHash)
    {
    }

    /// <summary>Creates the core for one node of a cluster, judging its first views by <paramref name="rules"/>.</summary>
    /// <param name="rules">The rules of the committed cluster document version the node holds at start.</param>
    /// <param name="configHash">The SHA-256 of the cluster's first document (version 1); peers with another are ignored.</param>
    /// <remarks>The mutant of <paramref name="rules"/>' options stays for the core's life.</remarks>
    public MembershipCore(MembershipRules rules, byte[] configHash)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(configHash);
        if (configHash.Length != MembershipFrames.HashBytes)
        {
            throw new ArgumentException($"a config hash is {MembershipFrames.HashBytes} bytes", nameof(configHash));
        }

        CheckNodes(rules, nameof(rules));
        _configHash = configHash;
        _mutant = rules.Options.Mutant;
        _latest = _judge = _acceptedRules = rules;
        Know(rules);
    }

    /// <summary>The rules of the newest cluster document version this node adopted.</summary>
    public MembershipRules Rules => _latest;

    /// <summary>The newest cluster document version this node is about to acknowledge or holds.</summary>
    public long PendingConfigVersion => Math.Max(_pending, _latest.ConfigVersion);

    /// <summary>This node and incarnation (default before <see cref="CoreStarted"/>).</summary>
    public NodeIncarnation Self { get; private set; }

    /// <summary>Where the node stands.</summary>
    public MembershipPhase Phase { get; private set; } = MembershipPhase.Joining;

    /// <summary>The view this incarnation installed last, or null.</summary>
    public View? Installed => _installed;

    /// <summary>The newest proposal this node accepted (equal to the installed view's id once installed).</summary>
    public ViewId? Accepted => _accepted?.Id;

    /// <summary>The quorum policy's latest decision on the installed view.</summary>
    public QuorumDecision? Decision => _decision;

    /// <summary>The cluster document hash, as lower-case hex.</summary>
    public string ConfigHash => Convert.ToHexStringLower(_configHash);

    /// <summary>
    /// Until when (on this node's clock) this node may act as quorate in <see cref="Installed"/>, or
    /// null when it is not quorate at all. It only ever shrinks between inputs: a node is quorate at
    /// time t exactly when t &lt; QuorateUntil.
    /// </summary>
    public TimeSpan? QuorateUntil => _quorateUntil;

    /// <summary>What the quorum device last reported, or null (no device, or no report yet).</summary>
    public QuorumDeviceGrant? DeviceGrant => _deviceGrant;

    /// <summary>Why the node is or is not quorate (ignoring the lease's run-out), for operators.</summary>
    public string QuorumReason { get; private set; } = "not started";

    /// <summary>
    /// Whether this node's quorum may be matched by another side's: the policy declared dual quorum for
    /// the view, or for a set of members the lease or the promise reports rest on (a policy whose
    /// verdict depends on what each node remembers, say). Fencing alone then separates the sides.
    /// </summary>
    public bool QuorumIsDual { get; private set; }

    /// <summary>Whether the installed view is not quorate only for want of the quorum device's vote
    /// (it would be with it): a device that has yet to grant a new view its vote, say.</summary>
    public bool AwaitingDevice { get; private set; }

    /// <summary>Whether this node is quorate at <paramref name="now"/>.</summary>
    public bool IsQuorate(TimeSpan now) => QuorateUntil is { } until && now < until;

    /// <inheritdoc />
    public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        ArgumentNullException.ThrowIfNull(input);
        _out = outputs ?? throw new ArgumentNullException(nameof(outputs));
        _now = now;
        switch (input)
        {
            case CoreStarted started:
                Start(started);
                break;
            case FrameReceived frame when _started:
                OnFrame(frame);
                break;
            case SessionReset reset when _started:
                if (PeerOf(reset.Peer.Node) is { } peer && peer.Incarnation == reset.Peer.Incarnation)
                {
                    peer.LastHeard = Never;
                }

                break;
            case TimerFired timer when _started:
                OnTimer(timer.Name);
                break;
            case LocalRequest { Request: LeaveRequest } when _started:
                Leave();
                break;
            case LocalRequest { Request: DrainComplete } when _started:
                Drained();
                break;
            case LocalRequest { Request: AdoptConfiguration adopt } when _started:
                Adopt(adopt.Rules);
                break;
            case LocalRequest { Request: ConfigurationPending pending } when _started:
                if (!string.Equals(pending.QuorumRules, _latest.QuorumRules, StringComparison.Ordinal))
                {
                    _pending = Math.Max(_pending, pending.Version);
                }

                break;
            case LocalRequest { Request: DeviceReport report } when _started:
                _deviceGrant = report.Grant;
                if (_installed is not null)
                {
                    Decide();
                }

                break;
            case LocalRequest request:
                throw new ArgumentException($"the membership core takes no {request.Request.GetType().Name}", nameof(input));
            default:
                break;
        }

        if (_started && Phase != MembershipPhase.Left)
        {
            Evaluate();
        }
    }

    private void Start(CoreStarted started)
    {
        if (_started)
        {
            throw new InvalidOperationException("the core was started twice");
        }

        Self = started.Self;
        _peers.Remove(Self.Node.Value); // a node its rules do not list joins no view until a version lists it
        _recipients = Recipients();

        if (started.Records.TryGetValue(RecordName, out var bytes) && MembershipFrames.Decode(bytes.Span) is StateRecord record)
        {
            _maxSeq = Math.Max(record.MaxSeq, record.LastInstalled.Seq);
            _lastInstalled = record.LastInstalled;
            _inherited = record.Members;
        }

        if (started.Records.TryGetValue(PolicyRecordName, out var policyState))
        {
            _policyState = policyState.ToArray();
        }

        // A node that (re)starts counts as having promised at its start: it may have acknowledged
        // heartbeats in a life it no longer remembers.
        _promiseAllUntil = _mutant == MembershipMutant.NoPromise ? _now : _now + _latest.Options.PromiseHeld;
        if (_latest.ConfigVersion > 1)
        {
            // Version 1 has no predecessor; a later one may have committed just before this start, while
            // a lease under its predecessor still ran somewhere.
            Hold(_latest.Options.PromiseHeld);
        }

        _started = true;
        _nextHeartbeat = _now;
        SendHeartbeats();
    }

    private void OnTimer(string name)
    {
        switch (name)
        {
            case HeartbeatTimer:
                SendHeartbeats();
                RetransmitProposal();
                break;
            case PolicyTimer or DeviceTimer:
                if (_installed is not null)
                {
                    Decide();
                }

                break;
            case LeaseTimer:
                _leaseTimer = null;
                break;
            case HoldTimer:
                break; // the evaluation after every input judges quorum again
            default:
                break;
        }
    }

    private void OnFrame(FrameReceived received)
    {
        var peer = PeerOf(received.From.Node);
        if (peer is null || received.From.Node == Self.Node || received.Lane != TransportLane.Membership)
        {
            return;
        }

        if (received.From.Incarnation < peer.Incarnation)
        {
            return; // an excluded incarnation
        }

        if (received.From.Incarnation > peer.Incarnation)
        {
            peer.Reset(received.From.Incarnation);
        }

        switch (MembershipFrames.Decode(received.Frame.Span))
        {
            case Heartbeat heartbeat:
                OnHeartbeat(received.From, peer, heartbeat);
                break;
            case Propose propose:
                OnPropose(received.From, peer, propose);
                break;
            case Accept accept:
                OnAccept(received.From, accept);
                break;
            case Install install:
                if (_accepted is { } proposal && proposal.Id == install.Id && _installed?.Id != install.Id)
                {
                    DoInstall(proposal);
                }

                break;
            case Farewell farewell when Phase == MembershipPhase.Drained && (_installed is null || farewell.Id > _installed.Id):
                Phase = MembershipPhase.Left;
                PublishQuorum();
                _out.Add(new PublishEvent(new LeftCluster(farewell.Id)));
                break;
            default:
                break; // malformed or out of place: dropped
        }
    }

    private void OnHeartbeat(NodeIncarnation from, Peer peer, Heartbeat h)
    {
        if (!h.ConfigHash.AsSpan().SequenceEqual(_configHash))
        {
            if (!peer.MismatchReported)
            {
                peer.MismatchReported = true;
                _out.Add(new PublishEvent(new ConfigMismatch(from, Convert.ToHexStringLower(h.ConfigHash), ConfigHash)));
            }

            return;
        }

        peer.LastHeard = _now;
        _maxSeq = Math.Max(_maxSeq, Math.Max(h.MaxSeq, Math.Max(h.Installed.Seq, h.Accepted.Seq)));
        peer.ConfigVersion = Math.Max(peer.ConfigVersion, h.ConfigVersion);
        if (h.ConfigVersion > _latest.ConfigVersion && (h.ConfigVersion > peer.AheadReported || peer.AheadReportedAt + AheadRepeat <= _now))
        {
            peer.AheadReported = h.ConfigVersion;
            peer.AheadReportedAt = _now;
            _out.Add(new PublishEvent(new ConfigurationAhead(from.Node, h.ConfigVersion)));
        }
        if (h.SendTime >= peer.LastSendTime)
        {
            peer.LastSendTime = h.SendTime;
            peer.InstalledView = h.Installed;
            peer.AcceptedView = h.Accepted;
            peer.Flags = h.Flags;
            if ((h.Flags & HeartbeatFlags.Drained) != 0)
            {
                peer.PromiseUntil = Never; // it gave up quorum for good: nothing to protect
            }

            if ((h.Flags & HeartbeatFlags.PromisesExpired) != 0 && _installed is not null && h.Installed == _installed.Id)
            {
                peer.ExpiredReportedFor = h.Installed;
            }
        }

        if (h.ToIncarnation == Self.Incarnation)
        {
            if (h.EchoAny >= 0 && h.EchoAny > peer.EchoAny.Ticks)
            {
                peer.EchoAny = TimeSpan.FromTicks(h.EchoAny);
            }

            if (h.EchoTime >= 0 && h.EchoTime > peer.LeaseEcho.Ticks && _installed is not null && h.EchoView == _installed.Id && IsMember(_installed, from))
            {
                peer.LeaseEcho = TimeSpan.FromTicks(h.EchoTime);
            }
        }

        if (_installed is not null && h.Installed == _installed.Id && IsMember(_installed, from))
        {
            if (!peer.Greeted && CanEcho(from, peer))
            {
                // The first heartbeat of a member in a new view: answer at once, so its lease starts
                // a round trip after the install instead of a heartbeat interval later.
                peer.Greeted = true;
                SendHeartbeat(from.Node);
            }
        }
        else if (_installed is not null && h.Accepted == _installed.Id && h.Installed < _installed.Id && IsMember(_installed, from) && _installed.Id.Coordinator == Self.Node)
        {
            Send(from.Node, new Install(_installed.Id)); // it missed the install
        }

        if ((h.Flags & HeartbeatFlags.Drained) != 0 && _installed is not null && !IsMember(_installed, from) && h.Installed < _installed.Id)
        {
            // Excluded, cleanly or (if it drained while cut off) not: either way it is out and may exit.
            Send(from.Node, new Farewell(_installed.Id));
        }
    }

    private void OnPropose(NodeIncarnation from, Peer peer, Propose p)
    {
        if (!p.ConfigHash.AsSpan().SequenceEqual(_configHash) || p.Id.Coordinator != from.Node || !p.Members.Contains(Self)
            || Phase is MembershipPhase.Drained or MembershipPhase.Left || p.ConfigVersion != _latest.ConfigVersion || !WellFormed(p))
        {
            return;
        }

        peer.LastHeard = _now;
        if (_accepted is { } current && current.Id == p.Id)
        {
            Send(from.Node, new Accept(p.Id)); // a retransmission: our accept was lost
            return;
        }

        if ((_accepted is { } older && p.Id <= older.Id) || p.Id <= _lastInstalled)
        {
            return;
        }

        if (DropsLiveLowerMember(from.Node, p))
        {
            return; // the lower member, still in this view with us, coordinates the merge (see the method)
        }

        _maxSeq = Math.Max(_maxSeq, p.Id.Seq);
        _accepted = p;
        _acceptedRules = _latest;
        _coordinating = null;
        Send(from.Node, new Accept(p.Id));
    }

    private void OnAccept(NodeIncarnation from, Accept accept)
    {
        if (_coordinating is not { } c || c.Proposal.Id != accept.Id || !c.Proposal.Members.Contains(from))
        {
            return;
        }

        c.Acked.Add(from);
        var complete = c.Acked.Count == c.Proposal.Members.Length;
        if (!complete && _mutant == MembershipMutant.InstallWithoutAllAcks)
        {
            complete = IsQuorum(c.Proposal.Id, [.. c.Acked]);
        }

        if (complete)
        {
            _coordinating = null;
            foreach (var member in c.Proposal.Members)
            {
                if (member != Self)
                {
                    Send(member.Node, new Install(c.Proposal.Id));
                }
            }

            DoInstall(c.Proposal);
        }
    }

    private void DoInstall(Propose proposal)
    {
        var previous = _installed;
        var view = new View(proposal.Id, proposal.Members, proposal.ConfigVersion);

        // Startup fencing. A (re)started incarnation has no previous view of its own, so departures are judged
        // against the last view its predecessor persisted: a member of it that is gone from this view without
        // leaving cleanly may sit in a partition still holding what it held, and no one else may remember it (every
        // node that knew it may have restarted too). Reported departed, it is fenced once this node is quorate —
        // unless it comes back into a view first (fencing forgets such a candidate), or it is this node's own
        // earlier incarnation. The first view's record keeps them, so a crash before fencing heard of them does not
        // forget them.
        NodeIncarnation[] startup = previous is null
            ? [.. _inherited.Where(m => m.Node != Self.Node && !view.Members.Contains(m) && !proposal.CleanLeavers.Contains(m))]
            : [];
        _inherited = [];
        _out.Add(new PersistRecord(RecordName, MembershipFrames.Encode(new StateRecord(_maxSeq, view.Id, _configHash, [.. proposal.Members, .. startup]))));
        _installed = view;
        _judge = _acceptedRules;
        _lastInstalled = view.Id;
        _reportedExpired = false;
        _selfEcho = Never;
        foreach (var peer in _peers.Values)
        {
            peer.LeaseEcho = Never;
            peer.Greeted = false;
        }

        if (Phase == MembershipPhase.Joining)
        {
            Phase = MembershipPhase.Member;
        }

        var before = previous?.Members ?? [];
        _out.Add(new PublishEvent(new ViewInstalled(
            view,
            ConfigHash,
            [.. view.Members.Where(m => !before.Contains(m))],
            [.. before.Where(m => !view.Members.Contains(m) && proposal.CleanLeavers.Contains(m))],
            [.. before.Where(m => !view.Members.Contains(m) && !proposal.CleanLeavers.Contains(m)), .. startup])));
        Decide();
        SendHeartbeats();
    }

    private void Decide()
    {
        var decision = AskPolicy(Context(_installed!));
        if (!decision.State.Span.SequenceEqual(_policyState.Span))
        {
            // What the policy asked to remember is durable before anything acts on the decision.
            _policyState = decision.State.ToArray();
            _out.Add(new PersistRecord(PolicyRecordName, _policyState));
        }

        _decision = decision;
        AwaitingDevice = decision.Verdict == QuorumVerdict.NotQuorate && _judge.Device is not null
            && AskPolicy(Context(_installed!, withDevice: true, assumeGranted: true)).Verdict == QuorumVerdict.Quorate;
        if (_deviceGrant is { } grant && grant.Holds(_installed!.Id, _now))
        {
            _out.Add(new SetTimer(DeviceTimer, grant.Until)); // decide again when the grant runs out
        }

        if (decision.ReevaluateAt is { } at)
        {
            _out.Add(new SetTimer(PolicyTimer, at));
        }
        else
        {
            _out.Add(new CancelTimer(PolicyTimer));
        }
    }

    private void Leave()
    {
        if (Phase is MembershipPhase.Joining or MembershipPhase.Member)
        {
            Phase = MembershipPhase.Leaving;
            _out.Add(new PublishEvent(Draining.Instance));
            SendHeartbeats();
        }
    }

    private void Drained()
    {
        if (Phase is not (MembershipPhase.Leaving or MembershipPhase.Joining or MembershipPhase.Member))
        {
            return;
        }

        Phase = MembershipPhase.Drained;
        _coordinating = null;
        PublishQuorum();
        if (_installed is null || _installed.Members.All(m => m == Self))
        {
            Phase = MembershipPhase.Left;
            _out.Add(new PublishEvent(new LeftCluster(null)));
            return;
        }

        SendHeartbeats();
    }

    /// <summary>After every input: report promises, change the view if needed, publish quorum changes.</summary>
    private void Evaluate()
    {
        if (Phase is not (MembershipPhase.Drained or MembershipPhase.Left))
        {
            ChangeViewIfNeeded();
        }
        else if (Phase == MembershipPhase.Drained && _installed is not null && _installed.Members.All(m => m == Self || IsDrained(m)))
        {
            // Every member drained: nobody is left to install a view excluding this node, and nobody
            // acts in this one.
            Phase = MembershipPhase.Left;
            PublishQuorum();
            _out.Add(new PublishEvent(new LeftCluster(null)));
            return;
        }

        if (_installed is not null && !_reportedExpired && PromisesExpired(_installed))
        {
            _reportedExpired = true;
            SendHeartbeats();
        }

        PublishQuorum();
    }

    private void ChangeViewIfNeeded()
    {
        var desired = Desired();
        if (desired.Length == 0 || desired[0] != Self)
        {
            return; // the lowest live node holding the newest version coordinates
        }

        if (_coordinating is { } c)
        {
            var fresh = _now - c.ProposedAt <= _latest.Options.FailureTimeout;
            if (fresh && c.Proposal.Members.SequenceEqual(desired) && c.Proposal.ConfigVersion == _latest.ConfigVersion)
            {
                return;
            }
        }
        else
        {
            var settled = _installed is not null
                && _installed.Members.SequenceEqual(desired)
                && _installed.ConfigVersion == _latest.ConfigVersion
                && _accepted?.Id == _installed.Id
                && !AnyMemberPending(_installed)
                && !DrainedOutsiderAhead(_installed);
            if (settled)
            {
                return;
            }
        }

        Propose(desired);
    }

    /// <summary>
    /// Whether <paramref name="p"/>, from <paramref name="proposer"/>, leaves out a member of this node's installed
    /// view (or of the proposal it accepted and awaits the install of) that has a lower id than the proposer, is not
    /// leaving cleanly, could be in it (listed by the proposal's rules and holding their version), and is alive here in
    /// that same view (heard within the failure timeout, its latest heartbeat naming that view as installed). Such a proposal comes from a coordinator
    /// that does not hear that member yet — typically as nodes start together and sessions open one by one — and
    /// accepting it would exclude a live node from a view that may become quorate, which makes it a victim to fence.
    /// The lower member hears this node, so it coordinates a view with the proposer as soon as it hears the proposer
    /// too; if it does not hear this node, it installs a view without it, its heartbeats name that view, and the
    /// proposal is accepted then. The tie-break by id keeps two coordinators each missing one of the other's members
    /// from being refused both.
    /// </summary>
    private bool DropsLiveLowerMember(NodeId proposer, Propose p)
    {
        return (_installed is { } view && Drops(view.Id, view.Members, installed: true)) || (_accepted is { } accepted && Drops(accepted.Id, accepted.Members, installed: false));

        bool Drops(ViewId shared, IReadOnlyList<NodeIncarnation> members, bool installed)
        {
            var timeout = _latest.Options.FailureTimeout;
            foreach (var member in members)
            {
                if (member == Self || member.Node >= proposer || p.CleanLeavers.Contains(member) || p.Members.Any(m => m.Node == member.Node))
                {
                    continue;
                }

                // Only a member that could be in the proposal: listed by its rules and holding their version.
                // The coordinator of the view this node installed holds it too, before its heartbeat says so: it
                // sent the install. (Nodes starting together: a member that installed a view from node 1 accepted,
                // a heartbeat later, a proposal from node 2 that dropped node 1, and fencing killed it.)
                if (PeerOf(member.Node) is { } peer && peer.Incarnation == member.Incarnation && peer.LastHeard >= _now - timeout
                    && (peer.InstalledView == shared || (installed && shared.Coordinator == member.Node)) && (peer.Flags & (HeartbeatFlags.Drained | HeartbeatFlags.Leaving)) == 0
                    && peer.ConfigVersion >= p.ConfigVersion && _latest.Nodes.Any(n => n.Id == member.Node))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Whether a live drained node outside <paramref name="view"/> holds a view no older: it
    /// waits for a newer view that excludes it (a Farewell names one), which only a new view gives it —
    /// as when a peer that restarted formed a view below the one the drained node had installed.</summary>
    private bool DrainedOutsiderAhead(View view)
    {
        var timeout = _latest.Options.FailureTimeout;
        foreach (var (id, peer) in _peers)
        {
            if (peer.Incarnation > 0
                && (peer.Flags & HeartbeatFlags.Drained) != 0
                && peer.LastHeard >= _now - timeout
                && peer.InstalledView >= view.Id
                && !view.Members.Any(m => m.Node.Value == id))
            {
                return true;
            }
        }

        return false;
    }

    private bool AnyMemberPending(View view)
    {
        foreach (var member in view.Members)
        {
            if (member != Self && PeerOf(member.Node) is { } peer && peer.Incarnation == member.Incarnation && peer.AcceptedView > view.Id)
            {
                return true;
            }
        }

        return false;
    }

    private void Propose(NodeIncarnation[] members)
    {
        var id = new ViewId(Math.Max(_maxSeq, Math.Max(_lastInstalled.Seq, _accepted?.Id.Seq ?? 0)) + 1, Self.Node);
        _maxSeq = id.Seq;
        var clean = _installed is null
            ? []
            : _installed.Members.Where(m => !members.Contains(m) && m != Self && PeerOf(m.Node) is { } p && p.Incarnation == m.Incarnation && (p.Flags & HeartbeatFlags.Drained) != 0).ToArray();
        var proposal = new Propose(id, _configHash, members, clean, _latest.ConfigVersion);

        // The sequence is durable before anyone hears of it, so no restart of ours reuses the id.
        _out.Add(new PersistRecord(RecordName, MembershipFrames.Encode(new StateRecord(_maxSeq, _lastInstalled, _configHash, _installed?.Members.ToArray() ?? _inherited))));
        _accepted = proposal;
        _acceptedRules = _latest;
        _coordinating = new Coordination(proposal, _now);
        _coordinating.Acked.Add(Self);
        foreach (var member in members)
        {
            if (member != Self)
            {
                Send(member.Node, proposal);
            }
        }

        if (members.Length == 1)
        {
            OnAccept(Self, new Accept(id));
        }
    }

    private void RetransmitProposal()
    {
        if (_coordinating is not { } c)
        {
            return;
        }

        foreach (var member in c.Proposal.Members)
        {
            if (!c.Acked.Contains(member))
            {
                Send(member.Node, c.Proposal);
            }
        }
    }

    /// <summary>
    /// This node and every peer of the newest rules that is alive both ways, not drained, and holds the
    /// same cluster document version, sorted by node id; empty when a live peer holds a newer version
    /// (this node catches up first) or the newest rules do not list this node.
    /// </summary>
    private NodeIncarnation[] Desired()
    {
        var nodes = _latest.Nodes;
        var desired = new List<NodeIncarnation>(nodes.Count);
        var timeout = _latest.Options.FailureTimeout;
        foreach (var node in nodes)
        {
            if (node.Id == Self.Node)
            {
                desired.Add(Self);
                continue;
            }

            var peer = _peers[node.Id.Value];
            var alive = peer.Incarnation > 0
                && peer.LastHeard >= _now - timeout
                && peer.EchoAny >= _now - timeout
                && (peer.Flags & HeartbeatFlags.Drained) == 0;
            if (alive && peer.ConfigVersion > _latest.ConfigVersion)
            {
                return [];
            }

            if (alive && peer.ConfigVersion == _latest.ConfigVersion)
            {
                desired.Add(new NodeIncarnation(node.Id, peer.Incarnation));
            }
        }

        return desired.Contains(Self) ? [.. desired] : [];
    }

    private void SendHeartbeats()
    {
        if (Phase == MembershipPhase.Left)
        {
            return;
        }

        foreach (var node in _recipients)
        {
            SendHeartbeat(node);
        }

        if (_installed is not null && _accepted?.Id == _installed.Id && Phase is not (MembershipPhase.Drained or MembershipPhase.Left))
        {
            _selfEcho = _now;
        }

        if (_nextHeartbeat <= _now)
        {
            _nextHeartbeat = _now + _latest.Options.HeartbeatInterval;
            _out.Add(new SetTimer(HeartbeatTimer, _nextHeartbeat));
        }
    }

    private void SendHeartbeat(NodeId node)
    {
        var peer = _peers[node.Value];
        var member = new NodeIncarnation(node, peer.Incarnation);
        var echoView = default(ViewId);
        var echoTime = -1L;
        // Each heartbeat is acknowledged once: echoing an old one again would renew the promise for
        // a lease it cannot extend (the lease counts from the heartbeat's send time), and so keep a
        // dead node's promise alive until the next view.
        if (peer.LastSendTime > peer.EchoedSendTime && CanEcho(member, peer))
        {
            peer.EchoedSendTime = peer.LastSendTime;
            echoView = _installed!.Id;
            echoTime = peer.LastSendTime;
            if (_mutant != MembershipMutant.NoPromise)
            {
                peer.PromiseUntil = _now + _judge.Options.PromiseHeld;
            }
        }

        var flags = Phase switch
        {
            MembershipPhase.Leaving => HeartbeatFlags.Leaving,
            MembershipPhase.Drained or MembershipPhase.Left => HeartbeatFlags.Drained,
            _ => HeartbeatFlags.None,
        };
        if (_reportedExpired)
        {
            flags |= HeartbeatFlags.PromisesExpired;
        }

        Send(node, new Heartbeat(
            _configHash,
            peer.Incarnation,
            _now.Ticks,
            _installed?.Id ?? default,
            _accepted?.Id ?? default,
            _maxSeq,
            peer.LastSendTime,
            echoView,
            echoTime,
            flags,
            _latest.ConfigVersion));
    }

    /// <summary>
    /// Whether this node may acknowledge <paramref name="member"/>'s heartbeats, which renews its lease
    /// and binds this node by a promise: only in a view both have installed, and only while this node
    /// has accepted no newer proposal.
    /// </summary>
    private bool CanEcho(NodeIncarnation member, Peer peer) =>
        _installed is not null
        && _accepted?.Id == _installed.Id
        && !Superseded(_installed)
        && Phase is not (MembershipPhase.Drained or MembershipPhase.Left)
        && peer.InstalledView == _installed.Id
        && (peer.Flags & HeartbeatFlags.Drained) == 0
        && IsMember(_installed, member);

    /// <summary>Whether every promise this node made to a node outside <paramref name="view"/> has expired.</summary>
    private bool PromisesExpired(View view)
    {
        // The promise of a start binds towards every node that may be outside; when every configured
        // node is in the view (a one-node cluster, say), there is nobody it could bind towards.
        var latest = view.Members.Count < _peers.Count + 1 ? _promiseAllUntil : Never;
        foreach (var (id, peer) in _peers)
        {
            if (peer.PromiseUntil > latest && !IsMember(view, new NodeIncarnation(new NodeId(id), peer.Incarnation)))
            {
                latest = peer.PromiseUntil;
            }
        }

        if (_now >= latest)
        {
            return true;
        }

        if (_promisesTimer != latest)
        {
            _promisesTimer = latest;
            _out.Add(new SetTimer(PromisesTimer, latest));
        }

        return false;
    }

    private TimeSpan? ComputeQuorateUntil(out string reason)
    {
        QuorumIsDual = false;
        if (Phase is MembershipPhase.Drained or MembershipPhase.Left)
        {
            reason = "drained: this node gave up quorum to leave";
            return null;
        }

        if (_installed is null || _decision is null)
        {
            reason = "no view installed yet";
            return null;
        }

        if (_decision.Verdict != QuorumVerdict.Quorate)
        {
            reason = _decision.Reason;
            return null;
        }

        if (Superseded(_installed))
        {
            reason = _latest.Nodes.Any(n => n.Id == Self.Node)
                ? $"view {_installed.Id} was judged under cluster document version {_installed.ConfigVersion}; version {PendingConfigVersion} is {(PendingConfigVersion > _latest.ConfigVersion ? "being committed" : "committed")}: waiting for a view under it"
                : $"cluster document version {_latest.ConfigVersion} does not list this node";
            return null;
        }

        if (_now < _holdUntil && _mutant != MembershipMutant.NoHoldDown)
        {
            reason = $"cluster document version {_holdFor} changed the quorum rules: waiting for leases granted under the version before to run out";
            return null;
        }

        // Quorums that declare dual quorum are used only when no other will do, and then the node's
        // quorum is dual as a whole: the lease and the promise reports may rest on such a quorum.
        if (QuorumFrom(allowDual: false, out reason) is { } strict)
        {
            QuorumIsDual = _decision.DualQuorum;
            return strict;
        }

        var dual = QuorumFrom(allowDual: true, out reason);
        QuorumIsDual = dual is not null;
        return dual;
    }

    /// <summary>The lease, when members holding a quorum reported their promises expired and a quorum
    /// acknowledged a heartbeat; with <paramref name="allowDual"/> false, counting only quorums that do
    /// not declare dual quorum.</summary>
    private TimeSpan? QuorumFrom(bool allowDual, out string reason)
    {
        var view = _installed!;
        var reporters = new List<NodeIncarnation>(view.Members.Count);
        foreach (var member in view.Members)
        {
            var reported = member == Self
                ? _reportedExpired
                : PeerOf(member.Node) is { } peer && peer.Incarnation == member.Incarnation && peer.ExpiredReportedFor == view.Id;
            if (reported)
            {
                reporters.Add(member);
            }
        }

        if (!IsQuorum(view.Id, [.. reporters], allowDual: allowDual))
        {
            reason = $"{_decision!.Reason}; waiting for members holding a quorum to report their promises to excluded nodes expired";
            return null;
        }

        if (_mutant == MembershipMutant.LeaseOff)
        {
            reason = _decision!.Reason;
            return TimeSpan.MaxValue;
        }

        // The lease the members earn by themselves, and the one they earn with the device's votes,
        // which ends no later than the device's grant.
        var leaseHeld = _judge.Options.LeaseHeld;
        TimeSpan? until = LeaseStart(view, withDevice: false, allowDual) is { } own ? own + leaseHeld : null;
        if (_deviceGrant is { } grant && DeviceHolds(view.Id) && LeaseStart(view, withDevice: true, allowDual) is { } helped)
        {
            var capped = _mutant == MembershipMutant.DeviceGrantNeverEnds ? helped + leaseHeld : Min(helped + leaseHeld, grant.Until);
            until = until is { } u ? Max(u, capped) : capped;
        }

        if (until is null)
        {
            reason = $"{_decision!.Reason}; no heartbeat acknowledged by a quorum yet";
            return null;
        }

        reason = _decision!.Reason;
        return until;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>t_s: the send time of this node's latest heartbeat acknowledged by members holding a quorum.</summary>
    private TimeSpan? LeaseStart(View view, bool withDevice, bool allowDual)
    {
        var echoes = new (TimeSpan At, NodeIncarnation Member)[view.Members.Count];
        for (var i = 0; i < echoes.Length; i++)
        {
            var member = view.Members[i];
            var echoed = member == Self
                ? _selfEcho
                : PeerOf(member.Node) is { } peer && peer.Incarnation == member.Incarnation ? peer.LeaseEcho : Never;
            echoes[i] = (echoed, member);
        }

        Array.Sort(echoes, (a, b) => b.At != a.At ? b.At.CompareTo(a.At) : a.Member.CompareTo(b.Member));

        // The smallest prefix (latest echoes first) that is a quorum; quorums are upward closed.
        int lo = 1, hi = echoes.Length;
        if (!IsQuorum(view.Id, [.. echoes.Select(e => e.Member)], withDevice, allowDual))
        {
            return null;
        }

        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (IsQuorum(view.Id, [.. echoes.Take(mid).Select(e => e.Member)], withDevice, allowDual))
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        var at = echoes[lo - 1].At;
        return at == Never ? null : at;
    }

    /// <summary>Judges quorum after an input (the result stands until the next one: between inputs
    /// only the clock moves, and it only ever ends a lease) and publishes a change — also quorate in a new
    /// view after quorate in the last one, since services judge quorum per view.</summary>
    private void PublishQuorum()
    {
        var until = ComputeQuorateUntil(out var reason);
        _quorateUntil = until;
        QuorumReason = reason;
        var quorate = until is { } u && _now < u;
        if (quorate != _publishedQuorate || (quorate && _installed?.Id != _publishedView))
        {
            _publishedQuorate = quorate;
            _publishedView = _installed?.Id;
            _out.Add(new PublishEvent(new QuorumChanged(quorate, _installed?.Id, quorate ? reason : (until is null ? reason : "the quorum lease ran out: no quorum acknowledged a heartbeat in time"))));
        }

        // Wake up when the lease would run out before the next heartbeat renews it.
        if (quorate && until < _nextHeartbeat && _leaseTimer != until)
        {
            _leaseTimer = until;
            _out.Add(new SetTimer(LeaseTimer, until!.Value));
        }
    }

    private bool IsQuorum(ViewId id, NodeIncarnation[] members, bool withDevice = true, bool allowDual = true)
    {
        if (members.Length == 0)
        {
            return false;
        }

        var decision = AskPolicy(Context(new View(id, members), withDevice));
        return decision.Verdict == QuorumVerdict.Quorate && (allowDual || !decision.DualQuorum);
    }

    /// <summary>The policy's decision; one that throws never makes the node quorate.</summary>
    private QuorumDecision AskPolicy(QuorumContext context)
    {
        try
        {
            return _judge.Policy.Decide(context);
        }
        catch (Exception ex)
        {
            return QuorumDecision.NotQuorate(context.ViewVotes, context.ConfiguredVotes, $"the quorum policy threw {ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>What the policy judges <paramref name="view"/> by; the device's votes count for it only
    /// when <paramref name="withDevice"/> and the device's latest grant holds for the view now.</summary>
    private QuorumContext Context(View view, bool withDevice = true, bool assumeGranted = false)
    {
        IReadOnlyList<QuorumDeviceVote> devices = _judge.Device is { } device
            ? [new QuorumDeviceVote(device.Name, device.Votes, withDevice && (assumeGranted || DeviceHolds(view.Id)), DeviceDetail(view.Id))]
            : [];
        return new(Self.Node, view, _judge.Nodes, _judge.Cluster, _now, _policyState, Self.Incarnation, devices);
    }

    /// <summary>Whether the device's latest grant gives its votes to <paramref name="view"/> now.</summary>
    private bool DeviceHolds(ViewId view) =>
        _deviceGrant is { } grant && (grant.Holds(view, _now) || (_mutant == MembershipMutant.DeviceGrantNeverEnds && grant.View == view));

    private string DeviceDetail(ViewId view) => _deviceGrant switch
    {
        null => "no report yet",
        { View: { } other } when other != view => $"its grant is for view {other}",
        { View: not null } grant when _now >= grant.Until => "its grant ran out",
        var grant => grant.Detail,
    };

    private void Send(NodeId to, object frame) =>
        _out.Add(new SendFrame(to, TransportLane.Membership, MembershipFrames.Encode(frame)));

    private Peer? PeerOf(NodeId node) => _peers.GetValueOrDefault(node.Value);

    /// <summary>Members configured in the newest rules, sorted, each node once; clean leavers known.</summary>
    private bool WellFormed(Propose p)
    {
        for (var i = 0; i < p.Members.Length; i++)
        {
            if (!_latest.Nodes.Any(n => n.Id == p.Members[i].Node) || p.Members[i].Incarnation < 1 || (i > 0 && p.Members[i].Node <= p.Members[i - 1].Node))
            {
                return false;
            }
        }

        return p.CleanLeavers.All(m => m.Node == Self.Node || _peers.ContainsKey(m.Node.Value));
    }

    /// <summary>Adopts a newer committed version's rules: views under it are proposed from the next
    /// evaluation on; if it judges quorum differently, quorum waits out the old rules' leases.</summary>
    private void Adopt(MembershipRules rules)
    {
        CheckNodes(rules, nameof(rules));
        if (rules.ConfigVersion <= _latest.ConfigVersion)
        {
            return;
        }

        if (!string.Equals(rules.QuorumRules, _latest.QuorumRules, StringComparison.Ordinal))
        {
            // A lease granted under the old rules rests on a heartbeat echoed before that echoer
            // accepted the new version, so before it committed: it ends within the old promise time.
            Hold(_latest.Options.PromiseHeld);
            _holdFor = rules.ConfigVersion;
        }

        _latest = rules;
        Know(rules);
        _recipients = Recipients();
    }

    /// <summary>No view is quorate here before <paramref name="length"/> from now.</summary>
    private void Hold(TimeSpan length)
    {
        if (_now + length > _holdUntil)
        {
            _holdUntil = _now + length;
            _holdFor = _latest.ConfigVersion;
            _out.Add(new SetTimer(HoldTimer, _holdUntil));
        }
    }

    /// <summary>Whether <paramref name="view"/> was judged under a version older than one this node holds
    /// or is about to acknowledge: it may act in it no more, and acknowledges nobody's heartbeats in it.</summary>
    private bool Superseded(View view) =>
        view.ConfigVersion < _latest.ConfigVersion
        || (view.ConfigVersion < _pending && _mutant != MembershipMutant.EchoWhileAccepting);

    /// <summary>Makes a peer entry for every node of <paramref name="rules"/>; entries of nodes it dropped
    /// stay, for the promises made to them.</summary>
    private void Know(MembershipRules rules)
    {
        foreach (var node in rules.Nodes)
        {
            if (node.Id != Self.Node)
            {
                _peers.TryAdd(node.Id.Value, new Peer());
            }
        }
    }

    /// <summary>Who gets heartbeats: every other node of any version adopted, so that a node a version
    /// dropped still hears of the newer versions (and learns it is out) and one it adds again catches up.</summary>
    private NodeId[] Recipients() => [.. _peers.Keys.Order().Select(id => new NodeId(id))];

    private static void CheckNodes(MembershipRules rules, string parameter)
    {
        foreach (var twice in rules.Nodes.GroupBy(n => n.Id.Value).Where(g => g.Count() > 1))
        {
            throw new ArgumentException($"node {twice.Key} is configured twice", parameter);
        }
    }

    /// <summary>Whether <paramref name="member"/> (that incarnation) announced it drained.</summary>
    private bool IsDrained(NodeIncarnation member) =>
        PeerOf(member.Node) is { } peer && peer.Incarnation == member.Incarnation && (peer.Flags & HeartbeatFlags.Drained) != 0;

    private static bool IsMember(View view, NodeIncarnation node)
    {
        foreach (var member in view.Members)
        {
            if (member == node)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>What this node knows of one peer (by node, for its latest incarnation).</summary>
    private sealed class Peer
    {
        public long Incarnation { get; private set; }

        public TimeSpan LastHeard { get; set; } = Never;

        /// <summary>The send time (its clock) of its latest heartbeat, or -1.</summary>
        public long LastSendTime { get; set; } = -1;

        /// <summary>The send time of the latest of its heartbeats this node acknowledged, or -1.</summary>
        public long EchoedSendTime { get; set; } = -1;

        public ViewId InstalledView { get; set; }

        public ViewId AcceptedView { get; set; }

        public HeartbeatFlags Flags { get; set; }

        public TimeSpan EchoAny { get; set; } = Never;

        public TimeSpan LeaseEcho { get; set; } = Never;

        public TimeSpan PromiseUntil { get; set; } = Never;

        public ViewId ExpiredReportedFor { get; set; }

        public bool Greeted { get; set; }

        public bool MismatchReported { get; set; }

        /// <summary>The newest cluster document version its heartbeats announced.</summary>
        public long ConfigVersion { get; set; }

        /// <summary>The newest version reported as <see cref="ConfigurationAhead"/>, and when.</summary>
        public long AheadReported { get; set; }

        public TimeSpan AheadReportedAt { get; set; } = Never;

        /// <summary>A newer incarnation: the old one is dead (its state directory lock says so), and
        /// everything known of it goes, promises included.</summary>
        public void Reset(long incarnation)
        {
            Incarnation = incarnation;
            LastHeard = Never;
            LastSendTime = -1;
            EchoedSendTime = -1;
            InstalledView = default;
            AcceptedView = default;
            Flags = HeartbeatFlags.None;
            EchoAny = Never;
            LeaseEcho = Never;
            PromiseUntil = Never;
            ExpiredReportedFor = default;
            Greeted = false;
            MismatchReported = false;
            ConfigVersion = 0;
            AheadReported = 0;
            AheadReportedAt = Never;
        }
    }

    private sealed class Coordination(Propose proposal, TimeSpan proposedAt)
    {
        public Propose Proposal { get; } = proposal;

        public TimeSpan ProposedAt { get; } = proposedAt;

        public HashSet<NodeIncarnation> Acked { get; } = [];
    }
}
