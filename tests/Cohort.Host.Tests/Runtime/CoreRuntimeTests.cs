using Cohort.Cores;
using Cohort.Host.Runtime;
using Cohort.Membership;
using Cohort.TestSupport;
using Cohort.Transport;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Cohort.Host.Tests.Runtime;

/// <summary>The runtime that drives a core for real, under a fake clock.</summary>
public sealed class CoreRuntimeTests : TempDirectoryTest
{
    private static readonly NodeIncarnation Self = new(new NodeId(1), 3);

    [Test]
    public async Task Timers_fire_at_or_after_their_time_and_moved_or_cancelled_ones_do_not()
    {
        var time = new FakeTimeProvider();
        var core = new ScriptedCore((input, now, outputs) =>
        {
            if (input is CoreStarted)
            {
                outputs.Add(new SetTimer("a", now + TimeSpan.FromMilliseconds(100)));
                outputs.Add(new SetTimer("b", now + TimeSpan.FromMilliseconds(50)));
                outputs.Add(new SetTimer("b", now + TimeSpan.FromMilliseconds(300))); // moved
                outputs.Add(new SetTimer("c", now + TimeSpan.FromMilliseconds(10)));
                outputs.Add(new CancelTimer("c"));
            }
        });
        await using (var runtime = Start(core, time))
        {
            await Poll.UntilAsync("the start's timers armed", () => core.Steps == 1);
            time.Advance(TimeSpan.FromMilliseconds(99));
            time.Advance(TimeSpan.FromMilliseconds(1));
            await Poll.UntilAsync("timer a", () => core.Seen.Count == 2);
            time.Advance(TimeSpan.FromMilliseconds(200));
            await Poll.UntilAsync("timer b", () => core.Seen.Count == 3);
            time.Advance(TimeSpan.FromSeconds(10));
        }

        Assert.That(core.Seen.Select(s => s.Input is TimerFired t ? t.Name : s.Input.GetType().Name), Is.EqualTo(new[] { "CoreStarted", "a", "b" }));
        Assert.That(core.Seen[1].Now, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(100)));
        Assert.That(core.Seen[2].Now, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(300)));
    }

    /// <summary>System timers may fire a little early; the runtime holds the input back until the
    /// core's clock has reached the timer's time. (Before, a one-node agent's heartbeat, armed only when
    /// due, stopped after the first early firing and the node lost quorum 0.4 s after start.)</summary>
    [Test]
    public async Task A_timer_that_fires_early_is_held_back_until_its_time()
    {
        var time = new EarlyTimers(TimeSpan.FromMilliseconds(3));
        var core = new ScriptedCore((input, now, outputs) =>
        {
            if (input is CoreStarted)
            {
                outputs.Add(new SetTimer("a", now + TimeSpan.FromMilliseconds(100)));
            }
        });
        await using (var runtime = Start(core, time))
        {
            await Poll.UntilAsync("the start's timer armed", () => core.Steps == 1);
            time.Fake.Advance(TimeSpan.FromMilliseconds(97)); // the system timer fires here, 3 ms early
            time.Fake.Advance(TimeSpan.FromMilliseconds(2));
            time.Fake.Advance(TimeSpan.FromMilliseconds(1));
            await Poll.UntilAsync("timer a", () => core.Seen.Count == 2);
        }

        Assert.That(core.Seen[1].Now, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(100)));
    }

    [Test]
    public async Task Records_are_durable_before_later_outputs_and_come_back_at_the_next_start()
    {
        var sent = new List<(NodeId To, bool RecordExisted)>();
        var records = Dir.Combine("records");
        var core = new ScriptedCore((input, now, outputs) =>
        {
            if (input is CoreStarted)
            {
                outputs.Add(new PersistRecord("state", "v1"u8.ToArray()));
                outputs.Add(new SendFrame(new NodeId(2), TransportLane.Data, "promise"u8.ToArray()));
                outputs.Add(new PublishEvent("published"));
            }
        });
        var events = new List<object>();
        await using (var runtime = new CoreRuntime("test", core, records, new FakeTimeProvider(),
            (to, _, _) => sent.Add((to, File.Exists(Path.Combine(records, "state")))), events.Add, () => { }, NullLogger.Instance))
        {
            runtime.Start(Self);
            await Poll.UntilAsync("the start", () => events.Count == 1);
        }

        Assert.That(sent, Is.EqualTo(new[] { (new NodeId(2), true) }), "the record was on disk before the frame left");
        Assert.That(events, Is.EqualTo(new object[] { "published" }));

        var again = new ScriptedCore((_, _, _) => { });
        await using (var runtime = Start(again, new FakeTimeProvider(), records))
        {
            await Poll.UntilAsync("the second start", () => again.Seen.Count == 1);
        }

        var started = (CoreStarted)again.Seen[0].Input;
        Assert.That(started.Self, Is.EqualTo(Self));
        Assert.That(started.Records.Keys, Is.EqualTo(new[] { "state" }));
        Assert.That(started.Records["state"].ToArray(), Is.EqualTo("v1"u8.ToArray()));
    }

    [Test]
    public async Task Inputs_are_handled_one_at_a_time_in_order()
    {
        var core = new ScriptedCore((_, _, _) => { });
        await using (var runtime = Start(core, new FakeTimeProvider()))
        {
            var posters = Enumerable.Range(0, 4).Select(p => Task.Run(() =>
            {
                for (var i = 0; i < 50; i++)
                {
                    runtime.Post(new LocalRequest($"{p}:{i}"));
                }
            })).ToArray();
            await Task.WhenAll(posters);
            await Poll.UntilAsync("every input", () => core.Seen.Count == 201);
        }

        Assert.That(core.MaxConcurrency, Is.EqualTo(1));
        foreach (var poster in Enumerable.Range(0, 4))
        {
            var order = core.Seen.Select(s => s.Input).OfType<LocalRequest>().Select(r => (string)r.Request).Where(r => r.StartsWith($"{poster}:", StringComparison.Ordinal));
            Assert.That(order, Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"{poster}:{i}")), "each poster's inputs in the order posted");
        }
    }

    private CoreRuntime Start(ScriptedCore core, TimeProvider time, string? records = null)
    {
        var runtime = new CoreRuntime("test", core, records ?? Dir.Combine("records"), time, (_, _, _) => { }, _ => { }, core.StepDone, NullLogger.Instance);
        runtime.Start(Self);
        return runtime;
    }

    /// <summary>A fake clock whose timers fire <c>early</c> before their time. One that would fire at or
    /// before now fires at once, as a system timer does (a fake timer of zero delay would wait for the
    /// next <c>Advance</c>, which the test may have made already: that hung this test under load).</summary>
    private sealed class EarlyTimers(TimeSpan early) : TimeProvider
    {
        public FakeTimeProvider Fake { get; } = new();

        public override long TimestampFrequency => Fake.TimestampFrequency;

        public override long GetTimestamp() => Fake.GetTimestamp();

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime > early)
            {
                return Fake.CreateTimer(callback, state, dueTime - early, period);
            }

            ThreadPool.QueueUserWorkItem(_ => callback(state));
            return Fake.CreateTimer(_ => { }, null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private sealed class ScriptedCore(Action<CoreInput, TimeSpan, ICollection<CoreOutput>> script) : IProtocolCore
    {
        private int _inside;

        private int _steps;

        public List<(CoreInput Input, TimeSpan Now)> Seen { get; } = [];

        /// <summary>Steps whose outputs the runtime has carried out (timers armed, records written):
        /// a test moves a fake clock only after, or a timer armed late would miss its time for good.</summary>
        public int Steps => Volatile.Read(ref _steps);

        public void StepDone() => Interlocked.Increment(ref _steps);

        public int MaxConcurrency { get; private set; }

        public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
        {
            var inside = Interlocked.Increment(ref _inside);
            MaxConcurrency = Math.Max(MaxConcurrency, inside);
            lock (Seen)
            {
                Seen.Add((input, now));
            }

            script(input, now, outputs);
            Interlocked.Decrement(ref _inside);
        }
    }
}
