using Cohort.Cores;
using Cohort.Host.Agent;
using Cohort.Locking;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cohort.Host.Tests.Agent;

/// <summary>
/// The agent's <see cref="IDistributedLockManager"/> without a core: what it posts, what it refuses before posting (as
/// the doc comments of <see cref="ILockspace"/> and <see cref="LockHandle"/> say), and how the core's events complete
/// its calls. The "core" here is the test, answering with events.
/// </summary>
public sealed class DistributedLockManagerTests
{
    private const int LockspaceId = 7;

    private readonly List<object> _posted = [];
    private DistributedLockManager _manager = null!;

    [SetUp]
    public void Create()
    {
        _posted.Clear();
        _manager = new DistributedLockManager(NullLogger.Instance);
        _manager.Attach(input => _posted.Add(((LocalRequest)input).Request));
    }

    private async Task<ILockspace> JoinAsync(string name = "ls", int valueBlockLength = 32)
    {
        var joining = _manager.JoinAsync(name, valueBlockLength);
        var join = _posted.OfType<DlmJoin>().Last();
        _manager.OnEvent(new DlmJoined(join.Token, name, LockspaceId, null));
        return await joining;
    }

    private DlmOperation LastOperation => _posted.OfType<DlmOperation>().Last();

    private async Task<LockHandle> GrantedAsync(LockMode mode, FencingToken token = default)
    {
        var ls = await JoinAsync();
        var handle = ls.CreateLock("r"u8);
        var locking = handle.LockAsync(mode);
        _manager.OnEvent(new DlmCompleted(LockspaceId, LastOperation.LockId, new LockResult(LockStatus.Granted, mode, LockResultFlags.None, token), default));
        Assert.That((await locking).Status, Is.EqualTo(LockStatus.Granted));
        return handle;
    }

    [Test]
    public void Dlm_facade_refuses_lockspace_names_outside_1_to_64_bytes_and_bad_value_block_lengths()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => _manager.JoinAsync(""), Throws.TypeOf<LockspaceJoinException>().With.Message.Contains("1 to 64 bytes"));
            Assert.That(() => _manager.JoinAsync(new string('é', 33)), Throws.TypeOf<LockspaceJoinException>().With.Message.Contains("66 bytes"));
            Assert.That(() => _manager.JoinAsync("ls", 12), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => _manager.JoinAsync("ls", 0), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => _manager.JoinAsync(null!), Throws.ArgumentNullException);
        });
        Assert.That(_posted, Is.Empty, "nothing reached the core");
    }

    [Test]
    public async Task Dlm_facade_joins_once_per_name_and_refuses_another_value_block_length()
    {
        var first = _manager.JoinAsync("ls", 16);
        var second = _manager.JoinAsync("ls", 16);
        Assert.That(_posted.OfType<DlmJoin>().Single(), Is.EqualTo(new DlmJoin(1, "ls", 16)));
        Assert.That(() => _manager.JoinAsync("ls", 32), Throws.TypeOf<LockspaceJoinException>().With.Message.Contains("value blocks of 16 bytes, not 32"));

        _manager.OnEvent(new DlmJoined(1, "ls", LockspaceId, null));
        var ls = await first;
        Assert.Multiple(async () =>
        {
            Assert.That(await second, Is.SameAs(ls));
            Assert.That(ls.Name, Is.EqualTo("ls"));
            Assert.That(ls.ValueBlockLength, Is.EqualTo(16));
        });
    }

    [Test]
    public void Dlm_facade_reports_a_failed_join_with_the_core_s_reason()
    {
        var joining = _manager.JoinAsync("ls");
        _manager.OnEvent(new DlmJoined(1, "ls", 0, "the members use value blocks of 64 bytes"));
        Assert.That(async () => await joining, Throws.TypeOf<LockspaceJoinException>().With.Message.EqualTo("joining lockspace \"ls\" failed: the members use value blocks of 64 bytes"));
    }

    [Test]
    public void Dlm_facade_without_a_core_refuses_to_join()
    {
        var detached = new DistributedLockManager(NullLogger.Instance);
        Assert.That(() => detached.JoinAsync("ls"), Throws.InvalidOperationException.With.Message.Contains("cluster document"));
    }

    [Test]
    public async Task Dlm_facade_refuses_resource_names_outside_1_to_64_bytes()
    {
        var ls = await JoinAsync();
        Assert.Multiple(() =>
        {
            Assert.That(() => ls.CreateLock([]), Throws.ArgumentException.With.Property("ParamName").EqualTo("resource"));
            Assert.That(() => ls.CreateLock(new byte[65]), Throws.ArgumentException.With.Property("ParamName").EqualTo("resource"));
            Assert.That(ls.CreateLock(new byte[64]).Resource.Length, Is.EqualTo(64), "binary, 64 bytes");
        });
    }

    [TestCase(LockMode.Exclusive, LockFlags.QueueConvert)]
    [TestCase(LockMode.Exclusive, LockFlags.ConvertDeadlock)]
    [TestCase(LockMode.Exclusive, LockFlags.Expedite)]
    [TestCase(LockMode.ProtectedRead, LockFlags.Convert)]
    [TestCase(LockMode.ProtectedRead, LockFlags.InvalidateValueBlock)]
    [TestCase(LockMode.ProtectedRead, (LockFlags)0x2)]
    public async Task Dlm_facade_refuses_flags_that_are_not_for_a_new_request(LockMode mode, LockFlags flags)
    {
        var handle = (await JoinAsync()).CreateLock("r"u8);
        Assert.That(() => handle.LockAsync(mode, flags), Throws.ArgumentException);
        Assert.That(_posted.OfType<DlmOperation>(), Is.Empty);
        Assert.That(handle.GrantedMode, Is.Null);
    }

    [Test]
    public async Task Dlm_facade_takes_expedite_on_a_new_null_mode_request()
    {
        var handle = (await JoinAsync()).CreateLock("r"u8);
        var pending = handle.LockAsync(LockMode.Null, LockFlags.Expedite);
        Assert.That(pending.IsCompleted, Is.False, "waits for the core");
        Assert.That(LastOperation, Is.EqualTo(LastOperation with { Kind = DlmOperationKind.Lock, Lockspace = LockspaceId, Mode = LockMode.Null, Flags = LockFlags.Expedite }));
        Assert.That(LastOperation.Resource.ToArray(), Is.EqualTo("r"u8.ToArray()));
    }

    [Test]
    public async Task Dlm_facade_refuses_a_second_operation_while_one_is_in_flight_and_converts_or_unlocks_of_nothing()
    {
        var handle = (await JoinAsync()).CreateLock("r"u8);
        Assert.Multiple(() =>
        {
            Assert.That(() => handle.ConvertAsync(LockMode.Exclusive), Throws.InvalidOperationException.With.Message.Contains("holds nothing"));
            Assert.That(() => handle.UnlockAsync(), Throws.InvalidOperationException.With.Message.Contains("holds nothing"));
            Assert.That(handle.Cancel(), Is.False, "nothing in flight");
        });

        var pending = handle.LockAsync(LockMode.Exclusive);
        Assert.That(pending.IsCompleted, Is.False, "waits for the core");
        Assert.Multiple(() =>
        {
            Assert.That(() => handle.LockAsync(LockMode.Exclusive), Throws.InvalidOperationException.With.Message.Contains("in flight"));
            Assert.That(() => handle.UnlockAsync(), Throws.InvalidOperationException.With.Message.Contains("in flight"));
        });
        Assert.That(_posted.OfType<DlmOperation>().Count(), Is.EqualTo(1));
    }

    [Test]
    public async Task Dlm_facade_a_grant_sets_the_mode_and_token_and_a_held_lock_refuses_a_new_request()
    {
        var token = new FencingToken(4, 1, 9);
        var handle = await GrantedAsync(LockMode.Exclusive, token);
        Assert.Multiple(() =>
        {
            Assert.That(handle.GrantedMode, Is.EqualTo(LockMode.Exclusive));
            Assert.That(handle.Token, Is.EqualTo(token));
            Assert.That(() => handle.LockAsync(LockMode.Exclusive), Throws.InvalidOperationException.With.Message.Contains("holds Exclusive"));
            Assert.That(() => handle.ConvertAsync(LockMode.ProtectedRead, LockFlags.QueueConvert), Throws.ArgumentException.With.Message.Contains("up-conversions only"));
            Assert.That(() => handle.ConvertAsync(LockMode.Null, LockFlags.Expedite), Throws.ArgumentException);
            Assert.That(() => handle.UnlockAsync(LockFlags.NoQueue), Throws.ArgumentException);
        });
    }

    [Test]
    public async Task Dlm_facade_unlock_from_ex_with_valblk_hands_the_core_a_copy_of_the_value_block_and_then_holds_nothing()
    {
        var handle = await GrantedAsync(LockMode.Exclusive, new FencingToken(4, 1, 1));
        handle.ValueBlock.Span.Fill(0x5a);
        var unlocking = handle.UnlockAsync(LockFlags.ValueBlock);
        var unlock = LastOperation;
        Assert.That(unlock.Kind, Is.EqualTo(DlmOperationKind.Unlock));
        Assert.That(unlock.Resource.IsEmpty, Is.True);
        Assert.That(unlock.ValueBlock.ToArray(), Is.EqualTo(Enumerable.Repeat((byte)0x5a, 32).ToArray()));

        _manager.OnEvent(new DlmCompleted(LockspaceId, unlock.LockId, new LockResult(LockStatus.Unlocked, LockMode.Null, LockResultFlags.None, default), default));
        Assert.That((await unlocking).Status, Is.EqualTo(LockStatus.Unlocked));
        Assert.That(handle.GrantedMode, Is.Null);
        Assert.That(handle.Token, Is.EqualTo(new FencingToken(4, 1, 1)), "the last PW/EX grant's token stays");

        var pending = handle.LockAsync(LockMode.ProtectedRead);
        Assert.That(pending.IsCompleted, Is.False, "waits for the core");
        Assert.That(LastOperation.LockId, Is.Not.EqualTo(unlock.LockId), "a new lock, a new id");
    }

    [Test]
    public async Task Dlm_facade_a_cancel_reaches_the_core_only_while_its_operation_is_in_flight()
    {
        var handle = (await JoinAsync()).CreateLock("r"u8);
        var locking = handle.LockAsync(LockMode.Exclusive);
        var id = LastOperation.LockId;
        Assert.That(handle.Cancel(), Is.True);
        var cancel = _posted.OfType<DistributedLockManager.CancelRequest>().Single();
        Assert.That(cancel.Operation, Is.EqualTo(new DlmOperation(DlmOperationKind.Cancel, LockspaceId, id, default, LockMode.Null, LockFlags.None, default)));

        // Granted before the cancel got to the core: the cancel is dropped, not sent for a lock that completed.
        _manager.OnEvent(new DlmCompleted(LockspaceId, id, new LockResult(LockStatus.Granted, LockMode.Exclusive, LockResultFlags.None, default), default));
        await locking;
        Assert.That(cancel.Operation, Is.Null);
        Assert.That(handle.Cancel(), Is.False, "nothing in flight");
    }

    [Test]
    public async Task Dlm_facade_a_blocking_notification_reaches_the_callback_of_a_granted_lock()
    {
        var ls = await JoinAsync();
        var blocked = new List<LockMode>();
        var handle = ls.CreateLock("r"u8, (h, mode) => blocked.Add(mode));
        var locking = handle.LockAsync(LockMode.ProtectedRead);
        var id = LastOperation.LockId;
        _manager.OnEvent(new DlmCompleted(LockspaceId, id, new LockResult(LockStatus.Granted, LockMode.ProtectedRead, LockResultFlags.None, default), default));
        await locking;

        _manager.OnEvent(new DlmBlocking(LockspaceId, id, LockMode.Exclusive));
        Assert.That(blocked, Is.EqualTo(new[] { LockMode.Exclusive }));
    }

    [Test]
    public async Task Dlm_facade_draining_cancels_what_is_in_flight_unlocks_what_is_held_and_refuses_new_locks()
    {
        var held = await GrantedAsync(LockMode.Exclusive);
        var heldId = LastOperation.LockId;
        var waiting = (await JoinAsync()).CreateLock("w"u8);
        var request = waiting.LockAsync(LockMode.Exclusive);
        var waitingId = LastOperation.LockId;

        var draining = _manager.DrainAsync(CancellationToken.None);
        Assert.Multiple(() =>
        {
            Assert.That(_posted.OfType<DlmOperation>().Last(o => o.LockId == heldId).Kind, Is.EqualTo(DlmOperationKind.Unlock));
            Assert.That(_posted.OfType<DistributedLockManager.CancelRequest>().Single().Operation?.LockId, Is.EqualTo(waitingId));
            Assert.That(() => _manager.JoinAsync("ls").Result.CreateLock("n"u8).LockAsync(LockMode.Null), Throws.InvalidOperationException.With.Message.Contains("leaving"));
            Assert.That(draining.IsCompleted, Is.False);
        });

        _manager.OnEvent(new DlmCompleted(LockspaceId, heldId, new LockResult(LockStatus.Unlocked, LockMode.Null, LockResultFlags.None, default), default));
        _manager.OnEvent(new DlmCompleted(LockspaceId, waitingId, new LockResult(LockStatus.Cancelled, LockMode.Null, LockResultFlags.None, default), default));
        await draining.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Multiple(async () =>
        {
            Assert.That((await request).Status, Is.EqualTo(LockStatus.Cancelled));
            Assert.That(held.GrantedMode, Is.Null);
            Assert.That(waiting.GrantedMode, Is.Null);
        });
    }

    [Test]
    public async Task Dlm_facade_stopping_fails_what_is_in_flight()
    {
        var handle = (await JoinAsync()).CreateLock("r"u8);
        var locking = handle.LockAsync(LockMode.Exclusive);
        var joining = _manager.JoinAsync("other");
        _manager.Stop("the agent is stopping");
        Assert.Multiple(() =>
        {
            Assert.That(async () => await locking, Throws.InvalidOperationException.With.Message.Contains("the agent is stopping"));
            Assert.That(async () => await joining, Throws.TypeOf<LockspaceJoinException>());
            Assert.That(() => handle.LockAsync(LockMode.Exclusive), Throws.InvalidOperationException.With.Message.Contains("stopped"));
        });
    }
}
