using System.Text;
using Cohort.Dlm.Engine;
using Cohort.Locking;
using Cohort.Membership;

namespace Cohort.Dlm;

/// <summary>
/// Lockspace membership and recovery. A node joins by saying hello to every view member and waiting for each answer,
/// so two members of a lockspace in one view always learn of each other. The lowest member coordinates: after every
/// change of the members it sends a stop with a new recovery sequence and the member list; every member then runs
/// the phases, each closed by an all-to-all barrier (a member passes phase p when every member's barrier p arrived;
/// sessions are FIFO, so everything a member sent before its barrier arrived first).
/// </summary>
public sealed partial class DlmCore
{
    private const int MaxNamesPerFrame = 4096;

    // ---- joining and leaving ----

    private void Join(DlmJoin join)
    {
        var bytes = Encoding.UTF8.GetBytes(join.Lockspace);
        if (bytes.Length is 0 or > MaxNameBytes)
        {
            Publish(new DlmJoined(join.Token, join.Lockspace, 0, $"lockspace name '{join.Lockspace}' is {bytes.Length} bytes of UTF-8; it must be 1 to 64"));
            return;
        }

        if (join.ValueBlockLength <= 0 || join.ValueBlockLength % 8 != 0 || join.ValueBlockLength > 4096)
        {
            Publish(new DlmJoined(join.Token, join.Lockspace, 0, $"lockspace '{join.Lockspace}': a value block of {join.ValueBlockLength} bytes is not a positive multiple of 8 (at most 4096)"));
            return;
        }

        foreach (var existing in _lockspaces)
        {
            if (existing.Name == join.Lockspace)
            {
                var error = existing.ValueBlockLength != join.ValueBlockLength
                    ? $"lockspace '{join.Lockspace}' is joined with value blocks of {existing.ValueBlockLength} bytes, not {join.ValueBlockLength}"
                    : existing.Joined ? null : $"lockspace '{join.Lockspace}' is being joined already";
                Publish(new DlmJoined(join.Token, join.Lockspace, error is null ? existing.Id : 0, error));
                return;
            }
        }

        var ls = new Lockspace(join.Lockspace, bytes, ++_nextLockspaceId, join.ValueBlockLength) { JoinToken = join.Token };
        if (_byGlobalId.TryGetValue(ls.GlobalId, out var clash))
        {
            Publish(new DlmJoined(join.Token, join.Lockspace, 0, $"lockspace '{join.Lockspace}' hashes like lockspace '{clash.Name}' joined here: rename one"));
            return;
        }

        ls.Engine = new LockEngine(new Sink(this, ls), _mutant);
        ls.Members[_selfId] = _self;
        ls.Ring = [_selfId];
        _lockspaces.Add(ls);
        _byGlobalId.Add(ls.GlobalId, ls);
        if (_view is not null)
        {
            SendHellos(ls);
        }
    }

    private void SendHellos(Lockspace ls)
    {
        ls.HelloSent = true;
        foreach (var m in _view!.Members)
        {
            if (m.Node.Value != _selfId)
            {
                ls.HelloAwaited.Add(m.Node.Value);
                _outputs.Add(new Cores.SendFrame(m.Node, Transport.TransportLane.Data, Hello(ls).ToArray(), m.Incarnation));
            }
        }

        Reconsider(ls);
    }

    private void Leave(DlmLeave leave)
    {
        var ls = LockspaceById(leave.Lockspace);
        if (ls is null)
        {
            Publish(new DlmLeft(leave.Token, $"no lockspace {leave.Lockspace} is joined here"));
            return;
        }

        // An unlock its client was told of (Released) may still be on its way: leaving releases it as well.
        var held = ls.Locks.Count(l => !l.Released);
        if (held > 0)
        {
            Publish(new DlmLeft(leave.Token, $"lockspace '{ls.Name}' still holds {held} lock(s) of this node: unlock them first"));
            return;
        }

        Forget(ls);
        Publish(new DlmLeft(leave.Token, null));
    }

    /// <summary>Tells the other members this node is gone from the lockspace, and drops it.</summary>
    private void Forget(Lockspace ls)
    {
        foreach (var m in ls.Members.Values)
        {
            if (m.Node.Value != _selfId)
            {
                Send(ls, m.Node.Value, Start(ls, MessageType.Goodbye));
            }
        }

        _lockspaces.Remove(ls);
        _byGlobalId.Remove(ls.GlobalId);
    }

    private void OnMembershipFrame(Lockspace ls, NodeIncarnation from, MessageType type, DlmRecoverySequence seq, ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        r.Skip(FrameReader.HeaderLength);
        var node = from.Node.Value;
        switch (type)
        {
            case MessageType.Hello:
            {
                var length = r.I32();
                var placement = r.U32();
                if (!r.Ok)
                {
                    ls.Rejected++;
                    return;
                }

                ls.HelloAwaited.Remove(node);
                var problem = Mismatch(ls, node, length, placement);
                if (problem is not null && !ls.Joined)
                {
                    FailJoin(ls, problem);
                    return;
                }

                if (problem is null && (!ls.Members.TryGetValue(node, out var known) || known != from))
                {
                    ls.Members[node] = from;
                    ls.CleanLeft.Remove(from);
                    ls.NeedsRecovery = true;
                }

                _outputs.Add(new Cores.SendFrame(from.Node, Transport.TransportLane.Data, Start(ls, MessageType.HelloReply).U8(1).I32(ls.ValueBlockLength).U32(_placement).ToArray(), from.Incarnation));
                break;
            }

            case MessageType.HelloReply:
            {
                var member = r.U8() == 1;
                var length = r.I32();
                var placement = r.U32();
                if (!r.Ok || !ls.HelloAwaited.Remove(node))
                {
                    return;
                }

                if (member && Mismatch(ls, node, length, placement) is { } problem)
                {
                    if (!ls.Joined)
                    {
                        FailJoin(ls, problem);
                        return;
                    }
                }
                else if (member && (!ls.Members.TryGetValue(node, out var known) || known != from))
                {
                    ls.Members[node] = from; // also a member this node dropped when a view left it out, back now
                    ls.NeedsRecovery = true;
                }

                break;
            }

            case MessageType.Goodbye:
                if (ls.Members.TryGetValue(node, out var gone) && gone == from)
                {
                    ls.Members.Remove(node);
                    ls.CleanLeft.Add(from);
                    ls.NeedsRecovery = true;
                }

                ls.HelloAwaited.Remove(node);
                break;
            case MessageType.RecoveryRequest:
                ls.NeedsRecovery = true;
                break;
            case MessageType.StopRefused:
                if (seq > ls.HighestSeen)
                {
                    ls.HighestSeen = seq;
                }

                ls.NeedsRecovery = true;
                break;
        }

        Reconsider(ls);
        Advance(ls);
    }

    private FrameWriter Hello(Lockspace ls) => Header(MessageType.Hello, ls.GlobalId, ls.Seq).I32(ls.ValueBlockLength).U32(_placement);

    /// <summary>Why a node that answered a hello cannot share the lockspace with this one, or null.</summary>
    private string? Mismatch(Lockspace ls, int node, int valueBlockLength, uint placement) =>
        valueBlockLength != ls.ValueBlockLength
            ? $"lockspace '{ls.Name}' uses value blocks of {valueBlockLength} bytes on node {node}, not {ls.ValueBlockLength}: join it with the same length"
            : placement != _placement
                ? $"lockspace '{ls.Name}': node {node} places resources by other directory weights (Cluster:Dlm:Weight) than this node: every node must run with the same"
                : null;

    private void FailJoin(Lockspace ls, string error)
    {
        Publish(new DlmJoined(ls.JoinToken, ls.Name, 0, error));
        Forget(ls);
    }

    // ---- views, quorum, sessions ----

    private void OnView(View view, bool quorate, IReadOnlyList<NodeIncarnation> departed)
    {
        var previous = _view;
        _view = view;
        _quorate = quorate;
        foreach (var gone in departed)
        {
            if (gone != _self && !_gatesOpen.Contains(gone))
            {
                _departed.Add(gone);
            }
        }

        // One back in the view is awaited no more: the same incarnation is a lockspace member again (its hello is
        // answered before any recovery advances) or holds nothing in it; a later one proves it dead. Either way no
        // recovery finished without it while it lived, since that needed its gate. Fencing forgets such a candidate
        // alike, so its gate might never open.
        _departed.RemoveWhere(gone => view.Members.Any(m => m.Node == gone.Node && m.Incarnation >= gone.Incarnation));
        foreach (var ls in _lockspaces.ToArray())
        {
            if (ls.HelloSent)
            {
                // A hello from a node outside this node's view is dropped: say hello again to every node that
                // appeared, so whichever of two nodes installs their common view last is heard.
                foreach (var m in view.Members)
                {
                    if (m.Node.Value != _selfId && (previous is null || !Contains(previous, m)))
                    {
                        // Its answer is awaited before a recovery starts, also once joined: a member a view left
                        // out and the next one brought back (the same incarnation) is a member again only then.
                        ls.HelloAwaited.Add(m.Node.Value);

                        _outputs.Add(new Cores.SendFrame(m.Node, Transport.TransportLane.Data, Hello(ls).ToArray(), m.Incarnation));
                    }
                }
            }

            foreach (var m in ls.Members.Values.ToArray())
            {
                if (m.Node.Value != _selfId && !InView(m))
                {
                    ls.Members.Remove(m.Node.Value);
                    ls.NeedsRecovery = true;
                }
            }

            foreach (var node in ls.HelloAwaited.ToArray())
            {
                if (!view.Contains(new NodeId(node)))
                {
                    ls.HelloAwaited.Remove(node);
                }
            }

            if (!quorate && ls.Running)
            {
                ls.Frozen = true; // no grant, notification or completion until a recovery under quorum
            }
            else if (quorate && ls.Frozen)
            {
                AskRecovery(ls);
            }

            if (!ls.HelloSent)
            {
                SendHellos(ls);
            }

            Reconsider(ls);
            Advance(ls);
        }
    }

    private static bool Contains(View view, NodeIncarnation node)
    {
        foreach (var m in view.Members)
        {
            if (m == node)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Frames to or from <paramref name="peer"/> may have been lost: a recovery (which resends) repairs a
    /// member's session, a hello is sent again to a view member not heard yet. Both after <see cref="RepairDelay"/>:
    /// a send to a dead peer is refused as a reset at once, and repairing at once would repeat that until the view
    /// drops the peer.</summary>
    private void OnSessionReset(NodeIncarnation peer)
    {
        foreach (var ls in _lockspaces)
        {
            var member = ls.Members.TryGetValue(peer.Node.Value, out var m) && m == peer;
            if (member || (ls.HelloAwaited.Contains(peer.Node.Value) && InView(peer)))
            {
                ls.Repair.Add(peer);
                if (!_repairSet)
                {
                    _repairSet = true;
                    _outputs.Add(new Cores.SetTimer(RepairTimer, _now + RepairDelay));
                }
            }
        }
    }

    private void Repair()
    {
        foreach (var ls in _lockspaces.ToArray())
        {
            var peers = ls.Repair.ToArray();
            ls.Repair.Clear();
            var recover = false;
            foreach (var peer in peers)
            {
                if (ls.HelloAwaited.Contains(peer.Node.Value) && InView(peer))
                {
                    _outputs.Add(new Cores.SendFrame(peer.Node, Transport.TransportLane.Data, Hello(ls).ToArray(), peer.Incarnation));
                }

                recover |= ls.Members.TryGetValue(peer.Node.Value, out var m) && m == peer;
            }

            if (recover && _byGlobalId.ContainsValue(ls))
            {
                AskRecovery(ls);
            }
        }
    }

    private void AskRecovery(Lockspace ls)
    {
        var coordinator = Coordinator(ls);
        if (coordinator == _selfId)
        {
            ls.NeedsRecovery = true;
            Reconsider(ls);
        }
        else
        {
            Send(ls, coordinator, Start(ls, MessageType.RecoveryRequest));
        }
    }

    private static int Coordinator(Lockspace ls) => ls.Members.First().Key;

    // ---- starting a recovery ----

    /// <summary>The coordinator starts a recovery when the members changed (or a member asked), once this node
    /// knows every view member's answer to its hello.</summary>
    private void Reconsider(Lockspace ls)
    {
        if (_view is null || ls.HelloAwaited.Count > 0 || !ls.NeedsRecovery || Coordinator(ls) != _selfId || !_byGlobalId.ContainsValue(ls))
        {
            return;
        }

        var top = ls.HighestSeen > ls.Seq ? ls.HighestSeen : ls.Seq;
        var viewSeq = Math.Max(_view.Id.Seq, top.ViewSeq);
        var seq = new DlmRecoverySequence(viewSeq, (top.ViewSeq == viewSeq ? top.Attempt : 0) + 1, _self.Node);
        ls.NeedsRecovery = false;
        var members = ls.Members.Values.ToArray();
        var w = Header(MessageType.Stop, ls.GlobalId, seq).I32(ls.ValueBlockLength).I32(members.Length);
        foreach (var m in members)
        {
            w.Incarnation(m);
        }

        var frame = w.ToArray();
        foreach (var m in members)
        {
            if (m.Node.Value != _selfId)
            {
                _outputs.Add(new Cores.SendFrame(m.Node, Transport.TransportLane.Data, frame, m.Incarnation));
            }
        }

        AdoptStop(ls, seq, members);
    }

    private void OnStop(Lockspace ls, NodeIncarnation from, DlmRecoverySequence seq, ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        r.Skip(FrameReader.HeaderLength);
        var length = r.I32();
        var count = r.I32();
        if (!r.Ok || count is < 1 or > 4096)
        {
            ls.Rejected++;
            return;
        }

        var members = new NodeIncarnation[count];
        for (var i = 0; i < count; i++)
        {
            members[i] = r.Incarnation();
        }

        if (!r.Ok)
        {
            ls.Rejected++;
            return;
        }

        if (seq <= ls.Seq)
        {
            if (seq < ls.Seq)
            {
                _outputs.Add(new Cores.SendFrame(from.Node, Transport.TransportLane.Data, Start(ls, MessageType.StopRefused).ToArray(), from.Incarnation));
            }

            return;
        }

        if (length != ls.ValueBlockLength || Array.IndexOf(members, _self) < 0)
        {
            return; // not counted a member yet: the hello that makes it one is on its way
        }

        foreach (var m in members)
        {
            if (!ls.Members.ContainsKey(m.Node.Value) && InView(m))
            {
                ls.Members[m.Node.Value] = m;
            }
        }

        Array.Sort(members);
        AdoptStop(ls, seq, members);
    }

    private void AdoptStop(Lockspace ls, DlmRecoverySequence seq, NodeIncarnation[] members)
    {
        foreach (var m in members)
        {
            if (OtherIncarnation(ls.RunMembers, m) || OtherIncarnation(ls.RecMembers, m))
            {
                ls.Replaced.Add(m.Node.Value);
            }
        }

        ls.Seq = seq;
        ls.Running = false;
        ls.Frozen = false;
        ls.Fresh = false;
        ls.RecMembers = members;
        ls.Arrived.Clear();
        ls.ClaimsAwaited.Clear();
        ls.Claimed.Clear();
        for (var i = ls.EarlyBarriers.Count - 1; i >= 0; i--)
        {
            var (early, phase, from) = ls.EarlyBarriers[i];
            if (early == seq)
            {
                Arrive(ls, phase, from);
            }

            if (early <= seq)
            {
                ls.EarlyBarriers.RemoveAt(i);
            }
        }

        EnterPhase(ls, DlmRecoveryPhase.Stop);
        Advance(ls);
    }

    private static bool OtherIncarnation(NodeIncarnation[] known, NodeIncarnation m)
    {
        foreach (var k in known)
        {
            if (k.Node == m.Node && k.Incarnation != m.Incarnation)
            {
                return true;
            }
        }

        return false;
    }

    // ---- barriers ----

    private void OnBarrier(Lockspace ls, NodeIncarnation from, DlmRecoverySequence seq, ReadOnlySpan<byte> frame)
    {
        var r = new FrameReader(frame);
        r.Skip(FrameReader.HeaderLength);
        var phase = (DlmRecoveryPhase)r.U8();
        if (!r.Ok || phase is < DlmRecoveryPhase.Stop or > DlmRecoveryPhase.Resend)
        {
            ls.Rejected++;
            return;
        }

        if (seq > ls.Seq)
        {
            ls.EarlyBarriers.Add((seq, phase, from.Node.Value));
        }
        else if (seq == ls.Seq && !ls.Running)
        {
            Arrive(ls, phase, from.Node.Value);
            Advance(ls);
        }
    }

    private static void Arrive(Lockspace ls, DlmRecoveryPhase phase, int node)
    {
        if (!ls.Arrived.TryGetValue(phase, out var set))
        {
            ls.Arrived[phase] = set = [];
        }

        set.Add(node);
    }

    private bool BarrierPassed(Lockspace ls)
    {
        if (_mutant == DlmMutant.SkipStopBarrier)
        {
            return true; // the mutant waits for nobody from the stop on
        }

        if (!ls.Arrived.TryGetValue(ls.Phase, out var set))
        {
            return false;
        }

        foreach (var m in ls.RecMembers)
        {
            if (!set.Contains(m.Node.Value))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Goes through every phase whose work is done and whose barrier passed — none while a view member's
    /// answer to this node's hello is awaited, or once the members differ from the recovery's: a member it leaves out
    /// may hold locks (a node that started alone and then heard the others would otherwise finish a lockspace of its
    /// own). The coordinator hears of the change too and starts the next recovery.</summary>
    private void Advance(Lockspace ls)
    {
        while (!ls.Running && _byGlobalId.ContainsValue(ls) && !ls.Fresh && ls.HelloAwaited.Count == 0 && SameMembers(ls))
        {
            if (!ls.PhaseDone)
            {
                if (ls.Phase == DlmRecoveryPhase.Fence && FenceReady(ls))
                {
                    PhaseWorkDone(ls);
                }
                else
                {
                    break;
                }
            }

            if (!BarrierPassed(ls))
            {
                break;
            }

            if (ls.Phase == DlmRecoveryPhase.Resend)
            {
                FinishRecovery(ls);
                break;
            }

            EnterPhase(ls, ls.Phase + 1);
        }

        DrainParked(ls);
    }

    private static bool SameMembers(Lockspace ls)
    {
        if (ls.RecMembers.Length != ls.Members.Count)
        {
            return false;
        }

        foreach (var m in ls.RecMembers)
        {
            if (!ls.Members.TryGetValue(m.Node.Value, out var known) || known != m)
            {
                return false;
            }
        }

        return true;
    }

    private void EnterPhase(Lockspace ls, DlmRecoveryPhase phase)
    {
        ls.Phase = phase;
        ls.PhaseDone = false;
        Publish(new DlmRecoveryProgress(ls.Name, ls.Seq, phase, ls.RecMembers));
        switch (phase)
        {
            case DlmRecoveryPhase.Stop:
                PhaseWorkDone(ls);
                break;
            case DlmRecoveryPhase.Fence:
                if (FenceReady(ls))
                {
                    PhaseWorkDone(ls);
                }

                break;
            case DlmRecoveryPhase.Directory:
                RebuildDirectory(ls);
                PhaseWorkDone(ls);
                break;
            case DlmRecoveryPhase.Remaster:
                Claim(ls);
                break;
            case DlmRecoveryPhase.Purge:
                Purge(ls);
                PhaseWorkDone(ls);
                break;
            case DlmRecoveryPhase.Resend:
                Resend(ls);
                break;
        }
    }

    /// <summary>This node did its work of the phase: it tells every member.</summary>
    private void PhaseWorkDone(Lockspace ls)
    {
        ls.PhaseDone = true;
        var frame = Start(ls, MessageType.Barrier).U8((byte)ls.Phase).ToArray();
        foreach (var m in ls.RecMembers)
        {
            if (m.Node.Value != _selfId)
            {
                _outputs.Add(new Cores.SendFrame(m.Node, Transport.TransportLane.Data, frame, m.Incarnation));
            }
        }

        Arrive(ls, ls.Phase, _selfId);
    }

    // ---- phase 2: quorum and the fencing gate ----

    /// <summary>Whether this node is quorate and the gate is open of every incarnation it ran with that is not a
    /// member now, and of every incarnation membership reported departed (<see cref="_departed"/>) — also one this
    /// lockspace never ran with: a node whose whole majority restarted, alone in a partition with its locks, is
    /// known only as the departed of the restarted nodes' first views. Asks the host for the gates it waits for.</summary>
    /// <remarks>An incarnation whose node is a member again in a later incarnation is dead without a fence: an agent
    /// holds its state directory's lock while it runs and bumps the incarnation at every start. Its gate is not
    /// awaited — fencing does not fence a node that crashed and restarted before a quorate view excluded it, so that
    /// gate would never open.</remarks>
    private bool FenceReady(Lockspace ls)
    {
        var ready = _quorate;
        foreach (var m in ls.RunMembers)
        {
            if (Array.IndexOf(ls.RecMembers, m) >= 0 || ls.CleanLeft.Contains(m) || _gatesOpen.Contains(m) || Restarted(ls, m))
            {
                continue;
            }

            ready = false;
            AwaitGate(m);
        }

        foreach (var m in _departed)
        {
            if (Array.IndexOf(ls.RecMembers, m) >= 0 || ls.CleanLeft.Contains(m) || Restarted(ls, m))
            {
                continue;
            }

            ready = false;
            AwaitGate(m);
        }

        return ready;
    }

    /// <summary>Asks the host for the gate of <paramref name="m"/>, once.</summary>
    private void AwaitGate(NodeIncarnation m)
    {
        if (_gatesAsked.Add(m))
        {
            Publish(new DlmAwaitGate(m));
        }
    }

    private static bool Restarted(Lockspace ls, NodeIncarnation old)
    {
        foreach (var m in ls.RecMembers)
        {
            if (m.Node == old.Node && m.Incarnation > old.Incarnation)
            {
                return true;
            }
        }

        return false;
    }

    // ---- phase 3: the directory ----

    private void RebuildDirectory(Lockspace ls)
    {
        ls.Ring = DirectoryHash.Ring(ls.RecMembers, _setup.DirectoryWeights);
        ls.Directory.Clear();
        ls.ForgottenCounter = 0; // tokens of the new sequence exceed every token of the old ones
        var batches = new SortedDictionary<int, List<byte[]>>();
        foreach (var rsb in ls.Resources.ToArray())
        {
            rsb.LookupPending = false;
            rsb.Parked = null; // their senders resend
            if (rsb.Master == _selfId && rsb.Removing)
            {
                // Its drop was under way: it is forgotten, not mastered again (the directory may have given it to
                // another node already, and is rebuilt without it).
                Removed(ls, rsb);
            }
            else if (rsb.Master == _selfId)
            {
                var dir = DirectoryHash.Node(rsb.Hash, ls.Ring);
                if (dir != _selfId) // else the resource is its own entry
                {
                    if (!batches.TryGetValue(dir, out var names))
                    {
                        batches[dir] = names = [];
                    }

                    names.Add(rsb.Name);
                }
            }
            else if (rsb.Master != 0 && !ls.Survived(rsb.Master))
            {
                SetMaster(ls, rsb, 0);
                rsb.RemasterPending = true;
            }
        }

        foreach (var (dir, names) in batches)
        {
            for (var at = 0; at < names.Count; at += MaxNamesPerFrame)
            {
                var n = Math.Min(MaxNamesPerFrame, names.Count - at);
                var w = Start(ls, MessageType.DirAdd).I32(n);
                for (var i = at; i < at + n; i++)
                {
                    w.Bytes(names[i]);
                }

                Send(ls, dir, w);
            }
        }
    }

    private static void OnDirAdd(Lockspace ls, int from, ref FrameReader r)
    {
        var count = r.I32();
        for (var i = 0; i < count && r.Ok; i++)
        {
            var name = r.Bytes();
            if (r.Ok && name.Length is > 0 and <= MaxNameBytes)
            {
                ls.Directory[ls.Find(name)?.Name ?? name.ToArray()] = from;
            }
        }

        if (!r.Ok)
        {
            ls.Rejected++;
        }
    }

    // ---- phase 4: remaster ----

    /// <summary>Asks the directory who masters each resource this node holds locks on whose master is unknown; the
    /// first to ask becomes the master.</summary>
    private void Claim(Lockspace ls)
    {
        foreach (var rsb in ls.Resources)
        {
            if (rsb.Master != 0 || rsb.LocalLocks == 0)
            {
                continue;
            }

            var dir = DirectoryHash.Node(rsb.Hash, ls.Ring);
            if (dir == _selfId)
            {
                var (master, _) = DirectoryLookup(ls, rsb.Name, _selfId);
                if (master == _selfId)
                {
                    SetMaster(ls, rsb, _selfId); // the resource is its own entry from now on
                }

                ls.Claimed.Add((rsb, master));
            }
            else
            {
                ls.ClaimsAwaited.Add(rsb.Name);
                Send(ls, dir, Start(ls, MessageType.Claim).Bytes(rsb.Name));
            }
        }

        if (ls.ClaimsAwaited.Count == 0)
        {
            SendCopies(ls);
        }
    }

    private void OnClaim(Lockspace ls, int from, ref FrameReader r)
    {
        var name = r.Bytes();
        if (!r.Ok || name.Length is 0 or > MaxNameBytes)
        {
            ls.Rejected++;
            return;
        }

        var (master, _) = DirectoryLookup(ls, name, from);
        Send(ls, from, Start(ls, MessageType.ClaimReply).Bytes(name).I32(master));
    }

    private void OnClaimReply(Lockspace ls, ref FrameReader r)
    {
        var name = r.Bytes();
        var master = r.I32();
        if (!r.Ok || ls.Phase != DlmRecoveryPhase.Remaster || ls.PhaseDone || !ls.ClaimsAwaited.Remove(name.ToArray()))
        {
            return;
        }

        if (ls.Find(name) is { } rsb)
        {
            ls.Claimed.Add((rsb, master));
        }

        if (ls.ClaimsAwaited.Count == 0)
        {
            SendCopies(ls);
            Advance(ls);
        }
    }

    /// <summary>Sends this node's granted locks on every resource being remastered to its new master (keeping them,
    /// when that is this node), then closes the phase.</summary>
    private void SendCopies(Lockspace ls)
    {
        var mine = new Dictionary<Rsb, List<OwnedLkb>>(ReferenceEqualityComparer.Instance);
        foreach (var (rsb, master) in ls.Claimed)
        {
            SetMaster(ls, rsb, master);
            rsb.RemasterPending = true;
            mine[rsb] = [];
        }

        foreach (var lkb in ls.Locks)
        {
            if (lkb.IsGranted && mine.TryGetValue(lkb.Resource, out var list))
            {
                list.Add(lkb);
            }
        }

        // Resources whose new master was found in an earlier attempt: the copies may not have arrived before it.
        foreach (var rsb in ls.Resources)
        {
            if (rsb.RemasterPending && rsb.Master != 0 && !mine.ContainsKey(rsb))
            {
                mine[rsb] = [];
            }
        }

        foreach (var lkb in ls.Locks)
        {
            if (lkb.IsGranted && lkb.Resource is { RemasterPending: true } rsb && mine.TryGetValue(rsb, out var list) && !list.Contains(lkb))
            {
                list.Add(lkb);
            }
        }

        foreach (var locks in mine.Values)
        {
            for (var i = locks.Count - 1; i >= 0; i--)
            {
                if (!CopyAfterMasterDied(ls, locks[i]))
                {
                    locks.RemoveAt(i);
                }
            }
        }

        foreach (var (rsb, locks) in Ordered(ls, mine))
        {
            if (rsb.Master == _selfId)
            {
                BecomeRemaster(ls, rsb);
                foreach (var lkb in locks)
                {
                    if (lkb.Queue == LkbQueue.None)
                    {
                        rsb.Move(lkb, LkbQueue.Grant);
                        lkb.LastStatus = LockStatus.Granted;
                    }

                    Recover(rsb, (LockMode)lkb.GrantedMode, lkb.Value?.Block, lkb.Value?.Seq ?? 0);
                }
            }
            else if (locks.Count > 0)
            {
                var w = Start(ls, MessageType.Copies).Bytes(rsb.Name).I32(locks.Count);
                foreach (var lkb in locks)
                {
                    w.I64(lkb.Id).U8((byte)lkb.GrantedMode).Token(lkb.Token).I64((long)(lkb.Value?.Seq ?? 0)).Bytes(lkb.Value?.Block);
                }

                Send(ls, rsb.Master, w);
            }
        }

        PhaseWorkDone(ls);
    }

    /// <summary>What becomes of this node's lock on a resource whose master died with an operation of it in flight
    /// (Linux's <c>dlm_recover_waiters_pre</c>): an unlock or a down-conversion the master may have carried out is
    /// taken as done — as the dead master would have answered, and as a later holder may have relied on — and a
    /// conversion with CONVDEADLK holds NL, since the master may have demoted it. Others are resent later.</summary>
    /// <returns>Whether the lock still has a copy to send.</returns>
    private bool CopyAfterMasterDied(Lockspace ls, OwnedLkb lkb)
    {
        if (lkb is not { Sent: true, AppliedHere: false })
        {
            return true;
        }

        var granted = (LockMode)lkb.GrantedMode;
        switch (lkb.Pending)
        {
            case PendingOp.Unlock:
                CompleteOwned(ls, lkb, LockEngine.Unlocked, default, 0);
                return false;
            case PendingOp.Convert when lkb.PendingMode < granted && !IsMiddleConversion(granted, lkb.PendingMode):
            {
                var mode = lkb.PendingMode;
                if ((lkb.PendingFlags & LockFlags.ValueBlock) != 0 && granted >= LockMode.ProtectedWrite && lkb.Value is { Write: { } written } value)
                {
                    value.Block = written; // what this lock wrote is what it holds
                }

                lkb.GrantedMode = (sbyte)mode;
                var token = mode >= LockMode.ProtectedWrite ? lkb.Token : FencingToken.None;
                CompleteOwned(ls, lkb, new LockResult(LockStatus.Granted, mode, LockResultFlags.None, token), default, 0);
                return true;
            }

            case PendingOp.Convert when (lkb.PendingFlags & LockFlags.ConvertDeadlock) != 0:
                lkb.GrantedMode = (sbyte)LockMode.Null; // resent, it completes from NL; its client relies on NL meanwhile
                return true;
            default:
                return true;
        }
    }

    /// <summary>PR to CW or back: neither mode is below the other.</summary>
    private static bool IsMiddleConversion(LockMode from, LockMode to) =>
        (from, to) is (LockMode.ProtectedRead, LockMode.ConcurrentWrite) or (LockMode.ConcurrentWrite, LockMode.ProtectedRead);

    /// <summary>The resources of <paramref name="mine"/> in the order of <see cref="Lockspace.Resources"/> (never hash order).</summary>
    private static IEnumerable<(Rsb, List<OwnedLkb>)> Ordered(Lockspace ls, Dictionary<Rsb, List<OwnedLkb>> mine)
    {
        foreach (var rsb in ls.Resources)
        {
            if (mine.TryGetValue(rsb, out var locks))
            {
                yield return (rsb, locks);
            }
        }
    }

    private void OnCopies(Lockspace ls, int from, ref FrameReader r)
    {
        var name = r.Bytes();
        var count = r.I32();
        if (!r.Ok || name.Length is 0 or > MaxNameBytes)
        {
            ls.Rejected++;
            return;
        }

        var rsb = ls.Find(name);
        if (rsb is null)
        {
            rsb = new Rsb(name.ToArray());
            ls.Resources.Add(rsb);
        }

        if (rsb.Master != _selfId)
        {
            SetMaster(ls, rsb, _selfId);
        }

        BecomeRemaster(ls, rsb);
        for (var i = 0; i < count && r.Ok; i++)
        {
            var id = r.I64();
            var mode = r.Mode();
            var token = r.Token();
            var valueSeq = (ulong)r.I64();
            var valueBlock = r.Bytes();
            if (!r.Ok || mode < 0)
            {
                break;
            }

            if (!ls.Remote.ContainsKey((from, id)))
            {
                var copy = new Lkb(from, id) { GrantedMode = mode, Token = token, LastStatus = LockStatus.Granted };
                ls.Remote.Add((from, id), copy);
                rsb.Move(copy, LkbQueue.Grant);
            }

            Recover(rsb, (LockMode)mode, valueBlock.IsEmpty ? null : valueBlock.ToArray(), valueSeq);
        }

        if (!r.Ok)
        {
            ls.Rejected++;
        }
    }

    /// <summary>Makes this node the new master of a resource being remastered: a new epoch, so its tokens exceed every
    /// token of the old master.</summary>
    private static void BecomeRemaster(Lockspace ls, Rsb rsb)
    {
        if (!rsb.RemasterPending || rsb.EpochViewSeq != ls.Seq.ViewSeq || rsb.EpochRecovery != ls.Seq.Attempt)
        {
            rsb.RemasterPending = true;
            rsb.EpochViewSeq = ls.Seq.ViewSeq;
            rsb.EpochRecovery = ls.Seq.Attempt;
            rsb.TokenCounter = 0;
        }
    }

    /// <summary>Takes a survivor's copy into the value block being recovered: the newest copy wins.</summary>
    private static void Recover(Rsb rsb, LockMode mode, byte[]? valueBlock, ulong valueSeq)
    {
        if (mode >= LockMode.ConcurrentWrite)
        {
            rsb.RemasterStrong = true;
        }

        if (valueBlock is not null && (rsb.ValueBlock is null || valueSeq > rsb.ValueSeq))
        {
            rsb.ValueBlock = valueBlock;
            rsb.ValueSeq = valueSeq;
        }
    }

    // ---- phase 5: purge ----

    private void Purge(Lockspace ls)
    {
        bool Departed(Lkb lkb) => lkb.Node != _selfId && !ls.Survived(lkb.Node);
        foreach (var rsb in ls.Resources)
        {
            if (rsb.Master != _selfId)
            {
                continue;
            }

            if (rsb.RemasterPending && !rsb.RemasterStrong)
            {
                rsb.ValueNotValid = true; // a departed PW/EX holder may have written it
            }

            ls.Engine.Purge(rsb, Departed);
        }

        List<(int, long)>? gone = null;
        foreach (var (key, lkb) in ls.Remote)
        {
            if (Departed(lkb) || lkb.Queue == LkbQueue.None)
            {
                (gone ??= []).Add(key);
            }
        }

        foreach (var key in gone ?? [])
        {
            ls.Remote.Remove(key);
        }
    }

    // ---- phase 6: resend ----

    private void Resend(Lockspace ls)
    {
        foreach (var rsb in ls.Resources)
        {
            if (rsb.Master == _selfId && rsb.RemasterPending)
            {
                ls.Engine.GrantPending(rsb, recover: true);
            }
        }

        PhaseWorkDone(ls);
        foreach (var lkb in ls.Locks)
        {
            if (lkb.Pending != PendingOp.None && (!lkb.Sent || !lkb.AppliedHere || lkb.Resource.Master != _selfId))
            {
                lkb.Sent = false;
                Dispatch(ls, lkb);
            }
        }
    }

    private void FinishRecovery(Lockspace ls)
    {
        ls.Running = true;
        ls.Phase = DlmRecoveryPhase.Running;
        ls.RunMembers = ls.RecMembers;
        ls.Replaced.Clear();
        foreach (var rsb in ls.Resources)
        {
            rsb.RemasterPending = false;
            rsb.RemasterStrong = false;
        }

        Publish(new DlmRecoveryProgress(ls.Name, ls.Seq, DlmRecoveryPhase.Running, ls.RecMembers));
        if (!ls.Joined)
        {
            ls.Joined = true;
            Publish(new DlmJoined(ls.JoinToken, ls.Name, ls.Id, null));
        }

        var deferred = ls.Deferred.ToArray();
        ls.Deferred.Clear();
        foreach (var d in deferred)
        {
            d();
        }

        foreach (var lkb in ls.Locks.ToArray())
        {
            Dispatch(ls, lkb);
        }

        Reconsider(ls);
    }
}
