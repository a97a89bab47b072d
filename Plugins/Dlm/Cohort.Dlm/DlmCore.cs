using Cohort.Cores;
using Cohort.Dlm.Engine;
using Cohort.Locking;
using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Dlm;

/// <summary>
/// The DLM protocol core: lockspaces of resources, each mastered by the first node to ask its directory node
/// (XxHash32 of the name over the lockspace's members), with the master's queues run by <see cref="LockEngine"/>.
/// A locally mastered request sends no message; a remote one costs one round trip. Every membership change of a
/// lockspace runs its recovery (<c>DlmCore.Recovery.cs</c>): six phases, each closed by an all-to-all barrier.
/// See docs/dlm.md.
/// </summary>
/// <remarks>
/// Persists nothing: a lock dies with the incarnation that holds it, and a restarted node joins afresh.
/// </remarks>
public sealed partial class DlmCore : ILockManagerCore
{
    private const string TossTimer = "dlm-toss";
    private const string RepairTimer = "dlm-repair";

    /// <summary>How long after a session reset a lockspace that is not running repairs it.</summary>
    private static readonly TimeSpan RepairDelay = TimeSpan.FromMilliseconds(50);
    private const int MaxNameBytes = 64;

    private readonly LockManagerSetup _setup;

    /// <summary>A digest of the directory weights, compared in hellos: members must place resources alike.</summary>
    private readonly uint _placement;
    private readonly DlmMutant _mutant;
    private readonly List<Lockspace> _lockspaces = [];
    private readonly Dictionary<uint, Lockspace> _byGlobalId = [];
    private readonly HashSet<NodeIncarnation> _gatesOpen = [];
    private readonly HashSet<NodeIncarnation> _gatesAsked = [];

    /// <summary>Every incarnation membership reported departed whose gate is not known open and that no view has
    /// brought back (in it or a later incarnation); ordered, since its gates are asked for in order.</summary>
    private readonly SortedSet<NodeIncarnation> _departed = [];
    private readonly FrameWriter _writer = new();
    private NodeIncarnation _self;
    private int _selfId;
    private View? _view;
    private bool _quorate;
    private bool _tossSet;
    private bool _repairSet;
    private int _nextLockspaceId;
    private TimeSpan _now;
    private ICollection<CoreOutput> _outputs = [];

    /// <summary>Creates a core.</summary>
    public DlmCore(LockManagerSetup setup, DlmMutant mutant = DlmMutant.None)
    {
        ArgumentNullException.ThrowIfNull(setup);
        _setup = setup;
        _mutant = mutant;
        _placement = DirectoryHash.Placement(setup.DirectoryWeights);
    }

    /// <inheritdoc />
    public DlmCoreStatus Status => new([.. _lockspaces.Select(ls => new DlmLockspaceStatus(
        ls.Name, ls.Id, ls.Running && !ls.Frozen ? DlmRecoveryPhase.Running : ls.Phase, ls.Seq, ls.RunMembers,
        ls.Resources.Count, ls.Mastered, ls.Locks.Count, ls.Rejected))]);

    /// <inheritdoc />
    public DlmLockspaceDump? Dump(string lockspace, int limit)
    {
        if (_lockspaces.FirstOrDefault(l => l.Name == lockspace) is not { } ls)
        {
            return null;
        }

        var owned = ls.Locks.Where(l => !l.Released).ToLookup(l => l.Resource); // a released unlock is its client's no more
        var resources = ls.Resources.OrderBy(r => r.Name, NameOrder.Instance).Take(Math.Max(0, limit)).Select(rsb =>
        {
            var here = rsb.Master == _selfId;
            List<DlmLockDump> granted = [], converting = [], waiting = [];
            if (here)
            {
                Queue(rsb.Granted, granted);
                Queue(rsb.Converting, converting);
                Queue(rsb.Waiting, waiting);
            }
            else
            {
                foreach (var lkb in owned[rsb].OrderBy(l => l.Id))
                {
                    var list = lkb.Pending switch { PendingOp.Lock => waiting, PendingOp.Convert => converting, _ => granted };
                    list.Add(LockOf(lkb, lkb.Pending is PendingOp.Lock or PendingOp.Convert ? lkb.PendingMode : null));
                }
            }

            var token = here && rsb.TokenCounter > 0 ? new FencingToken(rsb.EpochViewSeq, rsb.EpochRecovery, rsb.TokenCounter) : FencingToken.None;
            return new DlmResourceDump(rsb.Name.ToArray(), rsb.Master, ls.Ring.Length == 0 ? 0 : DirectoryHash.Node(rsb.Hash, ls.Ring), here,
                granted, converting, waiting, here ? rsb.ValueSeq : 0, here && rsb.ValueNotValid, token);
        }).ToList();
        return new DlmLockspaceDump(ls.Name, resources, ls.Resources.Count);

        void Queue(LkbList queue, List<DlmLockDump> into)
        {
            for (var lkb = queue.Head; lkb is not null; lkb = lkb.Next)
            {
                into.Add(LockOf(lkb, lkb.RequestedMode == Lkb.NoMode ? null : (LockMode)lkb.RequestedMode));
            }
        }

        DlmLockDump LockOf(Lkb lkb, LockMode? requested) => new(
            ls.RunMembers.FirstOrDefault(m => m.Node.Value == lkb.Node, new NodeIncarnation(new NodeId(lkb.Node), 0)),
            lkb.Id, lkb.IsGranted ? (LockMode)lkb.GrantedMode : null, requested, lkb.Flags, lkb.Token);
    }

    /// <summary>Byte-wise order of names: a dump's order, never a hash's.</summary>
    private sealed class NameOrder : IComparer<byte[]>
    {
        public static readonly NameOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    /// <inheritdoc />
    public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(outputs);
        _now = now;
        _outputs = outputs;
        switch (input)
        {
            case CoreStarted started:
                _self = started.Self;
                _selfId = started.Self.Node.Value;
                break;
            case LocalRequest { Request: DlmOperation op }:
                Operate(op);
                break;
            case FrameReceived frame when frame.Frame.Length > 0 && frame.Frame.Span[0] == DlmFrames.Tag:
                OnFrame(frame.From, frame.Frame.Span);
                break;
            case LocalRequest { Request: DlmView view }:
                OnView(view.View, view.Quorate, view.Departed);
                break;
            case LocalRequest { Request: DlmGateOpened opened }:
                _gatesOpen.Add(opened.Incarnation);
                _departed.Remove(opened.Incarnation);
                foreach (var ls in _lockspaces)
                {
                    Advance(ls);
                }

                break;
            case LocalRequest { Request: DlmJoin join }:
                Join(join);
                break;
            case LocalRequest { Request: DlmLeave leave }:
                Leave(leave);
                break;
            case SessionReset reset:
                OnSessionReset(reset.Peer);
                break;
            case TimerFired { Name: RepairTimer }:
                _repairSet = false;
                Repair();
                break;
            case TimerFired { Name: TossTimer }:
                _tossSet = false;
                Toss();
                break;
        }

        EnsureToss();
    }

    // ---- local operations (the owner's side) ----

    private void Operate(DlmOperation op)
    {
        var ls = LockspaceById(op.Lockspace) ?? throw new InvalidOperationException($"dlm: no lockspace {op.Lockspace} on this node");
        var granted = op.Kind == DlmOperationKind.Convert && ls.Lock(op.LockId) is { IsGranted: true } held ? (LockMode?)held.GrantedMode : null;
        if (LockRules.Check(op.Kind, op.Mode, op.Flags, granted) is { } problem)
        {
            throw new InvalidOperationException($"dlm: lock {op.LockId}: {problem}");
        }

        switch (op.Kind)
        {
            case DlmOperationKind.Lock:
            {
                var name = op.Resource.Span;
                if (name.Length is 0 or > MaxNameBytes)
                {
                    throw new InvalidOperationException("dlm: a resource name is 1 to 64 bytes");
                }

                var rsb = ls.Find(name);
                if (rsb is null)
                {
                    rsb = new Rsb(name.ToArray());
                    ls.Resources.Add(rsb);
                }

                var lkb = new OwnedLkb(_selfId, op.LockId, rsb);
                if (!ls.Locks.Add(lkb))
                {
                    throw new InvalidOperationException($"dlm: lock id {op.LockId} is in use");
                }

                rsb.LocalLocks++;
                rsb.IdleSince = TimeSpan.Zero;
                Begin(ls, lkb, PendingOp.Lock, op.Mode, op.Flags, default);
                break;
            }

            case DlmOperationKind.Convert:
                Begin(ls, OwnedLock(ls, op.LockId), PendingOp.Convert, op.Mode, op.Flags, op.ValueBlock.Span);
                break;
            case DlmOperationKind.Unlock:
                Begin(ls, OwnedLock(ls, op.LockId), PendingOp.Unlock, LockMode.Null, op.Flags, op.ValueBlock.Span);
                break;
            case DlmOperationKind.Cancel:
                CancelOwned(ls, OwnedLock(ls, op.LockId));
                break;
        }
    }

    private static OwnedLkb OwnedLock(Lockspace ls, long id) =>
        ls.Lock(id) ?? throw new InvalidOperationException($"dlm: no lock {id} in lockspace {ls.Name}");

    private void Begin(Lockspace ls, OwnedLkb lkb, PendingOp op, LockMode mode, LockFlags flags, ReadOnlySpan<byte> valueBlock)
    {
        if (lkb.Pending != PendingOp.None)
        {
            throw new InvalidOperationException($"dlm: lock {lkb.Id} has an operation in flight");
        }

        lkb.Pending = op;
        lkb.PendingMode = mode;
        lkb.PendingFlags = flags;
        lkb.Seq = ++ls.NextSeq;
        lkb.Sent = false;
        lkb.CancelWanted = false;
        if (!valueBlock.IsEmpty || lkb.Value is not null)
        {
            var value = lkb.Value ??= new LockValue();
            value.Write = valueBlock.IsEmpty ? null : valueBlock.ToArray();
            var from = lkb.GrantedMode;
            value.Writes = op == PendingOp.Convert && value.Write is not null && (flags & LockFlags.ValueBlock) != 0
                && (from == (sbyte)LockMode.Exclusive || (from == (sbyte)LockMode.ProtectedWrite && mode <= LockMode.ProtectedWrite));
        }

        Dispatch(ls, lkb);
    }

    /// <summary>Sends (or applies) the pending operation of <paramref name="lkb"/> if the lockspace may, now.</summary>
    private void Dispatch(Lockspace ls, OwnedLkb lkb)
    {
        if (lkb.Pending == PendingOp.None || lkb.Sent || !MayDispatch(ls))
        {
            return;
        }

        var rsb = lkb.Resource;
        if (rsb.Removing || rsb.LookupPending || rsb.Master == 0)
        {
            (rsb.Waiters ??= []).Add(lkb);
            if (rsb.Master == 0 && !rsb.LookupPending && !rsb.Removing)
            {
                StartLookup(ls, rsb);
            }

            return;
        }

        lkb.Sent = true;
        lkb.AppliedHere = rsb.Master == _selfId;
        if (lkb.AppliedHere)
        {
            ApplyOwned(ls, rsb, lkb);
        }
        else
        {
            SendOperation(ls, rsb, lkb);
            if (lkb.Pending == PendingOp.Unlock && ls.Running)
            {
                ReleaseAtOnce(ls, lkb);
            }
        }
    }

    /// <summary>
    /// Completes an unlock that went out to a remote master without waiting for the answer, as VMS's <c>$DEQ</c>
    /// does (it has no wait variant and no completion AST): the lock costs one round trip, not two. Safe because
    /// nothing the master does can refuse it, this node's later requests reach the master behind it on the same
    /// ordered link, and a recovery resends it (the lock stays, <see cref="OwnedLkb.Released"/>, until answered).
    /// An unlock that writes or invalidates the value block waits for the master as in Linux, so that whoever
    /// learns of the completion and then reads the value block reads what it wrote.
    /// </summary>
    private void ReleaseAtOnce(Lockspace ls, OwnedLkb lkb)
    {
        var writes = (lkb.PendingFlags & LockFlags.InvalidateValueBlock) != 0
            || ((lkb.PendingFlags & LockFlags.ValueBlock) != 0 && lkb.GrantedMode >= (sbyte)LockMode.ProtectedWrite);
        if (writes || lkb.Released)
        {
            return;
        }

        lkb.Released = true;
        Publish(new DlmCompleted(ls.Id, lkb.Id, LockEngine.Unlocked, ReadOnlyMemory<byte>.Empty));
    }

    /// <summary>Operations go out while running, and in the resend phase of a recovery.</summary>
    private static bool MayDispatch(Lockspace ls) => ls.Running ? !ls.Frozen : ls.Phase == DlmRecoveryPhase.Resend && ls.PhaseDone;

    private static void ApplyOwned(Lockspace ls, Rsb rsb, OwnedLkb lkb)
    {
        var seq = lkb.Seq;
        switch (lkb.Pending)
        {
            case PendingOp.Lock:
                ls.Engine.Request(rsb, lkb, lkb.PendingMode, lkb.PendingFlags);
                break;
            case PendingOp.Convert:
                ls.Engine.Convert(rsb, lkb, lkb.PendingMode, lkb.PendingFlags, lkb.Value?.Write);
                break;
            case PendingOp.Unlock:
                ls.Engine.Unlock(rsb, lkb, lkb.PendingFlags, lkb.Value?.Write);
                break;
        }

        if (lkb.CancelWanted && lkb.Pending != PendingOp.None && lkb.Seq == seq)
        {
            ls.Engine.Cancel(rsb, lkb);
        }
    }

    private void CancelOwned(Lockspace ls, OwnedLkb lkb)
    {
        if (lkb.Pending is not (PendingOp.Lock or PendingOp.Convert) || lkb.CancelWanted)
        {
            return;
        }

        lkb.CancelWanted = true;
        if (!lkb.Sent)
        {
            // Never reached a master: cancelled here.
            lkb.Resource.Waiters?.Remove(lkb);
            var mode = lkb.IsGranted ? (LockMode)lkb.GrantedMode : LockMode.Null;
            CompleteOwned(ls, lkb, new LockResult(LockStatus.Cancelled, mode, LockResultFlags.None, FencingToken.None), default, 0);
            return;
        }

        var rsb = lkb.Resource;
        if (rsb.Master == _selfId)
        {
            if (ls.Running && !ls.Frozen)
            {
                ls.Engine.Cancel(rsb, lkb);
            }
        }
        else
        {
            Send(ls, rsb.Master, Start(ls, MessageType.Cancel).Bytes(rsb.Name).I64(lkb.Id).I64(lkb.Seq));
        }
    }

    private void SendOperation(Lockspace ls, Rsb rsb, OwnedLkb lkb)
    {
        var type = lkb.Pending switch
        {
            PendingOp.Lock => MessageType.Request,
            PendingOp.Convert => MessageType.Convert,
            _ => MessageType.Unlock,
        };
        var w = Start(ls, type).Bytes(rsb.Name).I64(lkb.Id).I64(lkb.Seq).U8((byte)lkb.PendingMode).I32((int)lkb.PendingFlags).Bytes(lkb.Value?.Write);
        Send(ls, rsb.Master, w);
        if (lkb.CancelWanted)
        {
            Send(ls, rsb.Master, Start(ls, MessageType.Cancel).Bytes(rsb.Name).I64(lkb.Id).I64(lkb.Seq));
        }
    }

    /// <summary>The operation in flight of this node's lock ended.</summary>
    private void CompleteOwned(Lockspace ls, OwnedLkb lkb, LockResult result, ReadOnlySpan<byte> valueBlock, ulong valueSeq)
    {
        var wasNew = lkb.Pending == PendingOp.Lock;
        lkb.Pending = PendingOp.None;
        lkb.Sent = false;
        lkb.CancelWanted = false;
        if (lkb.Value is { } value)
        {
            if (value.Writes && result.Status == LockStatus.Granted && value.Write is { } written)
            {
                value.Block = written; // the lock holds what it wrote (a copy of it may recover the resource's)
                value.Seq = valueSeq;
            }

            value.Write = null;
            value.Writes = false;
        }

        if (!result.Token.IsNone)
        {
            lkb.Token = result.Token;
        }

        if (!valueBlock.IsEmpty)
        {
            var read = lkb.Value ??= new LockValue();
            read.Block ??= new byte[ls.ValueBlockLength];
            valueBlock[..Math.Min(valueBlock.Length, read.Block.Length)].CopyTo(read.Block);
            read.Seq = valueSeq;
        }

        if (result.Status == LockStatus.Unlocked || (wasNew && result.Status != LockStatus.Granted))
        {
            ls.Locks.Remove(lkb);
            lkb.Resource.LocalLocks--;
        }

        if (lkb.Released)
        {
            return; // its client was told when it went out
        }

        var completed = new DlmCompleted(ls.Id, lkb.Id, result, valueBlock.IsEmpty ? ReadOnlyMemory<byte>.Empty : valueBlock.ToArray());
        if (ls.Running)
        {
            Publish(completed);
        }
        else
        {
            PublishAtStart(ls, completed); // a recovery completes it: nothing is told before start
        }
    }

    // Apart, so that the running path allocates no closure.
    private void PublishAtStart(Lockspace ls, object published) => ls.Deferred.Add(() => Publish(published));

    // ---- the engine's reports ----

    private sealed class Sink(DlmCore core, Lockspace ls) : IEngineSink
    {
        public void Completed(Rsb rsb, Lkb lkb, LockResult result, ReadOnlySpan<byte> valueBlock)
        {
            lkb.LastStatus = result.Status;
            lkb.LastFlags = result.Flags;
            if (lkb.Node != core._selfId && (result.Status == LockStatus.Unlocked || !lkb.IsGranted))
            {
                ls.Remote.Remove((lkb.Node, lkb.Id));
            }

            if (ls.Running)
            {
                core.Deliver(ls, rsb, lkb, result, valueBlock, rsb.ValueSeq);
                return;
            }

            Defer(rsb, lkb, result, valueBlock.ToArray(), rsb.ValueSeq); // recovery: nothing is told before start
        }

        // Apart, so that the running path allocates no closure.
        private void Defer(Rsb rsb, Lkb lkb, LockResult result, byte[] valueBlock, ulong valueSeq) =>
            ls.Deferred.Add(() => core.Deliver(ls, rsb, lkb, result, valueBlock, valueSeq));

        private void DeferBlocking(Rsb rsb, Lkb holder, LockMode mode) =>
            ls.Deferred.Add(() => core.DeliverBlocking(ls, rsb, holder, mode));

        public void Blocking(Rsb rsb, Lkb holder, LockMode mode)
        {
            if (ls.Running)
            {
                core.DeliverBlocking(ls, rsb, holder, mode);
            }
            else
            {
                DeferBlocking(rsb, holder, mode);
            }
        }
    }

    private void Deliver(Lockspace ls, Rsb rsb, Lkb lkb, LockResult result, ReadOnlySpan<byte> valueBlock, ulong valueSeq)
    {
        if (lkb is OwnedLkb owned)
        {
            if (owned.Pending != PendingOp.None)
            {
                CompleteOwned(ls, owned, result, valueBlock, valueSeq);
            }

            return;
        }

        SendReply(ls, rsb, lkb.Node, lkb.Id, lkb.Seq, result, valueBlock, valueSeq);
    }

    private void SendReply(Lockspace ls, Rsb rsb, int to, long lockId, long seq, LockResult result, ReadOnlySpan<byte> valueBlock, ulong valueSeq) =>
        Send(ls, to, Start(ls, MessageType.Reply).Bytes(rsb.Name).I64(lockId).I64(seq).U8((byte)result.Status).U8((byte)result.Mode)
            .U8((byte)result.Flags).Token(result.Token).I64((long)valueSeq).Bytes(valueBlock));

    private void DeliverBlocking(Lockspace ls, Rsb rsb, Lkb holder, LockMode mode)
    {
        if (holder.Node == _selfId)
        {
            if (holder is OwnedLkb { IsGranted: true, Released: false })
            {
                Publish(new DlmBlocking(ls.Id, holder.Id, mode));
            }

            return;
        }

        Send(ls, holder.Node, Start(ls, MessageType.Blocking).Bytes(rsb.Name).I64(holder.Id).U8((byte)mode));
    }

    // ---- frames ----

    private void OnFrame(NodeIncarnation from, ReadOnlySpan<byte> frame)
    {
        if (!FrameReader.TryHeader(frame, out var type, out var lockspace, out var seq))
        {
            return;
        }

        if (!_byGlobalId.TryGetValue(lockspace, out var ls))
        {
            if (type == MessageType.Hello)
            {
                // Not a member: say so, so the joiner stops waiting for this node.
                SendRaw(from.Node, Header(MessageType.HelloReply, lockspace, default).U8(0).I32(0).U32(0));
            }

            return;
        }

        if (!InView(from))
        {
            return; // an incarnation outside this node's view: its frames are not trusted
        }

        switch (type)
        {
            case MessageType.Hello or MessageType.HelloReply or MessageType.Goodbye or MessageType.RecoveryRequest or MessageType.StopRefused:
                OnMembershipFrame(ls, from, type, seq, frame);
                return;
            case MessageType.Stop:
                OnStop(ls, from, seq, frame);
                return;
            case MessageType.Barrier:
                OnBarrier(ls, from, seq, frame);
                return;
        }

        if (seq < ls.Seq)
        {
            return; // of an older recovery: whatever it asked is resent
        }

        if (seq > ls.Seq || !CanHandle(ls, type) || HasParked(ls, from.Node))
        {
            ls.Parked.Add((from.Node.Value, from.Incarnation, frame.ToArray()));
            return;
        }

        HandleFrame(ls, from.Node.Value, type, frame);
    }

    private static bool HasParked(Lockspace ls, NodeId node)
    {
        foreach (var (from, _, _) in ls.Parked)
        {
            if (from == node.Value)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether a frame of the current recovery can be handled in the lockspace's state.</summary>
    private static bool CanHandle(Lockspace ls, MessageType type)
    {
        var active = ls.Running && !ls.Frozen;
        var phase = ls.Running ? DlmRecoveryPhase.Running : ls.Phase;
        return type switch
        {
            MessageType.DirAdd => !ls.Running && phase >= DlmRecoveryPhase.Directory,
            MessageType.Claim or MessageType.ClaimReply or MessageType.Copies => !ls.Running && phase >= DlmRecoveryPhase.Remaster,
            MessageType.Reply or MessageType.Blocking => active,
            _ => active || (!ls.Running && phase == DlmRecoveryPhase.Resend),
        };
    }

    /// <summary>Handles the parked frames that can be handled now, in order, keeping each sender's order.</summary>
    private void DrainParked(Lockspace ls)
    {
        if (ls.Parked.Count == 0)
        {
            return;
        }

        var parked = ls.Parked.ToArray();
        ls.Parked.Clear();
        var blocked = new HashSet<int>();
        foreach (var (from, incarnation, frame) in parked)
        {
            if (!_byGlobalId.ContainsValue(ls))
            {
                return; // left meanwhile
            }

            FrameReader.TryHeader(frame, out var type, out _, out var seq);
            if (seq < ls.Seq)
            {
                continue;
            }

            if (blocked.Contains(from) || seq > ls.Seq || !CanHandle(ls, type))
            {
                blocked.Add(from);
                ls.Parked.Add((from, incarnation, frame));
                continue;
            }

            HandleFrame(ls, from, type, frame);
        }
    }

    private void HandleFrame(Lockspace ls, int from, MessageType type, ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        r.Skip(FrameReader.HeaderLength);
        switch (type)
        {
            case MessageType.Request or MessageType.Convert or MessageType.Unlock or MessageType.Cancel:
                OnOperation(ls, from, type, frame, ref r);
                break;
            case MessageType.Reply:
                OnReply(ls, ref r);
                break;
            case MessageType.Blocking:
            {
                r.Bytes();
                var id = r.I64();
                var mode = r.Mode();
                if (r.Ok && mode >= 0 && ls.Lock(id) is { IsGranted: true, Released: false })
                {
                    Publish(new DlmBlocking(ls.Id, id, (LockMode)mode));
                }

                break;
            }

            case MessageType.NotMaster:
                OnNotMaster(ls, from, ref r);
                break;
            case MessageType.Lookup:
            {
                var name = r.Bytes();
                if (!r.Ok || name.Length is 0 or > MaxNameBytes)
                {
                    ls.Rejected++;
                    return;
                }

                var (master, counter) = DirectoryLookup(ls, name, from);
                Send(ls, from, Start(ls, MessageType.LookupReply).Bytes(name).I32(master).I64(counter));
                break;
            }

            case MessageType.LookupReply:
            {
                var name = r.Bytes();
                var master = r.I32();
                var counter = r.I64();
                if (r.Ok && ls.Find(name) is { LookupPending: true } rsb)
                {
                    OnLookupReply(ls, rsb, master, counter);
                }

                break;
            }

            case MessageType.Remove:
            {
                var name = r.Bytes();
                var counter = r.I64();
                if (!r.Ok)
                {
                    ls.Rejected++;
                    return;
                }

                var ok = ls.FindEntry(name) == from;
                if (ok)
                {
                    ls.Directory.GetAlternateLookup<ReadOnlySpan<byte>>().Remove(name);
                    ls.ForgottenCounter = Math.Max(ls.ForgottenCounter, counter);
                }

                Send(ls, from, Start(ls, MessageType.RemoveReply).Bytes(name).U8(ok ? (byte)1 : (byte)0));
                break;
            }

            case MessageType.RemoveReply:
            {
                var name = r.Bytes();
                if (r.Ok && ls.Find(name) is { Removing: true } rsb)
                {
                    Removed(ls, rsb);
                }

                break;
            }

            case MessageType.DirAdd:
                OnDirAdd(ls, from, ref r);
                break;
            case MessageType.Claim:
                OnClaim(ls, from, ref r);
                break;
            case MessageType.ClaimReply:
                OnClaimReply(ls, ref r);
                break;
            case MessageType.Copies:
                OnCopies(ls, from, ref r);
                break;
        }
    }

    // ---- the master's side ----

    private void OnOperation(Lockspace ls, int from, MessageType type, ReadOnlySpan<byte> frame, ref FrameReader r)
    {
        var name = r.Bytes();
        var id = r.I64();
        var seq = r.I64();
        LockMode mode = LockMode.Null;
        LockFlags flags = LockFlags.None;
        ReadOnlySpan<byte> valueBlock = default;
        if (type != MessageType.Cancel)
        {
            var m = r.Mode();
            mode = m < 0 ? LockMode.Null : (LockMode)m;
            flags = (LockFlags)r.I32();
            valueBlock = r.Bytes();
        }

        if (!r.Ok || name.Length is 0 or > MaxNameBytes || (!valueBlock.IsEmpty && valueBlock.Length != ls.ValueBlockLength))
        {
            ls.Rejected++;
            return;
        }

        var rsb = ls.Find(name);
        if (rsb is null || rsb.Master != _selfId || rsb.Removing)
        {
            if (rsb is { LookupPending: true })
            {
                (rsb.Parked ??= []).Add((from, frame.ToArray()));
            }
            else if (type != MessageType.Cancel)
            {
                Send(ls, from, Start(ls, MessageType.NotMaster).Bytes(name).I64(id).I64(seq));
            }

            return;
        }

        ls.Remote.TryGetValue((from, id), out var copy);
        switch (type)
        {
            case MessageType.Request:
                if (copy is not null)
                {
                    if (copy.Seq >= seq)
                    {
                        AnswerResend(ls, rsb, copy);
                    }

                    return;
                }

                copy = new Lkb(from, id) { Seq = seq };
                ls.Remote.Add((from, id), copy);
                ls.Engine.Request(rsb, copy, mode, flags);
                break;
            case MessageType.Convert:
                if (copy is null)
                {
                    return;
                }

                if (Resent(ls, rsb, copy, seq))
                {
                    return;
                }

                if (copy.Queue == LkbQueue.Grant)
                {
                    ls.Engine.Convert(rsb, copy, mode, flags, valueBlock);
                }

                break;
            case MessageType.Unlock:
                if (copy is null)
                {
                    SendReply(ls, rsb, from, id, seq, LockEngine.Unlocked, default, 0);
                    return;
                }

                if (Resent(ls, rsb, copy, seq))
                {
                    return;
                }

                if (copy.Queue == LkbQueue.Grant)
                {
                    ls.Engine.Unlock(rsb, copy, flags, valueBlock);
                }

                break;
            case MessageType.Cancel:
                if (copy is not null && copy.Seq == seq && copy.Queue is LkbQueue.Wait or LkbQueue.Convert)
                {
                    ls.Engine.Cancel(rsb, copy);
                }

                break;
        }
    }

    /// <summary>Answers a resent request the master applied already: with how it ended, or nothing while it waits.</summary>
    /// <summary>Whether the operation of sequence <paramref name="seq"/> was carried out already (it is answered
    /// again); else it is recorded as the lock's latest.</summary>
    private bool Resent(Lockspace ls, Rsb rsb, Lkb copy, long seq)
    {
        if (copy.Seq >= seq)
        {
            AnswerResend(ls, rsb, copy);
            return true;
        }

        copy.Seq = seq;
        return false;
    }

    private void AnswerResend(Lockspace ls, Rsb rsb, Lkb copy)
    {
        if (copy.Queue is LkbQueue.Wait or LkbQueue.Convert)
        {
            return;
        }

        var mode = copy.IsGranted ? (LockMode)copy.GrantedMode : LockMode.Null;
        var valueBlock = (copy.Flags & LockFlags.ValueBlock) != 0 && copy.LastStatus == LockStatus.Granted ? rsb.ValueBlock : null;
        var result = new LockResult(copy.LastStatus, mode, copy.LastFlags, mode >= LockMode.ProtectedWrite ? copy.Token : FencingToken.None);
        if (ls.Running)
        {
            SendReply(ls, rsb, copy.Node, copy.Id, copy.Seq, result, valueBlock, rsb.ValueSeq);
        }
        else
        {
            var seq = rsb.ValueSeq;
            var block = valueBlock?.ToArray();
            ls.Deferred.Add(() => SendReply(ls, rsb, copy.Node, copy.Id, copy.Seq, result, block, seq));
        }
    }

    // ---- the owner's side of replies ----

    private void OnReply(Lockspace ls, ref FrameReader r)
    {
        r.Bytes();
        var id = r.I64();
        var seq = r.I64();
        var status = (LockStatus)r.U8();
        var mode = r.Mode();
        var flags = (LockResultFlags)r.U8();
        var token = r.Token();
        var valueSeq = (ulong)r.I64();
        var valueBlock = r.Bytes();
        if (!r.Ok || !Enum.IsDefined(status) || mode < 0)
        {
            ls.Rejected++;
            return;
        }

        if (ls.Lock(id) is not { } lkb || lkb.Pending == PendingOp.None || lkb.Seq != seq)
        {
            return;
        }

        var held = status == LockStatus.Unlocked || (lkb.Pending == PendingOp.Lock && status != LockStatus.Granted);
        lkb.GrantedMode = held ? Lkb.NoMode : mode;
        CompleteOwned(ls, lkb, new LockResult(status, (LockMode)mode, flags, token), valueBlock, valueSeq);
    }

    private void OnNotMaster(Lockspace ls, int from, ref FrameReader r)
    {
        r.Bytes();
        var id = r.I64();
        var seq = r.I64();
        if (!r.Ok || ls.Lock(id) is not { Sent: true } lkb || lkb.Seq != seq)
        {
            return;
        }

        var rsb = lkb.Resource;
        if (rsb.Master == from)
        {
            SetMaster(ls, rsb, 0);
        }

        lkb.Sent = false;
        Dispatch(ls, lkb);
    }

    // ---- the directory ----

    private void StartLookup(Lockspace ls, Rsb rsb)
    {
        rsb.LookupPending = true;
        var dir = DirectoryHash.Node(rsb.Hash, ls.Ring);
        if (dir == _selfId)
        {
            var (master, counter) = DirectoryLookup(ls, rsb.Name, _selfId);
            OnLookupReply(ls, rsb, master, counter);
        }
        else
        {
            Send(ls, dir, Start(ls, MessageType.Lookup).Bytes(rsb.Name));
        }
    }

    /// <summary>The directory's answer to a lookup: the master, made <paramref name="asker"/> if there is none, with
    /// the counter its tokens continue from.</summary>
    /// <remarks>A resource this node masters needs no entry: its <see cref="Rsb"/> is the entry (saving the entry and
    /// a copy of the name per resource). An entry is dropped with its resource; the directory keeps only the highest
    /// counter it forgot (<see cref="Lockspace.ForgottenCounter"/>), which every new master continues from, so a
    /// resource's tokens grow when it is recreated, and the directory holds nothing of resources nobody uses.</remarks>
    private (int Master, long Counter) DirectoryLookup(Lockspace ls, ReadOnlySpan<byte> name, int asker)
    {
        if (ls.FindEntry(name) is { } entry)
        {
            return (entry, 0);
        }

        var local = ls.Find(name);
        if (local is { Master: var master } && master == _selfId)
        {
            return (_selfId, 0);
        }

        if (asker != _selfId)
        {
            ls.Directory.Add(local?.Name ?? name.ToArray(), asker);
        }

        return (asker, ls.ForgottenCounter);
    }

    private void OnLookupReply(Lockspace ls, Rsb rsb, int master, long counter)
    {
        rsb.LookupPending = false;
        SetMaster(ls, rsb, master);
        if (master == _selfId)
        {
            TakeMastery(ls, rsb, counter);
        }

        var parked = rsb.Parked;
        rsb.Parked = null;
        foreach (var (from, frame) in parked ?? [])
        {
            HandleFrame(ls, from, (MessageType)frame[1], frame);
        }

        var waiters = rsb.Waiters;
        rsb.Waiters = null;
        foreach (var lkb in waiters ?? [])
        {
            Dispatch(ls, lkb);
        }
    }

    /// <summary>This node becomes the master of <paramref name="rsb"/>, continuing the token counter the directory kept.</summary>
    private void TakeMastery(Lockspace ls, Rsb rsb, long counter)
    {
        rsb.EpochViewSeq = ls.Seq.ViewSeq;
        rsb.EpochRecovery = ls.Seq.Attempt;
        rsb.TokenCounter = _mutant == DlmMutant.TokenReset ? 0 : counter;
    }

    private void Removed(Lockspace ls, Rsb rsb)
    {
        rsb.Removing = false;
        SetMaster(ls, rsb, 0);
        if (rsb.Waiters is null)
        {
            if (rsb.LocalLocks == 0) // a lock made meanwhile (not dispatched yet, in a recovery) keeps it
            {
                ls.Resources.Remove(rsb);
            }

            return;
        }

        var waiters = rsb.Waiters;
        rsb.Waiters = null;
        foreach (var lkb in waiters)
        {
            Dispatch(ls, lkb);
        }
    }

    // ---- the cache ----

    private void EnsureToss()
    {
        if (!_tossSet && _lockspaces.Count > 0)
        {
            _tossSet = true;
            _outputs.Add(new SetTimer(TossTimer, _now + (_setup.CacheTime / 2)));
        }
    }

    /// <summary>Drops resources nobody held a lock on for the cache time: a master tells the directory (handing it the
    /// token counter), another node just forgets where the master was.</summary>
    private void Toss()
    {
        foreach (var ls in _lockspaces)
        {
            if (!ls.Running || ls.Frozen)
            {
                continue;
            }

            List<Rsb>? drop = null;
            foreach (var rsb in ls.Resources)
            {
                var idle = rsb.LocalLocks == 0 && rsb.Waiters is null && rsb.Parked is null && !rsb.LookupPending && !rsb.Removing
                    && (rsb.Master != _selfId || rsb.IsIdle);
                if (!idle)
                {
                    rsb.IdleSince = TimeSpan.Zero;
                }
                else if (rsb.IdleSince == TimeSpan.Zero)
                {
                    rsb.IdleSince = _now + TimeSpan.FromTicks(1);
                }
                else if (_now - rsb.IdleSince >= _setup.CacheTime)
                {
                    (drop ??= []).Add(rsb);
                }
            }

            foreach (var rsb in drop ?? [])
            {
                Drop(ls, rsb);
            }
        }
    }

    private void Drop(Lockspace ls, Rsb rsb)
    {
        if (rsb.Master != _selfId)
        {
            ls.Resources.Remove(rsb);
            return;
        }

        var dir = DirectoryHash.Node(rsb.Hash, ls.Ring);
        if (dir == _selfId)
        {
            ls.ForgottenCounter = Math.Max(ls.ForgottenCounter, rsb.TokenCounter); // it was its own entry

            SetMaster(ls, rsb, 0);
            ls.Resources.Remove(rsb);
            return;
        }

        rsb.Removing = true;
        Send(ls, dir, Start(ls, MessageType.Remove).Bytes(rsb.Name).I64(rsb.TokenCounter));
    }

    // ---- helpers ----

    private bool InView(NodeIncarnation node)
    {
        if (_view is null)
        {
            return false;
        }

        foreach (var m in _view.Members)
        {
            if (m == node)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Records who masters <paramref name="rsb"/>, keeping the count of resources mastered here.</summary>
    private void SetMaster(Lockspace ls, Rsb rsb, int master)
    {
        if (rsb.Master == _selfId)
        {
            ls.Mastered--;
        }

        rsb.Master = master;
        if (master == _selfId)
        {
            ls.Mastered++;
        }
    }

    private Lockspace? LockspaceById(int id)
    {
        foreach (var ls in _lockspaces)
        {
            if (ls.Id == id)
            {
                return ls;
            }
        }

        return null;
    }

    private FrameWriter Start(Lockspace ls, MessageType type) => _writer.Start(type, ls.GlobalId, ls.Seq);

    private FrameWriter Header(MessageType type, uint lockspace, DlmRecoverySequence seq) => _writer.Start(type, lockspace, seq);

    /// <summary>Sends the frame in the writer to the incarnation of <paramref name="node"/> that is a member.</summary>
    /// <remarks>A node that is not a member (it departed, or a new incarnation has not joined) gets nothing: a reply
    /// meant for an incarnation must never reach its successor.</remarks>
    private void Send(Lockspace ls, int node, FrameWriter frame)
    {
        if (ls.Members.TryGetValue(node, out var member))
        {
            _outputs.Add(new SendFrame(member.Node, TransportLane.Data, frame.ToArray(), member.Incarnation));
        }
    }

    private void SendRaw(NodeId node, FrameWriter frame) =>
        _outputs.Add(new SendFrame(node, TransportLane.Data, frame.ToArray()));

    private void Publish(object e) => _outputs.Add(new PublishEvent(e));
}
