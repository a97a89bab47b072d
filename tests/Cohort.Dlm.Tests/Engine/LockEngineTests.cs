using Cohort.Dlm.Engine;
using Cohort.Locking;
using static Cohort.Locking.LockMode;

namespace Cohort.Dlm.Tests.Engine;

/// <summary>
/// The master's queue rules, one table or case per rule of the Linux DLM (fs/dlm/lock.c, dlm_lock(3)), written
/// from the spec and driving <see cref="LockEngine"/> directly.
/// </summary>
public class LockEngineTests
{
    private sealed class Recorder : IEngineSink
    {
        public List<(long Id, LockResult Result, byte[] ValueBlock)> Completions { get; } = [];

        public List<(long Id, LockMode Mode)> Basts { get; } = [];

        public void Completed(Rsb rsb, Lkb lkb, LockResult result, ReadOnlySpan<byte> valueBlock) => Completions.Add((lkb.Id, result, valueBlock.ToArray()));

        public void Blocking(Rsb rsb, Lkb holder, LockMode mode) => Basts.Add((holder.Id, mode));

        public LockResult Last(long id) => Completions.Last(c => c.Id == id).Result;

        public bool Completed(long id) => Completions.Exists(c => c.Id == id);
    }

    private sealed class Setup(DlmMutant mutant = DlmMutant.None)
    {
        private long _next;

        public Recorder Sink { get; } = new();

        public Rsb Rsb { get; } = new("r"u8.ToArray());

        public LockEngine Run => field ??= new LockEngine(Sink, mutant);

        public Lkb Request(LockMode mode, LockFlags flags = LockFlags.None)
        {
            var lkb = new Lkb(1, ++_next);
            Run.Request(Rsb, lkb, mode, flags);
            return lkb;
        }

        public Lkb Granted(LockMode mode)
        {
            var lkb = Request(mode);
            Assert.That(lkb.GrantedMode, Is.EqualTo((sbyte)mode), $"setup: {mode} is granted");
            return lkb;
        }

        public void Convert(Lkb lkb, LockMode mode, LockFlags flags = LockFlags.None, byte[]? valueBlock = null) =>
            Run.Convert(Rsb, lkb, mode, flags | LockFlags.Convert, valueBlock);

        public void Unlock(Lkb lkb, LockFlags flags = LockFlags.None, byte[]? valueBlock = null) => Run.Unlock(Rsb, lkb, flags, valueBlock);
    }

    private static readonly LockMode[] Modes = [Null, ConcurrentRead, ConcurrentWrite, ProtectedRead, ProtectedWrite, Exclusive];

    // dlm_lock(3): the compatibility of a requested mode (row) with a granted one (column).
    private static readonly string[] CompatibilityTable =
    [
        //          NL CR CW PR PW EX
        /* NL */   "1  1  1  1  1  1",
        /* CR */   "1  1  1  1  1  0",
        /* CW */   "1  1  1  0  0  0",
        /* PR */   "1  1  0  1  0  0",
        /* PW */   "1  1  0  0  0  0",
        /* EX */   "1  0  0  0  0  0",
    ];

    private static IEnumerable<TestCaseData> CompatibilityCases()
    {
        for (var r = 0; r < 6; r++)
        {
            var row = CompatibilityTable[r].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (var g = 0; g < 6; g++)
            {
                yield return new TestCaseData(Modes[g], Modes[r], row[g] == "1").SetName($"{Modes[r]} beside a granted {Modes[g]}: {(row[g] == "1" ? "granted" : "waits")}");
            }
        }
    }

    [TestCaseSource(nameof(CompatibilityCases))]
    public void A_new_request_beside_one_granted_lock_follows_the_matrix(LockMode granted, LockMode requested, bool compatible)
    {
        var s = new Setup();
        var holder = s.Granted(granted);
        var request = s.Request(requested);
        Assert.That(request.IsGranted, Is.EqualTo(compatible));
        Assert.That(LockEngine.Compatible(requested, granted), Is.EqualTo(compatible));
        Assert.That(s.Sink.Basts, compatible ? Is.Empty : Is.EqualTo(new[] { (holder.Id, requested) }), "the holder is told what it blocks");
    }

    [Test]
    public void A_compatible_new_request_waits_behind_a_waiting_one()
    {
        var s = new Setup();
        s.Granted(ProtectedRead);
        var ex = s.Request(Exclusive);
        var pr = s.Request(ProtectedRead);
        Assert.That((ex.IsGranted, pr.IsGranted), Is.EqualTo((false, false)), "PR is compatible with the granted PR but the wait queue is not empty");
    }

    [Test]
    public void A_compatible_new_request_waits_behind_a_queued_conversion()
    {
        var s = new Setup();
        s.Granted(ConcurrentRead);
        var converting = s.Granted(ProtectedRead);
        s.Granted(ProtectedRead);
        s.Convert(converting, Exclusive);
        Assert.That(converting.Queue, Is.EqualTo(LkbQueue.Convert));
        var cr = s.Request(ConcurrentRead);
        Assert.That(cr.IsGranted, Is.False, "CR is compatible with every granted mode but the convert queue is not empty");
    }

    [Test]
    public void A_conversion_is_granted_in_place_past_waiting_requests()
    {
        var s = new Setup();
        var holder = s.Granted(ConcurrentRead);
        var waiter = s.Request(Exclusive);
        s.Convert(holder, ProtectedRead);
        Assert.That((holder.GrantedMode, waiter.IsGranted), Is.EqualTo(((sbyte)ProtectedRead, false)));
    }

    [TestCase(false, true, TestName = "QUECVT with an empty convert queue: granted in place")]
    [TestCase(true, false, TestName = "QUECVT behind a queued conversion: queued although compatible")]
    public void A_conversion_with_QUECVT_goes_behind_the_convert_queue(bool queueBusy, bool granted)
    {
        var s = new Setup();
        var a = s.Granted(ConcurrentRead);
        var b = s.Granted(ConcurrentRead);
        var c = s.Granted(ConcurrentRead);
        if (queueBusy)
        {
            s.Granted(ConcurrentWrite);
            s.Convert(c, ProtectedRead); // blocked by the CW holder
            Assert.That(c.Queue, Is.EqualTo(LkbQueue.Convert));
        }

        s.Convert(a, ConcurrentWrite, LockFlags.QueueConvert);
        Assert.That(a.GrantedMode == (sbyte)ConcurrentWrite, Is.EqualTo(granted));
        s.Convert(b, ConcurrentWrite); // the same conversion without QUECVT
        Assert.That(b.GrantedMode, Is.EqualTo((sbyte)ConcurrentWrite), "without QUECVT it is granted in place");
    }

    [Test]
    public void Queued_conversions_are_granted_first_in_first_out_and_before_waiting_requests()
    {
        var s = new Setup();
        var ex = s.Granted(Exclusive);
        var first = s.Granted(Null);
        var second = s.Granted(Null);
        s.Convert(first, Exclusive);
        s.Convert(second, ProtectedRead);
        var waiter = s.Request(ConcurrentRead);
        s.Unlock(ex);
        Assert.That(first.GrantedMode, Is.EqualTo((sbyte)Exclusive), "the first conversion is granted");
        Assert.That((second.Queue, waiter.Queue), Is.EqualTo((LkbQueue.Convert, LkbQueue.Wait)), "the rest waits behind it");
        s.Unlock(first);
        var order = s.Sink.Completions.Where(c => c.Result.Status == LockStatus.Granted).Select(c => c.Id).TakeLast(2);
        Assert.That(order, Is.EqualTo(new[] { second.Id, waiter.Id }), "the conversion before the new request");
    }

    [Test]
    public void A_conversion_that_would_wait_on_one_waiting_on_it_is_refused_as_a_deadlock()
    {
        var s = new Setup();
        var a = s.Granted(ProtectedRead);
        var b = s.Granted(ProtectedRead);
        s.Convert(a, Exclusive);
        Assert.That(a.Queue, Is.EqualTo(LkbQueue.Convert));
        s.Convert(b, Exclusive);
        Assert.That(s.Sink.Last(b.Id), Is.EqualTo(new LockResult(LockStatus.Deadlock, ProtectedRead, LockResultFlags.None, FencingToken.None)));
        Assert.That((b.GrantedMode, b.Queue), Is.EqualTo(((sbyte)ProtectedRead, LkbQueue.Grant)), "left granted in its mode");
        Assert.That(a.Queue, Is.EqualTo(LkbQueue.Convert), "the other conversion still waits (on b's PR)");
    }

    [Test]
    public void CONVDEADLK_demotes_the_conversion_to_NL_which_lets_the_other_through()
    {
        var s = new Setup();
        var a = s.Granted(ProtectedRead);
        var b = s.Granted(ProtectedRead);
        s.Convert(a, Exclusive);
        s.Convert(b, Exclusive, LockFlags.ConvertDeadlock);
        Assert.That(a.GrantedMode, Is.EqualTo((sbyte)Exclusive), "b's PR demoted to NL no longer blocks a");
        Assert.That((b.GrantedMode, b.Queue), Is.EqualTo(((sbyte)Null, LkbQueue.Convert)), "b holds NL and waits for EX");
        s.Unlock(a);
        var result = s.Sink.Last(b.Id);
        Assert.That((result.Status, result.Mode, result.Flags), Is.EqualTo((LockStatus.Granted, Exclusive, LockResultFlags.Demoted)));
    }

    [TestCase(false, TestName = "NOQUEUE: refused, no blocking notification")]
    [TestCase(true, TestName = "NOQUEUE with NOQUEUEBAST: refused, the holder is told")]
    public void NOQUEUE_refuses_what_cannot_be_granted_at_once(bool bast)
    {
        var s = new Setup();
        var holder = s.Granted(ProtectedRead);
        var request = s.Request(Exclusive, LockFlags.NoQueue | (bast ? LockFlags.NoQueueBlocking : 0));
        Assert.That(s.Sink.Last(request.Id).Status, Is.EqualTo(LockStatus.WouldBlock));
        Assert.That((request.IsGranted, request.Queue, s.Rsb.Waiting.IsEmpty), Is.EqualTo((false, LkbQueue.None, true)));
        Assert.That(s.Sink.Basts, bast ? Is.EqualTo(new[] { (holder.Id, Exclusive) }) : Is.Empty);
    }

    [Test]
    public void A_NOQUEUE_conversion_is_refused_and_keeps_its_mode()
    {
        var s = new Setup();
        var a = s.Granted(ProtectedRead);
        s.Granted(ProtectedRead);
        s.Convert(a, Exclusive, LockFlags.NoQueue);
        Assert.That(s.Sink.Last(a.Id), Is.EqualTo(new LockResult(LockStatus.WouldBlock, ProtectedRead, LockResultFlags.None, FencingToken.None)));
    }

    [TestCase(LockFlags.Expedite, true, TestName = "EXPEDITE NL: granted past the queues")]
    [TestCase(LockFlags.None, false, TestName = "plain NL: waits behind the wait queue")]
    public void EXPEDITE_grants_a_new_NL_request_past_the_queues(LockFlags flags, bool granted)
    {
        var s = new Setup();
        s.Granted(Exclusive);
        s.Request(ProtectedRead);
        Assert.That(s.Request(Null, flags).IsGranted, Is.EqualTo(granted));
    }

    [TestCase(LockFlags.AlternatePR, ProtectedRead, ProtectedRead, TestName = "ALTPR: EX beside PR is granted PR")]
    [TestCase(LockFlags.AlternateCW, ConcurrentWrite, ConcurrentWrite, TestName = "ALTCW: EX beside CW is granted CW")]
    public void An_alternate_mode_is_granted_when_the_requested_one_cannot_be(LockFlags flags, LockMode holder, LockMode expected)
    {
        var s = new Setup();
        s.Granted(holder);
        var request = s.Request(Exclusive, flags);
        var result = s.Sink.Last(request.Id);
        Assert.That((result.Status, result.Mode, result.Flags), Is.EqualTo((LockStatus.Granted, expected, LockResultFlags.AltMode)));
    }

    [Test]
    public void A_holder_is_told_each_time_the_highest_mode_it_blocks_rises()
    {
        var s = new Setup();
        var holder = s.Granted(ProtectedRead);
        s.Request(ProtectedWrite);
        s.Request(Exclusive);
        s.Request(ProtectedWrite);
        Assert.That(s.Sink.Basts, Is.EqualTo(new[] { (holder.Id, ProtectedWrite), (holder.Id, Exclusive) }), "PW, then EX; a second PW tells nothing new");
    }

    [Test]
    public void A_PR_holder_blocking_CW_is_told_once_more_for_EX()
    {
        var s = new Setup();
        var holder = s.Granted(ProtectedRead);
        s.Request(ConcurrentWrite);
        s.Request(Exclusive);
        Assert.That(s.Sink.Basts, Is.EqualTo(new[] { (holder.Id, ConcurrentWrite), (holder.Id, Exclusive) }));
    }

    [Test]
    public void Cancelling_a_waiting_request_lets_the_next_one_through()
    {
        var s = new Setup();
        var holder = s.Granted(ProtectedRead);
        var ex = s.Request(Exclusive);
        var pr = s.Request(ProtectedRead);
        Assert.That(s.Run.Cancel(s.Rsb, ex), Is.True);
        Assert.That(s.Sink.Last(ex.Id).Status, Is.EqualTo(LockStatus.Cancelled));
        Assert.That(pr.IsGranted, Is.True, "the PR behind the cancelled EX is granted");
        Assert.That(s.Run.Cancel(s.Rsb, holder), Is.False, "a granted lock has nothing to cancel");
    }

    [Test]
    public void Cancelling_a_conversion_leaves_the_lock_granted_in_its_mode()
    {
        var s = new Setup();
        var a = s.Granted(ProtectedRead);
        s.Granted(ProtectedRead);
        s.Convert(a, Exclusive);
        s.Run.Cancel(s.Rsb, a);
        Assert.That(s.Sink.Last(a.Id), Is.EqualTo(new LockResult(LockStatus.Cancelled, ProtectedRead, LockResultFlags.None, FencingToken.None)));
        Assert.That((a.GrantedMode, a.Queue), Is.EqualTo(((sbyte)ProtectedRead, LkbQueue.Grant)));
    }

    // dlm_lvb_operations: with VALBLK, what a grant from a granted mode (row; none first) to a requested mode (column)
    // does with the resource's value block: R reads it, W writes it, - neither.
    private static readonly string[] ValueBlockTable =
    [
        //            NL CR CW PR PW EX
        /* none */   "R  R  R  R  R  R",
        /* NL   */   "R  R  R  R  R  R",
        /* CR   */   "-  R  R  R  R  R",
        /* CW   */   "-  -  R  R  R  R",
        /* PR   */   "-  -  -  R  R  R",
        /* PW   */   "W  W  W  W  W  R",
        /* EX   */   "W  W  W  W  W  W",
    ];

    private static IEnumerable<TestCaseData> ValueBlockCases()
    {
        for (var g = 0; g < 7; g++)
        {
            var row = ValueBlockTable[g].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (var r = 0; r < 6; r++)
            {
                var from = g == 0 ? (LockMode?)null : Modes[g - 1];
                yield return new TestCaseData(from, Modes[r], row[r][0]).SetName($"value block from {from?.ToString() ?? "none"} to {Modes[r]}: {row[r]}");
            }
        }
    }

    [TestCaseSource(nameof(ValueBlockCases))]
    public void A_grant_reads_or_writes_the_value_block_as_Linux_does(LockMode? from, LockMode to, char operation)
    {
        var s = new Setup();
        var writer = s.Granted(Exclusive);
        s.Unlock(writer, LockFlags.ValueBlock, [1, 1, 1, 1, 1, 1, 1, 1]);
        Assert.That(s.Rsb.ValueSeq, Is.EqualTo(1UL), "setup: an EX unlock with VALBLK writes");
        var mine = new byte[] { 2, 2, 2, 2, 2, 2, 2, 2 };
        Lkb lkb;
        if (from is { } granted)
        {
            lkb = s.Granted(granted);
            s.Sink.Completions.Clear();
            s.Convert(lkb, to, LockFlags.ValueBlock, mine);
        }
        else
        {
            s.Sink.Completions.Clear();
            lkb = s.Request(to, LockFlags.ValueBlock);
        }

        Assert.That(lkb.GrantedMode, Is.EqualTo((sbyte)to), "granted");
        var read = s.Sink.Completions.Last(c => c.Id == lkb.Id).ValueBlock;
        Assert.That(read, operation == 'R' ? Is.EqualTo(new byte[] { 1, 1, 1, 1, 1, 1, 1, 1 }) : Is.Empty, "what the grant read");
        Assert.That(s.Rsb.ValueSeq, Is.EqualTo(operation == 'W' ? 2UL : 1UL), "whether it wrote");
        Assert.That(s.Rsb.ValueBlock, Is.EqualTo(operation == 'W' ? mine : new byte[] { 1, 1, 1, 1, 1, 1, 1, 1 }));
    }

    [TestCase(Exclusive, true, TestName = "an EX unlock with VALBLK writes")]
    [TestCase(ProtectedWrite, true, TestName = "a PW unlock with VALBLK writes")]
    [TestCase(ProtectedRead, false, TestName = "a PR unlock with VALBLK does not")]
    public void An_unlock_from_PW_or_EX_writes_the_value_block(LockMode mode, bool writes)
    {
        var s = new Setup();
        var lkb = s.Granted(mode);
        s.Unlock(lkb, LockFlags.ValueBlock, [7, 7, 7, 7, 7, 7, 7, 7]);
        Assert.That(s.Rsb.ValueSeq, Is.EqualTo(writes ? 1UL : 0UL));
    }

    [Test]
    public void IVVALBLK_marks_the_value_block_not_valid_until_the_next_write()
    {
        var s = new Setup();
        s.Unlock(s.Granted(Exclusive), LockFlags.InvalidateValueBlock);
        var reader = s.Request(ProtectedRead, LockFlags.ValueBlock);
        Assert.That(s.Sink.Last(reader.Id).Flags, Is.EqualTo(LockResultFlags.ValueNotValid));
        s.Unlock(reader);
        s.Unlock(s.Granted(Exclusive), LockFlags.ValueBlock, [3, 3, 3, 3, 3, 3, 3, 3]);
        var next = s.Request(ProtectedRead, LockFlags.ValueBlock);
        Assert.That(s.Sink.Last(next.Id).Flags, Is.EqualTo(LockResultFlags.None), "rewritten: valid again");
    }

    [Test]
    public void Purging_a_departed_PW_holder_marks_the_value_block_not_valid_and_grants_the_waiters()
    {
        var s = new Setup();
        var departed = s.Granted(ProtectedWrite);
        var waiter = s.Request(Exclusive, LockFlags.ValueBlock);
        s.Run.Purge(s.Rsb, l => l == departed);
        var result = s.Sink.Last(waiter.Id);
        Assert.That((result.Status, result.Flags), Is.EqualTo((LockStatus.Granted, LockResultFlags.ValueNotValid)));
    }

    [Test]
    public void PW_and_EX_grants_carry_growing_fencing_tokens()
    {
        var s = new Setup();
        var tokens = new List<FencingToken>();
        for (var i = 0; i < 3; i++)
        {
            var lkb = s.Granted(i % 2 == 0 ? Exclusive : ProtectedWrite);
            tokens.Add(s.Sink.Last(lkb.Id).Token);
            s.Unlock(lkb);
        }

        Assert.That(tokens, Is.Ordered.Ascending.And.Unique);
        Assert.That(s.Sink.Last(s.Granted(ProtectedRead).Id).Token, Is.EqualTo(FencingToken.None), "no token for a PR grant");
    }

    [TestCase(DlmMutant.None, false, TestName = "the convert queue blocks a PW request beside a converting PR holder")]
    [TestCase(DlmMutant.IgnoreConvertQueue, true, TestName = "mutant ignore-convert-queue: PW granted beside the converting PR holder")]
    public void The_convert_queue_counts_in_the_compatibility_check(DlmMutant mutant, bool granted)
    {
        var s = new Setup(mutant);
        var converting = s.Granted(ProtectedRead);
        s.Granted(ConcurrentRead);
        s.Convert(converting, Exclusive); // blocked by the CR holder
        Assert.That(converting.Queue, Is.EqualTo(LkbQueue.Convert));
        Assert.That(s.Request(ProtectedWrite).IsGranted, Is.EqualTo(granted));
    }
}
