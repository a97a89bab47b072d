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

    [Test]
    public async Task A_deferred_input_is_handled_on_the_calling_thread_when_the_core_is_idle()
    {
        var core = new ScriptedCore((_, _, _) => { });
        await using var runtime = Start(core, new FakeTimeProvider());
        await Poll.UntilAsync("the start handled, the core idle", () => core.Steps == 1 && runtime.Idle);

        var caller = OwnThread.Run(() =>
        {
            runtime.PostDeferred(new LocalRequest("deferred"));
            runtime.RunDeferred();
            return core.ThreadOf("deferred"); // handled before RunDeferred returned, or not seen yet (null)
        });

        Assert.That(caller.Result, Is.EqualTo(caller.Thread), "handled inline, by the thread that delivered it");
    }

    [Test]
    public async Task With_inline_turns_off_a_deferred_input_is_handled_by_a_turn_on_the_pool()
    {
        var core = new ScriptedCore((_, _, _) => { });
        await using var runtime = Start(core, new FakeTimeProvider());
        await Poll.UntilAsync("the start", () => core.Steps == 1);
        runtime.InlineTurns = false;

        var caller = OwnThread.Run(() =>
        {
            runtime.PostDeferred(new LocalRequest("deferred"));
            runtime.RunDeferred();
            return 0;
        });

        await Poll.UntilAsync("the deferred input", () => core.ThreadOf("deferred") is not null);
        Assert.That(core.ThreadOf("deferred"), Is.Not.EqualTo(caller.Thread));
    }

    [Test]
    public async Task A_turn_never_runs_another_cores_turn_inside_it()
    {
        var inner = new ScriptedCore((_, _, _) => { });
        var innerRanInsideOuter = false;
        await using var innerRuntime = Start(inner, new FakeTimeProvider(), Dir.Combine("inner"));
        var outer = new ScriptedCore((input, _, _) =>
        {
            if (input is LocalRequest { Request: "outer" })
            {
                innerRuntime.PostDeferred(new LocalRequest("inner"));
                innerRuntime.RunDeferred();
                innerRanInsideOuter = inner.ThreadOf("inner") == Environment.CurrentManagedThreadId; // else not yet, or on the pool
            }
        });
        await using var outerRuntime = Start(outer, new FakeTimeProvider(), Dir.Combine("outer"));
        await Poll.UntilAsync("both started and idle", () => inner.Steps == 1 && outer.Steps == 1 && innerRuntime.Idle && outerRuntime.Idle);

        OwnThread.Run(() =>
        {
            outerRuntime.PostDeferred(new LocalRequest("outer"));
            outerRuntime.RunDeferred();
            return 0;
        });

        await Poll.UntilAsync("the inner input", () => inner.ThreadOf("inner") is not null);
        Assert.That(innerRanInsideOuter, Is.False, "the inner core's input waited for a turn of its own");
    }

    [Test]
    public async Task Deferred_and_posted_inputs_from_many_threads_are_handled_one_at_a_time_in_order()
    {
        var core = new ScriptedCore((_, _, _) => { });
        await using (var runtime = Start(core, new FakeTimeProvider()))
        {
            var posters = Enumerable.Range(0, 4).Select(p => Task.Run(() =>
            {
                for (var i = 0; i < 200; i++)
                {
                    if (p % 2 == 0)
                    {
                        runtime.PostDeferred(new LocalRequest($"{p}:{i}"));
                        runtime.RunDeferred();
                    }
                    else
                    {
                        runtime.Post(new LocalRequest($"{p}:{i}"));
                    }
                }
            })).ToArray();
            await Task.WhenAll(posters);
            await Poll.UntilAsync("every input", () => core.Count == 801);
        }

        Assert.That(core.MaxConcurrency, Is.EqualTo(1));
        foreach (var poster in Enumerable.Range(0, 4))
        {
            var order = core.Requests.Where(r => r.StartsWith($"{poster}:", StringComparison.Ordinal));
            Assert.That(order, Is.EqualTo(Enumerable.Range(0, 200).Select(i => $"{poster}:{i}")), "each poster's inputs in the order posted");
        }
    }

    [Test]
    public async Task After_dispose_inputs_are_dropped_and_waiting_for_one_fails_at_once()
    {
        var core = new ScriptedCore((_, _, _) => { });
        var runtime = Start(core, new FakeTimeProvider());
        await Poll.UntilAsync("the start", () => core.Steps == 1);
        await runtime.DisposeAsync();

        runtime.Post(new LocalRequest("late"));
        Assert.That(runtime.PostAndWait(new LocalRequest("later"), TimeSpan.FromMinutes(1)), Is.False);
        Assert.That(runtime.Completion.IsCompletedSuccessfully, Is.True);
        Assert.That(core.Requests, Is.Empty);
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

        /// <summary>Inputs handled so far.</summary>
        public int Count
        {
            get
            {
                lock (Seen)
                {
                    return Seen.Count;
                }
            }
        }

        /// <summary>The local requests handled, in order.</summary>
        public List<string> Requests
        {
            get
            {
                lock (Seen)
                {
                    return [.. Seen.Select(s => s.Input).OfType<LocalRequest>().Select(r => (string)r.Request)];
                }
            }
        }

        /// <summary>The thread that handled the local request <paramref name="request"/>; null before it was.</summary>
        public int? ThreadOf(string request)
        {
            lock (Seen)
            {
                return _threads.TryGetValue(request, out var thread) ? thread : null;
            }
        }

        private readonly Dictionary<string, int> _threads = [];

        public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
        {
            var inside = Interlocked.Increment(ref _inside);
            MaxConcurrency = Math.Max(MaxConcurrency, inside);
            lock (Seen)
            {
                Seen.Add((input, now));
                if (input is LocalRequest { Request: string request })
                {
                    _threads[request] = Environment.CurrentManagedThreadId;
                }
            }

            script(input, now, outputs);
            Interlocked.Decrement(ref _inside);
        }
    }
}
