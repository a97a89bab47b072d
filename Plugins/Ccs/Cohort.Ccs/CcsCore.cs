using Cohort.ClusterConfiguration;
using Cohort.Cores;
using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Ccs;

/// <summary>Deliberately broken behaviours, for proving that the simulator's checker catches them.</summary>
public enum CcsMutant
{
    /// <summary>The correct core.</summary>
    None = 0,

    /// <summary>An acceptor acknowledges a version before fsyncing it (<c>ack-before-fsync</c>).</summary>
    AckBeforeFsync = 1,

    /// <summary>A node that accepted version N takes a commit of version N as a commit of what it
    /// accepted, without comparing the hashes (<c>number-only-compare</c>).</summary>
    NumberOnlyCompare = 2,
}

/// <summary>
/// The CCS protocol core: Paxos over a sequence of versions, with the view id as the ballot and the
/// view's coordinator as the only proposer under it. Each version needs its own accept quorum: members
/// holding a majority of the votes of the committed document, and of the proposed one. See docs/ccs.md
/// for the protocol and its safety argument.
/// </summary>
/// <remarks>
/// Durable state: the acceptor record (highest promised ballot, the accepted version) and the log record
/// (the version-1 hash and the last <see cref="ConfigCoreSetup.HistoryLength"/> committed versions).
/// A version counts as accepted by this node only after the acceptor record holding it is persisted.
/// </remarks>
public sealed class CcsCore : IConfigurationCore
{
    /// <summary>The acceptor record's name.</summary>
    public const string AcceptorRecord = "acceptor";

    /// <summary>The log record's name.</summary>
    public const string LogRecord = "log";

    private const string TickTimer = "ccs-tick";
    private const int MaxQueued = 64;
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan ResendAfter = TimeSpan.FromMilliseconds(600);

    private readonly ConfigCoreSetup _setup;
    private readonly CcsMutant _mutant;
    private readonly Dictionary<string, ConfigDocumentCheck> _checks = new(StringComparer.Ordinal);
    private readonly List<ConfigVersion> _history = [];
    private readonly SortedDictionary<NodeId, Promised> _promises = [];
    private readonly SortedSet<NodeId> _accepts = [];
    private readonly List<Queued> _queue = [];
    private readonly SortedDictionary<long, Pending> _pending = [];
    private readonly HashSet<(int Node, long Version)> _divergenceReported = [];
    private NodeIncarnation _self;
    private bool _started;
    private string? _genesis;
    private ViewId? _promised;
    private ConfigVersion? _accepted;
    private View? _view;
    private Phase _phase = Phase.Follower;
    private ConfigVersion? _proposal;
    private Queued? _proposalRequest;
    private TimeSpan _lastSend;
    private TimeSpan? _fetchedAt;

    /// <summary>The newest version a fetch since the last entries was sent for.</summary>
    private long _fetchedFor;
    private bool _tickSet;
    private long _rejected;

    /// <summary>Creates a core.</summary>
    public CcsCore(ConfigCoreSetup setup, CcsMutant mutant = CcsMutant.None)
    {
        ArgumentNullException.ThrowIfNull(setup);
        ArgumentOutOfRangeException.ThrowIfLessThan(setup.HistoryLength, 1);
        _setup = setup;
        _mutant = mutant;
    }

    private enum Phase
    {
        Follower,
        Preparing,
        Ready,
        Proposing,
        Blocked,
    }

    private ConfigVersion? Committed => _history.Count == 0 ? null : _history[^1];

    private long CommittedVersion => Committed?.Version ?? 0;

    private ulong Genesis => CcsCodec.GenesisPrefix(_genesis);

    /// <inheritdoc />
    public ConfigCoreStatus Status => new(
        CommittedVersion,
        Committed?.Sha256,
        _accepted is { } a && a.Version > CommittedVersion ? a.Version : null,
        _view?.Id.Coordinator,
        _phase.ToString().ToLowerInvariant(),
        _pending.Count,
        _rejected);

    /// <summary>Decodes persisted records (see <see cref="IConfigurationSystem.Load"/>).</summary>
    public static ConfigStoreContents Load(IReadOnlyDictionary<string, ReadOnlyMemory<byte>> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var (_, accepted) = records.TryGetValue(AcceptorRecord, out var acceptor)
            ? CcsCodec.ReadAcceptor(acceptor.Span, AcceptorRecord)
            : (null, null);
        var (genesis, history) = records.TryGetValue(LogRecord, out var log)
            ? CcsCodec.ReadLog(log.Span, LogRecord)
            : (null, []);
        var committed = history.Count == 0 ? null : history[^1];
        var inDoubt = accepted is not null && accepted.Version > (committed?.Version ?? 0) ? accepted : null;
        return new ConfigStoreContents(committed, inDoubt, history, genesis);
    }

    /// <summary>The records that make <paramref name="first"/> the committed document.</summary>
    public static IReadOnlyList<PersistRecord> Seed(ConfigVersion first)
    {
        ArgumentNullException.ThrowIfNull(first);
        return [new PersistRecord(LogRecord, CcsCodec.LogRecord(first.Sha256, [first]))];
    }

    /// <inheritdoc />
    public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(outputs);
        var step = new Step(now, outputs);
        switch (input)
        {
            case CoreStarted started:
                Start(started);
                break;
            case LocalRequest { Request: ConfigViewInstalled installed }:
                OnView(installed.View, step);
                break;
            case LocalRequest { Request: ConfigApply apply }:
                OnApply(apply, step);
                break;
            case LocalRequest { Request: ConfigCatchUp catchUp } when _started:
                if (catchUp.Version > CommittedVersion)
                {
                    Fetch(catchUp.Peer, step, target: catchUp.Version);
                }

                break;
            case FrameReceived { Lane: TransportLane.Data } frame when _started:
                OnFrame(frame.From, frame.Frame, step);
                break;
            case SessionReset:
                // Frames to the peer may be lost: the tick resends what is unanswered.
                break;
            case TimerFired { Name: TickTimer }:
                _tickSet = false;
                OnTick(step);
                break;
        }

        ArmTick(step);
    }

    private void Start(CoreStarted started)
    {
        _self = started.Self;
        if (started.Records.TryGetValue(AcceptorRecord, out var acceptor))
        {
            (_promised, _accepted) = CcsCodec.ReadAcceptor(acceptor.Span, AcceptorRecord);
        }

        if (started.Records.TryGetValue(LogRecord, out var log))
        {
            var (genesis, history) = CcsCodec.ReadLog(log.Span, LogRecord);
            _genesis = genesis;
            _history.AddRange(history);
        }

        _started = true;
    }

    // ---- views and the leader -------------------------------------------------------------------

    private void OnView(View view, Step step)
    {
        if (_view is { } old && view.Id <= old.Id)
        {
            return;
        }

        _view = view;
        DropProposal();
        _promises.Clear();
        _queue.RemoveAll(q => q.Origin != _self); // their origins forward them again to the new leader
        if (IsLeader)
        {
            StartPrepare(step);
        }
        else
        {
            _phase = Phase.Follower;
            _queue.Clear();
        }

        foreach (var pending in _pending.Values)
        {
            Route(pending, step);
        }
    }

    private bool IsLeader => _view is { } v && v.Id.Coordinator == _self.Node;

    private ViewId Ballot => _view!.Id;

    private void StartPrepare(Step step)
    {
        _phase = Phase.Preparing;
        _promises.Clear();
        if (_proposalRequest is { } interrupted)
        {
            _queue.Insert(0, interrupted); // judged again, against what is committed then
        }

        DropProposal();
        var frame = CcsCodec.Frame(CcsKind.Prepare, Genesis, Committed).Ballot(Ballot).ToArray();
        SendToMembers(frame, step);
        OnPrepare(_self.Node, Ballot, step);
    }

    private void OnPromise(NodeId from, ViewId ballot, long theirCommitted, ConfigVersion? accepted, Step step)
    {
        if (!IsLeader || ballot != Ballot || _phase is not (Phase.Preparing or Phase.Ready or Phase.Proposing))
        {
            return;
        }

        _promises[from] = new Promised(theirCommitted, accepted);
        if (_phase == Phase.Preparing)
        {
            TryFinishPrepare(step);
        }
        else if (_phase == Phase.Ready && accepted is { } late && late.Version == CommittedVersion + 1)
        {
            // A promise that came after a majority's: what it accepted at the next version may be the
            // only trace of a change in doubt, and that member stays out of quorum until it is decided.
            // Once phase 1 is done any value may be proposed: finish this one.
            Propose(late with { Ballot = Ballot }, request: null, step);
        }
    }

    /// <summary>Members of the view the leader has no promise from under its ballot.</summary>
    private IEnumerable<NodeId> Unpromised => _view!.Members.Select(m => m.Node).Where(n => n != _self.Node && !_promises.ContainsKey(n));

    private void TryFinishPrepare(Step step)
    {
        if (Committed is not { } committed || _promises.Values.Any(p => p.Committed > committed.Version))
        {
            return; // behind a member: fetch first (the frame that told us started it), then prepare again
        }

        if (!HasMajority(committed, _promises.Keys))
        {
            return;
        }

        // Finish whatever may have committed at the next version: the value accepted under the highest ballot.
        var inDoubt = _promises.Values
            .Select(p => p.Accepted)
            .Where(a => a is not null && a.Version == committed.Version + 1)
            .OrderByDescending(a => a!.Ballot)
            .FirstOrDefault();
        if (inDoubt is not null)
        {
            Propose(inDoubt with { Ballot = Ballot }, request: null, step);
            return;
        }

        _phase = Phase.Ready;
        ProposeNext(step);
    }

    private void OnNack(ViewId ballot, ViewId promised)
    {
        if (IsLeader && ballot == Ballot && promised > Ballot && _phase is Phase.Preparing or Phase.Proposing)
        {
            _phase = Phase.Blocked; // a higher view exists: nothing more under this ballot
            DropProposal();
        }
    }

    private void ProposeNext(Step step)
    {
        while (_phase == Phase.Ready && _queue.Count > 0)
        {
            var next = _queue[0];
            _queue.RemoveAt(0);
            var committed = Committed!;
            if (FindCommitted(next.Origin, next.RequestId) is { } done)
            {
                Answer(next, ConfigApplyOutcome.Committed, done.Version, null, "committed", step);
            }
            else if (next.Expected is { } expected && expected != committed.Version)
            {
                Answer(next, ConfigApplyOutcome.Conflict, committed.Version, committed.Origin.Node,
                    $"expected version {expected}, but version {committed.Version} is committed (proposed by node {committed.Origin.Node})", step);
            }
            else if (Check(next.Document) is { IsValid: false } check)
            {
                Answer(next, ConfigApplyOutcome.Invalid, 0, null, string.Join("; ", check.Problems), step);
            }
            else if (CcsHash.Of(next.Document.Span) == committed.Sha256)
            {
                Answer(next, ConfigApplyOutcome.Committed, committed.Version, null, "unchanged: the document is the committed one", step);
            }
            else if (!Majority(Check(next.Document).Nodes, _view!.Members.Select(m => m.Node)))
            {
                // Its accept quorum could only form with nodes outside the view; meanwhile the members
                // that accepted it would wait, out of quorum (docs/ccs.md, "Effect").
                Answer(next, ConfigApplyOutcome.Invalid, 0, null,
                    $"nodes holding a majority of the new document's votes must be members of the current view ({string.Join(", ", _view.Members.Select(m => m.Node.Value))}); add or re-vote nodes a few at a time", step);
            }
            else
            {
                var sha = CcsHash.Of(next.Document.Span);
                Propose(new ConfigVersion(committed.Version + 1, next.Document, sha, Ballot, next.Origin, next.RequestId, next.ProposedAt), next, step);
            }
        }
    }

    /// <param name="entry">The version to propose.</param>
    /// <param name="request">The request it comes from; null when finishing a version left in doubt.</param>
    /// <param name="step">The step.</param>
    private void Propose(ConfigVersion entry, Queued? request, Step step)
    {
        _phase = Phase.Proposing;
        _proposal = entry;
        _proposalRequest = request;
        _accepts.Clear();
        var frame = CcsCodec.Frame(CcsKind.Accept, Genesis, Committed).Ballot(Ballot).Entry(entry).ToArray();
        SendToMembers(frame, step); // before our own fsync: the members' fsyncs run alongside it
        OnAccept(_self.Node, Ballot, entry, step);
    }

    private void OnAccepted(NodeId from, ViewId ballot, long version, string sha, Step step)
    {
        if (_phase != Phase.Proposing || ballot != Ballot || _proposal is not { } proposal
            || proposal.Version != version || proposal.Sha256 != sha || proposal.Version != CommittedVersion + 1)
        {
            return;
        }

        _accepts.Add(from);
        if (!HasMajority(Committed!, _accepts) || !HasMajority(proposal, _accepts))
        {
            return;
        }

        var before = Committed!;
        SendToMembers(CcsCodec.Frame(CcsKind.Commit, Genesis, proposal).I64(proposal.Version).Hash(proposal.Sha256).ToArray(), step);
        Commit([proposal], step);
        DropProposal();
        if (SameVotes(before, proposal))
        {
            _phase = Phase.Ready;
            ProposeNext(step);
        }
        else
        {
            StartPrepare(step); // the majority changed with the document: promises of the new one first
        }
    }

    // ---- the acceptor -------------------------------------------------------------------------

    private void OnPrepare(NodeId from, ViewId ballot, Step step)
    {
        if (_promised is { } promised && ballot < promised)
        {
            Reply(from, CcsCodec.Frame(CcsKind.Nack, Genesis, Committed).Ballot(ballot).Ballot(promised).ToArray(), step);
            return;
        }

        if (_promised != ballot)
        {
            _promised = ballot;
            PersistAcceptor(step);
        }

        var accepted = _accepted is { } a && a.Version > CommittedVersion ? a : null;
        if (from == _self.Node)
        {
            OnPromise(from, ballot, CommittedVersion, accepted, step);
        }
        else
        {
            step.Send(from, CcsCodec.Frame(CcsKind.Promise, Genesis, Committed).Ballot(ballot).OptionalEntry(accepted).ToArray());
        }
    }

    private void OnAccept(NodeId from, ViewId ballot, ConfigVersion entry, Step step)
    {
        if (_promised is { } promised && ballot < promised)
        {
            Reply(from, CcsCodec.Frame(CcsKind.Nack, Genesis, Committed).Ballot(ballot).Ballot(promised).ToArray(), step);
            return;
        }

        if (entry.Version <= CommittedVersion)
        {
            if (HashAt(entry.Version) == entry.Sha256)
            {
                Acknowledge(from, ballot, entry, step);
            }

            return; // the leader is behind; our header tells it, and it fetches
        }

        if (entry.Version > CommittedVersion + 1 || Check(entry.Document, entry.Sha256) is { IsValid: false })
        {
            return; // behind the leader (the header started a fetch) or a document this node cannot accept
        }

        // Membership stops acting in views under older versions before this acknowledgement leaves.
        step.Outputs.Add(new PublishEvent(new ConfigAccepting(entry.Version, entry.Document)));
        _promised = ballot;
        _accepted = entry;
        if (_mutant == CcsMutant.AckBeforeFsync)
        {
            Acknowledge(from, ballot, entry, step);
            PersistAcceptor(step);
            return;
        }

        PersistAcceptor(step);
        Acknowledge(from, ballot, entry, step);
    }

    private void Acknowledge(NodeId to, ViewId ballot, ConfigVersion entry, Step step)
    {
        if (to == _self.Node)
        {
            OnAccepted(to, ballot, entry.Version, entry.Sha256, step);
        }
        else
        {
            step.Send(to, CcsCodec.Frame(CcsKind.Accepted, Genesis, Committed).Ballot(ballot).I64(entry.Version).Hash(entry.Sha256).ToArray());
        }
    }

    private void OnCommit(NodeId from, long version, string sha, Step step)
    {
        if (version != CommittedVersion + 1 || _accepted is not { } accepted || accepted.Version != version)
        {
            return; // behind by more, or never accepted it: the header started a fetch
        }

        if (accepted.Sha256 == sha || _mutant == CcsMutant.NumberOnlyCompare)
        {
            Commit([accepted], step);
            if (IsLeader && _phase is Phase.Preparing or Phase.Ready or Phase.Proposing)
            {
                StartPrepare(step); // another leader decided the version this one was working on
            }
        }
        else
        {
            Fetch(from, step, force: true); // we accepted another document under that number: it lost
        }
    }

    // ---- catching up ----------------------------------------------------------------------------

    /// <summary>Asks <paramref name="from"/> for the versions after ours. Resent at most every
    /// <see cref="ResendAfter"/>, unless forced or asked for a version newer than the last fetch was for
    /// (a node that just learned of one catches up at once, not after the last fetch's timeout).</summary>
    private void Fetch(NodeId from, Step step, bool force = false, long target = 0)
    {
        if (!force && _fetchedAt is { } at && step.Now - at < ResendAfter && target <= _fetchedFor)
        {
            return;
        }

        _fetchedAt = step.Now;
        _fetchedFor = Math.Max(_fetchedFor, target);
        step.Send(from, CcsCodec.Frame(CcsKind.Fetch, Genesis, Committed).I64(CommittedVersion).ToArray());
    }

    private void OnFetch(NodeId from, long have, Step step)
    {
        var newer = _history.Where(e => e.Version > have).ToList();
        if (newer.Count == 0)
        {
            return;
        }

        // Keep the reply within one frame: the newest versions first; a node may skip versions.
        var size = 0;
        var start = newer.Count;
        while (start > 0 && (size += newer[start - 1].Document.Length + 128) < TransportLimits.MaxFrameBytes - 4096)
        {
            start--;
        }

        var frame = CcsCodec.Frame(CcsKind.Entries, Genesis, Committed).I32(newer.Count - start);
        foreach (var entry in newer.Skip(start))
        {
            frame.Entry(entry);
        }

        // The whole genesis hash last: a node that joins holds no version 1 to learn it from.
        step.Send(from, frame.Hash(_genesis ?? CcsCodec.NoHash).ToArray());
    }

    private void OnEntries(List<ConfigVersion> entries, string? genesis, Step step)
    {
        // A committed node's log holds only committed versions: adopt those after ours (and drop what we
        // accepted under one of their numbers, unless it is the same document).
        var newer = entries.Where(e => e.Version > CommittedVersion).OrderBy(e => e.Version).ToList();
        if (_mutant == CcsMutant.NumberOnlyCompare && _accepted is { } accepted && newer.FindIndex(e => e.Version == accepted.Version) is var i and >= 0)
        {
            newer[i] = accepted;
        }

        if (newer.Count == 0)
        {
            return;
        }

        _fetchedAt = null;
        if (_genesis is null && genesis is not null && genesis != CcsCodec.NoHash)
        {
            _genesis = genesis; // a joining node: the cluster's identity comes with its first versions
        }

        Commit(newer, step);
        if (IsLeader && _phase is Phase.Preparing or Phase.Ready or Phase.Proposing)
        {
            StartPrepare(step); // what we proposed or were told was decided against an older version
        }
    }

    // ---- committing -----------------------------------------------------------------------------

    /// <summary>Makes <paramref name="entries"/> (ascending, after the committed version) committed here:
    /// the event first (the documents are durable already, in the acceptor record or the sender's log),
    /// then the history record.</summary>
    private void Commit(IReadOnlyList<ConfigVersion> entries, Step step)
    {
        foreach (var entry in entries)
        {
            _history.Add(entry);
            _genesis ??= entry.Version == 1 ? entry.Sha256 : null;
            step.Outputs.Add(new PublishEvent(new ConfigCommitted(entry)));
            if (entry.Origin == _self && _pending.Remove(entry.RequestId))
            {
                step.Outputs.Add(new PublishEvent(new ConfigApplyCompleted(entry.RequestId, ConfigApplyOutcome.Committed, entry.Version, null, "committed")));
            }
        }

        while (_history.Count > _setup.HistoryLength)
        {
            _history.RemoveAt(0);
        }

        if (_accepted is { } accepted && accepted.Version <= CommittedVersion)
        {
            _accepted = null; // decided: whatever this node accepted under that number is settled
        }

        step.Outputs.Add(new PersistRecord(LogRecord, CcsCodec.LogRecord(_genesis, _history)));
    }

    // ---- requests -------------------------------------------------------------------------------

    private void OnApply(ConfigApply apply, Step step)
    {
        if (Check(apply.Document) is { IsValid: false } check)
        {
            step.Outputs.Add(new PublishEvent(new ConfigApplyCompleted(apply.Token, ConfigApplyOutcome.Invalid, 0, null, string.Join("; ", check.Problems))));
            return;
        }

        if (apply.Document.Length > CcsCodec.MaxDocumentBytes)
        {
            step.Outputs.Add(new PublishEvent(new ConfigApplyCompleted(apply.Token, ConfigApplyOutcome.Invalid, 0, null,
                $"the document is {apply.Document.Length} bytes; at most {CcsCodec.MaxDocumentBytes} are accepted")));
            return;
        }

        if (_pending.ContainsKey(apply.Token))
        {
            throw new InvalidOperationException($"request token {apply.Token} is in use");
        }

        var pending = new Pending(apply.Token, apply.Document, apply.ExpectedVersion, apply.ProposedAt, step.Now + _setup.ApplyTimeout);
        _pending[apply.Token] = pending;
        Route(pending, step);
    }

    private void Route(Pending pending, Step step)
    {
        pending.SentAt = step.Now;
        if (_view is null)
        {
            return;
        }

        if (IsLeader)
        {
            Enqueue(new Queued(_self, pending.Token, pending.Document, pending.Expected, pending.ProposedAt), step);
            return;
        }

        var frame = CcsCodec.Frame(CcsKind.Forward, Genesis, Committed).I64(_self.Incarnation).I64(pending.Token)
            .I64(pending.Expected ?? -1).I64(pending.ProposedAt.ToUnixTimeMilliseconds()).Blob(pending.Document.Span);
        step.Send(_view.Id.Coordinator, frame.ToArray());
    }

    private void Enqueue(Queued request, Step step)
    {
        if (_proposal is { } p && p.Origin == request.Origin && p.RequestId == request.RequestId
            || _queue.Any(q => q.Origin == request.Origin && q.RequestId == request.RequestId))
        {
            return; // a resend of a request already here
        }

        if (FindCommitted(request.Origin, request.RequestId) is { } done)
        {
            Answer(request, ConfigApplyOutcome.Committed, done.Version, null, "committed", step);
            return;
        }

        if (_queue.Count >= MaxQueued)
        {
            Answer(request, ConfigApplyOutcome.OutcomeUnknown, 0, null, $"the leader has {MaxQueued} requests queued; not proposed", step);
            return;
        }

        _queue.Add(request);
        ProposeNext(step);
    }

    private void Answer(Queued request, ConfigApplyOutcome outcome, long version, NodeId? winner, string detail, Step step)
    {
        if (request.Origin == _self)
        {
            if (_pending.Remove(request.RequestId))
            {
                step.Outputs.Add(new PublishEvent(new ConfigApplyCompleted(request.RequestId, outcome, version, winner, detail)));
            }

            return;
        }

        var frame = CcsCodec.Frame(CcsKind.Result, Genesis, Committed).I64(request.Origin.Incarnation).I64(request.RequestId)
            .U8((byte)outcome).I64(version).I32(winner?.Value ?? 0).Blob(System.Text.Encoding.UTF8.GetBytes(detail));
        step.Send(request.Origin.Node, frame.ToArray(), request.Origin.Incarnation);
    }

    private void OnResult(long incarnation, long token, ConfigApplyOutcome outcome, long version, NodeId? winner, string detail, Step step)
    {
        if (incarnation != _self.Incarnation || !_pending.TryGetValue(token, out _))
        {
            return;
        }

        _pending.Remove(token);
        step.Outputs.Add(new PublishEvent(new ConfigApplyCompleted(token, outcome, version, winner, detail)));
    }

    // ---- the tick -------------------------------------------------------------------------------

    private void OnTick(Step step)
    {
        foreach (var expired in _pending.Values.Where(p => p.Deadline <= step.Now).ToList())
        {
            _pending.Remove(expired.Token);
            _queue.RemoveAll(q => q.Origin == _self && q.RequestId == expired.Token);
            step.Outputs.Add(new PublishEvent(new ConfigApplyCompleted(expired.Token, ConfigApplyOutcome.OutcomeUnknown, 0, null,
                $"no outcome within {_setup.ApplyTimeout.TotalSeconds:0.#} s (no leader with a majority reachable?): the change may still commit; check `cohort config show`")));
        }

        foreach (var pending in _pending.Values.Where(p => !IsLeader && step.Now - p.SentAt >= ResendAfter))
        {
            Route(pending, step);
        }

        if (!IsLeader || step.Now - _lastSend < ResendAfter)
        {
            return;
        }

        // Sessions lose frames only at a reset; resending the unanswered is cheap and idempotent.
        if (_phase == Phase.Preparing)
        {
            var frame = CcsCodec.Frame(CcsKind.Prepare, Genesis, Committed).Ballot(Ballot).ToArray();
            SendToMembers(frame, step, skip: _promises.Keys);
        }
        else if (_phase == Phase.Proposing && _proposal is { } proposal)
        {
            var frame = CcsCodec.Frame(CcsKind.Accept, Genesis, Committed).Ballot(Ballot).Entry(proposal).ToArray();
            SendToMembers(frame, step, skip: _accepts);
        }
        else if (_phase == Phase.Ready && Unpromised.Any())
        {
            // Until every member promised: a late promise may carry a change in doubt (see OnPromise).
            var frame = CcsCodec.Frame(CcsKind.Prepare, Genesis, Committed).Ballot(Ballot).ToArray();
            SendToMembers(frame, step, skip: _promises.Keys);
        }
    }

    private void ArmTick(Step step)
    {
        var busy = _pending.Count > 0 || (IsLeader && (_phase is Phase.Preparing or Phase.Proposing || (_phase == Phase.Ready && Unpromised.Any())));
        if (busy && !_tickSet)
        {
            _tickSet = true;
            step.Outputs.Add(new SetTimer(TickTimer, step.Now + Tick));
        }
    }

    // ---- frames ---------------------------------------------------------------------------------

    private void OnFrame(NodeIncarnation from, ReadOnlyMemory<byte> bytes, Step step)
    {
        try
        {
            var reader = new WireReader(bytes.Span);
            if (CcsCodec.Header(ref reader) is not { } header)
            {
                return;
            }

            if (header.Genesis != 0 && _genesis is not null && header.Genesis != Genesis)
            {
                _rejected++;
                return; // another cluster's document: membership refuses the peer too
            }

            switch (header.Kind)
            {
                case CcsKind.Prepare:
                    OnPrepare(from.Node, reader.Ballot(), step);
                    break;
                case CcsKind.Promise:
                    OnPromise(from.Node, reader.Ballot(), header.Committed, reader.OptionalEntry(), step);
                    break;
                case CcsKind.Nack:
                    OnNack(reader.Ballot(), reader.Ballot());
                    break;
                case CcsKind.Accept:
                    OnAccept(from.Node, reader.Ballot(), reader.Entry(), step);
                    break;
                case CcsKind.Accepted:
                    OnAccepted(from.Node, reader.Ballot(), reader.I64(), reader.Hash(), step);
                    break;
                case CcsKind.Commit:
                    OnCommit(from.Node, reader.I64(), reader.Hash(), step);
                    break;
                case CcsKind.Fetch:
                    OnFetch(from.Node, reader.I64(), step);
                    break;
                case CcsKind.Entries:
                    var count = reader.I32();
                    var entries = new List<ConfigVersion>();
                    for (var i = 0; i < count; i++)
                    {
                        entries.Add(reader.Entry());
                    }

                    OnEntries(entries, reader.AtEnd ? null : reader.Hash(), step);
                    break;
                case CcsKind.Forward:
                    var origin = new NodeIncarnation(from.Node, reader.I64());
                    var token = reader.I64();
                    var expected = reader.I64();
                    var at = DateTimeOffset.FromUnixTimeMilliseconds(reader.I64());
                    var document = reader.Blob();
                    if (IsLeader)
                    {
                        Enqueue(new Queued(origin, token, document, expected < 0 ? null : expected, at), step);
                    }

                    break;
                case CcsKind.Result:
                    var incarnation = reader.I64();
                    var id = reader.I64();
                    var outcome = (ConfigApplyOutcome)reader.U8();
                    var version = reader.I64();
                    var winner = reader.I32();
                    var detail = System.Text.Encoding.UTF8.GetString(reader.Blob());
                    OnResult(incarnation, id, outcome, version, winner == 0 ? null : new NodeId(winner), detail, step);
                    break;
            }

            Compare(from.Node, header, step);
        }
        catch (InvalidDataException)
        {
            _rejected++;
        }
    }

    /// <summary>What every frame's header tells: the sender is ahead (fetch), or holds another document
    /// under a version we committed (report).</summary>
    private void Compare(NodeId from, CcsHeader header, Step step)
    {
        if (header.Committed > CommittedVersion)
        {
            Fetch(from, step, target: header.Committed);
        }
        else if (header.Committed > 0 && HashAt(header.Committed) is { } mine && mine != header.CommittedSha
            && _divergenceReported.Add((from.Value, header.Committed)))
        {
            step.Outputs.Add(new PublishEvent(new ConfigDiverged(from, header.Committed, mine, header.CommittedSha)));
        }
    }

    // ---- helpers --------------------------------------------------------------------------------

    private void Reply(NodeId to, byte[] frame, Step step)
    {
        if (to != _self.Node)
        {
            step.Send(to, frame);
        }
        else
        {
            var reader = new WireReader(frame);
            _ = CcsCodec.Header(ref reader);
            OnNack(reader.Ballot(), reader.Ballot());
        }
    }

    private void SendToMembers(byte[] frame, Step step, IEnumerable<NodeId>? skip = null)
    {
        _lastSend = step.Now;
        var skipped = skip?.ToHashSet() ?? [];
        foreach (var member in _view!.Members)
        {
            if (member.Node != _self.Node && !skipped.Contains(member.Node))
            {
                step.Send(member.Node, frame, member.Incarnation);
            }
        }
    }

    private void DropProposal()
    {
        _proposal = null;
        _proposalRequest = null;
        _accepts.Clear();
    }

    private void PersistAcceptor(Step step) =>
        step.Outputs.Add(new PersistRecord(AcceptorRecord, CcsCodec.AcceptorRecord(_promised, _accepted)));

    private string? HashAt(long version) => _history.FirstOrDefault(e => e.Version == version)?.Sha256;

    private ConfigVersion? FindCommitted(NodeIncarnation origin, long requestId) =>
        _history.LastOrDefault(e => e.Origin == origin && e.RequestId == requestId && e.Version > 1);

    /// <summary>The inspector's verdict on a document, computed once per document (by hash): a proposal is
    /// judged by its origin, its leader and every acceptor, and its votes are read at every count.</summary>
    private ConfigDocumentCheck Check(ReadOnlyMemory<byte> document, string? sha256 = null)
    {
        sha256 ??= CcsHash.Of(document.Span);
        if (_checks.TryGetValue(sha256, out var known))
        {
            return known;
        }

        var check = _setup.Inspect(document);
        if (check.IsValid && check.Nodes.Sum(n => (long)n.Votes) == 0)
        {
            check = check with { Problems = ["$.Nodes: expected at least one node with votes above 0"] };
        }

        if (_checks.Count >= 64)
        {
            _checks.Clear();
        }

        _checks[sha256] = check;
        return check;
    }

    private IReadOnlyList<ClusterNode> VotesOf(ConfigVersion version) => Check(version.Document, version.Sha256).Nodes;

    private bool HasMajority(ConfigVersion document, IEnumerable<NodeId> nodes) => Majority(VotesOf(document), nodes);

    private static bool Majority(IReadOnlyList<ClusterNode> votes, IEnumerable<NodeId> nodes)
    {
        var set = nodes.ToHashSet();
        long total = 0, held = 0;
        foreach (var node in votes)
        {
            total += node.Votes;
            held += set.Contains(node.Id) ? node.Votes : 0;
        }

        return 2 * held > total;
    }

    private bool SameVotes(ConfigVersion a, ConfigVersion b) =>
        VotesOf(a).Where(n => n.Votes > 0).Select(n => (n.Id, n.Votes)).SequenceEqual(VotesOf(b).Where(n => n.Votes > 0).Select(n => (n.Id, n.Votes)));

    private readonly record struct Step(TimeSpan Now, ICollection<CoreOutput> Outputs)
    {
        public void Send(NodeId to, byte[] frame, long incarnation = 0) =>
            Outputs.Add(new SendFrame(to, TransportLane.Data, frame, incarnation));
    }

    private sealed record Promised(long Committed, ConfigVersion? Accepted);

    private sealed record Queued(NodeIncarnation Origin, long RequestId, ReadOnlyMemory<byte> Document, long? Expected, DateTimeOffset ProposedAt);

    private sealed record Pending(long Token, ReadOnlyMemory<byte> Document, long? Expected, DateTimeOffset ProposedAt, TimeSpan Deadline)
    {
        public TimeSpan SentAt { get; set; }
    }
}
