using Cohort.Locking;
using Cohort.Membership;

namespace Cohort.Dlm.Tests;

/// <summary>The distributed core: mastering, message counts, tokens, recovery behind the fencing gate.</summary>
public class DlmCoreTests
{
    private static readonly byte[] Value1 = [1, 0, 0, 0, 0, 0, 0, 0];

    private static DlmHarness Joined(int nodes, DlmMutant mutant = DlmMutant.None, TimeSpan? cacheTime = null, int valueBlock = 32)
    {
        var h = new DlmHarness(nodes, mutant, cacheTime);
        h.InstallView([.. Enumerable.Range(1, nodes)]);
        h.JoinAll(valueBlock: valueBlock);
        return h;
    }

    private static LockResult Granted(DlmHarness h, int node, long id)
    {
        var c = h.Completion(node, id);
        Assert.That(c, Is.Not.Null, $"lock {id} on node {node} completed");
        Assert.That(c!.Result.Status, Is.EqualTo(LockStatus.Granted), $"lock {id} on node {node}");
        return c.Result;
    }

    [Test]
    public void A_lone_node_grants_at_once()
    {
        var h = Joined(1);
        var id = h.Lock(1, "r", LockMode.Exclusive);
        Assert.That(Granted(h, 1, id).Mode, Is.EqualTo(LockMode.Exclusive));
    }

    [Test]
    public void A_locally_mastered_lock_and_unlock_send_no_message()
    {
        var h = Joined(3);
        var first = h.Lock(1, "local", LockMode.Exclusive);
        h.DeliverAll();
        Granted(h, 1, first);
        h.Unlock(1, first);
        h.DeliverAll();
        var sent = h.Sent;
        for (var i = 0; i < 10; i++)
        {
            var id = h.Lock(1, "local", LockMode.Exclusive);
            Granted(h, 1, id);
            h.Unlock(1, id);
            Assert.That(h.Completion(1, id)!.Result.Status, Is.EqualTo(LockStatus.Unlocked));
        }

        Assert.That(h.Sent, Is.EqualTo(sent), "no frame for a resource mastered here");
    }

    [Test]
    public void A_remote_master_costs_one_round_trip_per_operation()
    {
        var h = Joined(3);
        var first = h.Lock(1, "remote", LockMode.Exclusive);
        h.DeliverAll();
        h.Unlock(1, first);
        h.DeliverAll();

        // Node 2 asks once (lookup), then its cached master answers each operation in one round trip.
        var warm = h.Lock(2, "remote", LockMode.Exclusive);
        h.DeliverAll();
        Granted(h, 2, warm);
        h.Unlock(2, warm);
        h.DeliverAll();
        var sent = h.Sent;
        var id = h.Lock(2, "remote", LockMode.ProtectedRead);
        Assert.That(h.Pending, Is.EqualTo(1), "one request");
        h.DeliverOne();
        Assert.That(h.Pending, Is.EqualTo(1), "one reply");
        h.DeliverOne();
        Granted(h, 2, id);
        h.Unlock(2, id);
        h.DeliverAll();
        Assert.That(h.Sent - sent, Is.EqualTo(4), "lock and unlock: two round trips");
    }

    private static int Completions(DlmHarness h, int node, long id) =>
        h.Events.Count(e => e.Node == node && e.Event is DlmCompleted c && c.LockId == id);

    /// <summary>Node 2 holds EX on a resource node 1 masters; returns the lock.</summary>
    private static long HeldRemotely(DlmHarness h, string resource, LockFlags flags = LockFlags.None)
    {
        var master = h.Lock(1, resource, LockMode.Null); // node 1 masters it
        h.DeliverAll();
        Granted(h, 1, master);
        var ex = h.Lock(2, resource, LockMode.Exclusive, flags);
        h.DeliverAll();
        Granted(h, 2, ex);
        return ex;
    }

    [Test]
    public void A_remote_unlock_completes_as_it_goes_out_and_the_master_frees_the_lock_when_it_arrives()
    {
        var h = Joined(3);
        var ex = HeldRemotely(h, "u");
        var waiter = h.Lock(3, "u", LockMode.Null); // node 3 learns the master
        h.DeliverAll();
        Granted(h, 3, waiter);

        h.Convert(3, waiter, LockMode.Exclusive); // on the wire first: the master blocks it and notifies node 2 ...
        h.Unlock(2, ex);                          // ... whose unlock is already on its way
        Assert.That(h.Completion(2, ex)?.Result.Status, Is.EqualTo(LockStatus.Unlocked), "completed as it went out (VMS's $DEQ)");
        h.DeliverOne();
        Assert.That(h.Completion(3, waiter)!.Result.Mode, Is.EqualTo(LockMode.Null), "the master has not freed it yet: the conversion waits");
        h.DeliverAll();
        Assert.Multiple(() =>
        {
            Assert.That(Granted(h, 3, waiter).Mode, Is.EqualTo(LockMode.Exclusive), "freed when the unlock arrived");
            Assert.That(Completions(h, 2, ex), Is.EqualTo(2), "the grant and the unlock: the master's answer completes nothing again");
            Assert.That(h.Events.Any(e => e.Node == 2 && e.Event is DlmBlocking b && b.LockId == ex), Is.False,
                "no blocking notification for a lock its client released");
        });
    }

    [Test]
    public void An_unlock_that_writes_the_value_block_completes_when_the_master_has_it()
    {
        var h = Joined(3, valueBlock: 8);
        var ex = HeldRemotely(h, "w", LockFlags.ValueBlock);
        h.Unlock(2, ex, LockFlags.ValueBlock, Value1);
        Assert.That(h.Completion(2, ex)!.Result.Status, Is.EqualTo(LockStatus.Granted), "the unlock waits for the master, as in Linux: a reader told of it reads what it wrote");
        h.DeliverAll();
        Assert.That(h.Completion(2, ex)?.Result.Status, Is.EqualTo(LockStatus.Unlocked));

        var again = h.Lock(2, "w", LockMode.Exclusive);
        h.DeliverAll();
        Granted(h, 2, again);
        h.Unlock(2, again, LockFlags.InvalidateValueBlock);
        Assert.That(h.Completion(2, again)!.Result.Status, Is.EqualTo(LockStatus.Granted), "an unlock that invalidates the value block waits too");
        h.DeliverAll();
        Assert.That(h.Completion(2, again)?.Result.Status, Is.EqualTo(LockStatus.Unlocked));
    }

    // Node 3 dying: the master drops the unlock on the wire (an older recovery sequence) and the resend phase sends
    // it again. Node 1, the master, dying: the unlock in flight to it is taken as done.
    [TestCase(3, 1, TestName = "A released unlock lost to a recovery is resent and completes once")]
    [TestCase(1, 3, TestName = "A released unlock whose master dies completes once")]
    public void A_released_unlock_survives_a_recovery(int dying, int prober)
    {
        var h = Joined(3);
        var ex = HeldRemotely(h, "r");
        h.Unlock(2, ex);
        Assert.That(h.Completion(2, ex)?.Result.Status, Is.EqualTo(LockStatus.Unlocked));

        var dead = h.Inc(dying);
        h.Crash(dying); // with the unlock on the wire
        h.InstallView(2, prober);
        h.OpenGate(2, dead);
        h.OpenGate(prober, dead);
        h.DeliverAll();
        var probe = h.Lock(prober, "r", LockMode.Exclusive, LockFlags.NoQueue);
        h.DeliverAll();
        Assert.Multiple(() =>
        {
            Assert.That(Granted(h, prober, probe).Mode, Is.EqualTo(LockMode.Exclusive), "nothing of node 2's is held any more");
            Assert.That(Completions(h, 2, ex), Is.EqualTo(2), "the grant and the unlock");
        });
    }

    [Test]
    public void A_dump_shows_a_resource_with_its_master_directory_node_queues_and_token()
    {
        var h = Joined(3);
        var ex = h.Lock(1, "d", LockMode.Exclusive); // node 1 masters it
        h.DeliverAll();
        var token = Granted(h, 1, ex).Token;
        var pr = h.Lock(2, "d", LockMode.ProtectedRead);
        h.DeliverAll();

        var master = h[1].Dump("ls", 10)!;
        var other = h[2].Dump("ls", 10)!;
        var dir = DirectoryHash.Node(DirectoryHash.Of("d"u8.ToArray()), [1, 2, 3]);
        Assert.Multiple(() =>
        {
            var r = master.Resources.Single();
            Assert.That((r.Master, r.MasteredHere, r.DirectoryNode), Is.EqualTo((1, true, dir)));
            Assert.That(r.Granted.Select(l => (l.Owner, l.LockId, l.Granted)), Is.EqualTo(new[] { (h.Inc(1), ex, (LockMode?)LockMode.Exclusive) }));
            Assert.That(r.Waiting.Select(l => (l.Owner, l.LockId, l.Requested)), Is.EqualTo(new[] { (h.Inc(2), pr, (LockMode?)LockMode.ProtectedRead) }));
            Assert.That(r.LastToken, Is.EqualTo(token));

            var mine = other.Resources.Single();
            Assert.That((mine.Master, mine.MasteredHere), Is.EqualTo((1, false)), "node 2 knows the master");
            Assert.That(mine.Waiting.Select(l => l.LockId), Is.EqualTo(new[] { pr }), "and its own lock, waiting");
            Assert.That(mine.Granted, Is.Empty);
            Assert.That(h[3].Dump("ls", 10)!.Resources, Is.Empty, "node 3 knows nothing of it");
            Assert.That(h[1].Dump("no-such", 10), Is.Null);
        });
    }

    [Test]
    public void The_first_node_to_ask_masters_a_resource()
    {
        var h = Joined(3);
        var id = h.Lock(3, "mine", LockMode.Exclusive);
        h.DeliverAll();
        Granted(h, 3, id);
        Assert.That(h[3].Status.Lockspaces[0].Mastered, Is.EqualTo(1));
        Assert.That(h[1].Status.Lockspaces[0].Mastered + h[2].Status.Lockspaces[0].Mastered, Is.Zero);
    }

    [Test]
    public void A_conflicting_remote_request_waits_and_the_holder_is_notified()
    {
        var h = Joined(2);
        var holder = h.Lock(1, "r", LockMode.Exclusive);
        h.DeliverAll();
        Granted(h, 1, holder);
        var waiter = h.Lock(2, "r", LockMode.ProtectedRead);
        h.DeliverAll();
        Assert.Multiple(() =>
        {
            Assert.That(h.Completion(2, waiter), Is.Null, "waits");
            Assert.That(h.Events.Any(e => e.Node == 1 && e.Event is DlmBlocking { Mode: LockMode.ProtectedRead } b && b.LockId == holder), "blocking notification with the blocked mode");
        });
        h.Unlock(1, holder);
        h.DeliverAll();
        Assert.That(Granted(h, 2, waiter).Mode, Is.EqualTo(LockMode.ProtectedRead));
    }

    [TestCase(DlmMutant.None)]
    [TestCase(DlmMutant.TokenReset)]
    public void Tokens_grow_after_the_master_drops_the_resource_and_another_node_takes_it(DlmMutant mutant)
    {
        var h = Joined(3, mutant, cacheTime: TimeSpan.FromSeconds(1));
        FencingToken last = default;
        for (var i = 0; i < 3; i++)
        {
            var id = h.Lock(1, "t", LockMode.Exclusive);
            h.DeliverAll();
            last = Granted(h, 1, id).Token;
            h.Unlock(1, id);
            h.DeliverAll();
        }

        // Idle for two scans past the cache time: node 1 drops it, handing the counter to the directory.
        for (var i = 0; i < 4; i++)
        {
            h.Now += TimeSpan.FromSeconds(1);
            foreach (var n in new[] { 1, 2, 3 })
            {
                h.FireTimers(n);
            }

            h.DeliverAll();
        }

        Assert.That(h[1].Status.Lockspaces[0].Mastered, Is.Zero, "dropped from node 1's cache");
        var next = h.Lock(2, "t", LockMode.Exclusive);
        h.DeliverAll();
        var token = Granted(h, 2, next).Token;
        Assert.That(h[2].Status.Lockspaces[0].Mastered, Is.EqualTo(1), "node 2 masters it now");
        if (mutant == DlmMutant.None)
        {
            Assert.That(token, Is.GreaterThan(last));
        }
        else
        {
            Assert.That(token, Is.LessThanOrEqualTo(last), "the mutant starts the counter again");
        }
    }

    [Test]
    public void Tokens_grow_after_the_master_dies()
    {
        var h = Joined(3);
        var own = h.Lock(1, "m", LockMode.Null); // node 1 masters it
        h.DeliverAll();
        var ex = h.Lock(3, "m", LockMode.Exclusive);
        h.DeliverAll();
        var last = Granted(h, 3, ex).Token;
        h.Unlock(3, ex);
        h.DeliverAll();
        Assert.That(own, Is.Positive);

        var dead = h.Inc(1);
        h.Crash(1);
        h.InstallView(2, 3);
        h.DeliverAll();
        h.OpenGate(2, dead);
        h.OpenGate(3, dead);
        h.DeliverAll();
        var next = h.Lock(2, "m", LockMode.Exclusive);
        h.DeliverAll();
        Assert.That(Granted(h, 2, next).Token, Is.GreaterThan(last));
    }

    [Test]
    public void Nothing_a_departed_holder_held_is_granted_before_its_gate_opens()
    {
        var h = Joined(3);
        var held = h.Lock(1, "g", LockMode.Exclusive);
        h.DeliverAll();
        Granted(h, 1, held);
        var dead = h.Inc(1);
        h.Crash(1);
        h.InstallView(2, 3);
        var waiter = h.Lock(3, "g", LockMode.Exclusive);
        h.DeliverAll();
        Assert.That(h.Completion(3, waiter), Is.Null, "waits for the gate");
        Assert.That(h.Events.Any(e => e.Event is DlmAwaitGate a && a.Incarnation == dead), "asks for the gate");
        h.OpenGate(2, dead);
        h.DeliverAll();
        Assert.That(h.Completion(3, waiter), Is.Null, "one member's gate is not enough: every member waits");
        h.OpenGate(3, dead);
        h.DeliverAll();
        Assert.That(Granted(h, 3, waiter).Mode, Is.EqualTo(LockMode.Exclusive), "granted once the departed holder is known dead, without failing");
    }

    [Test]
    public void A_lockspace_formed_in_a_view_that_reports_a_departed_incarnation_grants_nothing_before_its_gate_opens()
    {
        // Seed 141 of the simulation: node 4 sits in a partition holding PR while nodes 1 to 3 all restart. Their
        // lockspace never ran with 4#1; only membership's report of it as departed (startup fencing) stands
        // between them and an EX grant beside the PR.
        var h = Joined(4);
        var pr = h.Lock(4, "h1", LockMode.ProtectedRead);
        h.DeliverAll();
        Granted(h, 4, pr);
        var partitioned = h.Inc(4);
        h.DropFramesOf(4);
        foreach (var n in new[] { 1, 2, 3 })
        {
            h.Crash(n);
            h.StartNode(n);
        }

        h.DropFramesOf(4);
        h.InstallView([1, 2, 3], [partitioned]);
        foreach (var n in new[] { 1, 2, 3 })
        {
            h.Step(n, new Cores.LocalRequest(new DlmJoin(1, "ls", 32)));
        }

        h.DeliverAll();
        foreach (var n in new[] { 1, 2, 3 })
        {
            Assert.That(h.Lockspaces.ContainsKey(n), Is.False, $"node {n} has not finished the recovery that forms the lockspace");
            Assert.That(h.Events.Any(e => e.Node == n && e.Event is DlmAwaitGate a && a.Incarnation == partitioned), $"node {n} asks for the gate of {partitioned}");
        }

        h.OpenGate(1, partitioned);
        h.OpenGate(2, partitioned);
        h.DeliverAll();
        Assert.That(h.Lockspaces.Keys.Where(n => n != 4), Is.Empty, "every member waits for the gate");
        h.OpenGate(3, partitioned);
        h.DeliverAll();
        var ex = h.Lock(2, "h1", LockMode.Exclusive);
        h.DeliverAll();
        Assert.That(Granted(h, 2, ex).Mode, Is.EqualTo(LockMode.Exclusive), "granted once the partitioned holder is known dead");
    }

    [Test]
    public void Survivors_keep_their_locks_across_a_recovery_that_remasters()
    {
        var h = Joined(3);
        var master = h.Lock(1, "s", LockMode.Null); // node 1 masters it
        h.DeliverAll();
        var pr = h.Lock(2, "s", LockMode.ProtectedRead);
        h.DeliverAll();
        Granted(h, 2, pr);
        var dead = h.Inc(1);
        h.Crash(1);
        h.InstallView(2, 3);
        h.OpenGate(2, dead);
        h.OpenGate(3, dead);
        h.DeliverAll();
        Assert.That(master, Is.Positive);
        var ex = h.Lock(3, "s", LockMode.Exclusive, LockFlags.NoQueue);
        h.DeliverAll();
        Assert.That(h.Completion(3, ex)!.Result.Status, Is.EqualTo(LockStatus.WouldBlock), "node 2's PR survived the remaster");
        h.Unlock(2, pr);
        h.DeliverAll();
        Assert.That(h.Completion(2, pr)!.Result.Status, Is.EqualTo(LockStatus.Unlocked));
    }

    [Test]
    public void A_value_block_written_on_unlock_is_read_by_the_next_grant_and_invalid_after_its_writer_dies()
    {
        var h = Joined(3, valueBlock: 8);
        var master = h.Lock(1, "v", LockMode.Null);
        h.DeliverAll();
        var w = h.Lock(2, "v", LockMode.Exclusive, LockFlags.ValueBlock);
        h.DeliverAll();
        h.Unlock(2, w, LockFlags.ValueBlock, Value1);
        h.DeliverAll();
        var r = h.Lock(3, "v", LockMode.ProtectedRead, LockFlags.ValueBlock);
        h.DeliverAll();
        var read = h.Completion(3, r)!;
        Assert.That(read.ValueBlock.ToArray(), Is.EqualTo(Value1));
        h.Unlock(3, r);
        h.DeliverAll();

        // A PW holder dies: the master marks the value block not valid.
        var pw = h.Lock(2, "v", LockMode.ProtectedWrite, LockFlags.ValueBlock);
        h.DeliverAll();
        Granted(h, 2, pw);
        var dead = h.Inc(2);
        h.Crash(2);
        h.InstallView(1, 3);
        h.OpenGate(1, dead);
        h.OpenGate(3, dead);
        h.DeliverAll();
        var after = h.Lock(3, "v", LockMode.ProtectedRead, LockFlags.ValueBlock);
        h.DeliverAll();
        Assert.That(h.Completion(3, after)!.Result.Flags & LockResultFlags.ValueNotValid, Is.EqualTo(LockResultFlags.ValueNotValid));
        Assert.That(master, Is.Positive);
    }

    [Test]
    public void Joining_with_another_value_block_length_fails()
    {
        var h = new DlmHarness(2);
        h.InstallView(1, 2);
        h.Step(1, new Cores.LocalRequest(new DlmJoin(1, "ls", 32)));
        h.DeliverAll();
        h.Step(2, new Cores.LocalRequest(new DlmJoin(7, "ls", 64)));
        h.DeliverAll();
        var joined = h.Events.Where(e => e.Node == 2).Select(e => e.Event).OfType<DlmJoined>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(joined.Id, Is.Zero);
            Assert.That(joined.Error, Does.Contain("32 bytes").And.Contain("64"));
        });
    }

    [Test]
    public void Joining_with_other_directory_weights_fails()
    {
        var h = new DlmHarness(2);
        h.SetupOf = node => node == 2 ? new LockManagerSetup(new Dictionary<NodeId, int> { [new NodeId(1)] = 0 }, TimeSpan.FromSeconds(10)) : null;
        h.StartNode(2);
        h.InstallView(1, 2);
        h.Step(1, new Cores.LocalRequest(new DlmJoin(1, "ls", 32)));
        h.DeliverAll();
        h.Step(2, new Cores.LocalRequest(new DlmJoin(7, "ls", 32)));
        h.DeliverAll();
        var joined = h.Events.Where(e => e.Node == 2).Select(e => e.Event).OfType<DlmJoined>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(joined.Id, Is.Zero, "a member placing resources elsewhere would pick other masters");
            Assert.That(joined.Error, Does.Contain("Cluster:Dlm:Weight"));
            Assert.That(h[1].Status.Lockspaces.Single().Members, Has.Count.EqualTo(1), "node 1 did not take it as a member");
        });
    }

    [Test]
    public void Malformed_frames_are_counted_and_dropped_without_throwing()
    {
        var h = Joined(2);
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var frame = new byte[random.Next(1, 80)];
            random.NextBytes(frame);
            frame[0] = DlmFrames.Tag;
            if (frame.Length > 6)
            {
                // The lockspace's id, so the body is parsed.
                BitConverter.GetBytes(DirectoryHash.Of("ls"u8)).CopyTo(frame, 2);
            }

            h.Step(1, new Cores.FrameReceived(h.Inc(2), Transport.TransportLane.Data, frame));
        }

        Assert.That(h[1].Status.Lockspaces[0].RejectedFrames, Is.Positive, "counted");
    }
}
