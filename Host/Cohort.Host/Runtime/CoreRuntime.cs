using System.Collections.Concurrent;
using Cohort.Cores;
using Cohort.Host.State;
using Cohort.Membership;
using Cohort.Transport;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Runtime;

/// <summary>
/// Drives one sans-IO core for real: inputs are queued and handled one at a time, in order, with
/// <c>now</c> from the monotonic clock of a <see cref="TimeProvider"/>; outputs are carried out in
/// order — frames handed to the send delegate, timers on the <see cref="TimeProvider"/>, records
/// written atomically and fsynced (<see cref="DurableFile"/>) before the next output, events passed
/// to the event delegate on the core's turn.
/// </summary>
/// <remarks>
/// The queue is a mailbox on the thread pool rather than a task of its own: a post to an idle core queues one turn
/// (on the posting worker's own queue, when a pool thread posts). An input queued with <see cref="PostDeferred"/> is
/// instead handled by the thread that delivered it, in <see cref="RunDeferred"/>, when the core is idle — a frame
/// from the transport's reader thread then costs no wake-up of another thread. A turn handles at most
/// <see cref="TurnBudget"/> inputs and queues the next, so one core never holds a worker for long.
/// </remarks>
internal sealed partial class CoreRuntime : IAsyncDisposable, IThreadPoolWorkItem
{
    /// <summary>Inputs handled in one turn before the rest is queued as another.</summary>
    private const int TurnBudget = 64;

    private readonly string _name;
    private readonly IProtocolCore _core;
    private readonly string _recordDirectory;
    private readonly TimeProvider _time;
    private readonly Action<NodeId, TransportLane, ReadOnlyMemory<byte>> _send;
    private readonly Action<object> _publish;
    private readonly Action _afterStep;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<Item> _inbox = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<string, (ITimer? Timer, long Generation, TimeSpan At)> _timers = new(StringComparer.Ordinal);
    private readonly List<CoreOutput> _outputs = [];
    private readonly long _origin;
    private long _generation;

    /// <summary>Whether this thread is in a turn of some core.</summary>
    [ThreadStatic]
    private static bool t_inTurn;

    /// <summary>0: idle; 1: a turn is queued or running (only that turn takes inputs).</summary>
    private int _turn;
    private volatile bool _started;
    private volatile bool _inlineTurns = true;
    private volatile bool _closing;
    private bool _stopped;

    /// <param name="name">The core's name, in logs.</param>
    /// <param name="core">The core.</param>
    /// <param name="recordDirectory">Where its records live, one file per record.</param>
    /// <param name="time">The clock and timers.</param>
    /// <param name="send">Sends a frame (best effort).</param>
    /// <param name="publish">Receives the core's events, on the core's task.</param>
    /// <param name="afterStep">Called on the core's task after each input's outputs were carried out.</param>
    /// <param name="logger">Where failures go.</param>
    public CoreRuntime(string name, IProtocolCore core, string recordDirectory, TimeProvider time, Action<NodeId, TransportLane, ReadOnlyMemory<byte>> send, Action<object> publish, Action afterStep, ILogger logger)
    {
        _name = name;
        _core = core;
        _recordDirectory = recordDirectory;
        _time = time;
        _send = send;
        _publish = publish;
        _afterStep = afterStep;
        _logger = logger;
        _origin = time.GetTimestamp();
    }

    /// <summary>The core's clock: monotonic time since the runtime was created.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_origin);

    /// <summary>Completes when the core has stopped: after <see cref="DisposeAsync"/>, or (faulted) when it threw.</summary>
    public Task Completion => _completion.Task;

    /// <summary>Reads the core's records and starts it with <see cref="CoreStarted"/> (after any input posted before).</summary>
    public void Start(NodeIncarnation self)
    {
        Directory.CreateDirectory(_recordDirectory);
        _inbox.Enqueue(new Item(new CoreStarted(self, ReadRecords(_recordDirectory)), -1));
        _started = true;
        Schedule();
    }

    /// <summary>The records a core persisted in <paramref name="directory"/> (none if it does not exist),
    /// as the core sees them at start: a temporary file left by a crash is not a record.</summary>
    public static Dictionary<string, ReadOnlyMemory<byte>> ReadRecords(string directory)
    {
        var records = new Dictionary<string, ReadOnlyMemory<byte>>(StringComparer.Ordinal);
        if (Directory.Exists(directory))
        {
            foreach (var file in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
            {
                var name = Path.GetFileName(file);
                if (!name.EndsWith(".tmp", StringComparison.Ordinal))
                {
                    records[name] = File.ReadAllBytes(file);
                }
            }
        }

        return records;
    }

    /// <summary>Queues an input; safe from any thread. After <see cref="DisposeAsync"/> it is dropped.</summary>
    public void Post(CoreInput input) => Enqueue(new Item(input, -1));

    /// <summary>Queues an input without queuing a turn for it: the caller calls <see cref="RunDeferred"/> soon, on
    /// this thread, once it holds no lock.</summary>
    public void PostDeferred(CoreInput input) => Enqueue(new Item(input, -1), schedule: false);

    /// <summary>Whether <see cref="RunDeferred"/> may run a turn on the caller's thread (true at first). Cleared while
    /// the core's turns may be long, so that they do not hold up the thread that delivered the input.</summary>
    public bool InlineTurns
    {
        get => _inlineTurns;
        set => _inlineTurns = value;
    }

    /// <summary>Whether no turn is queued or running (a moment's answer: a post may queue one right after).</summary>
    public bool Idle => Volatile.Read(ref _turn) == 0;

    /// <summary>Handles what <see cref="PostDeferred"/> queued: on this thread, at once, if the core is idle and
    /// <see cref="InlineTurns"/> holds (its events too, so the caller must hold no lock); else the turn queued or
    /// running takes it. A thread inside a turn of any core queues a turn instead: turns never nest.</summary>
    public void RunDeferred()
    {
        if (t_inTurn || !_inlineTurns)
        {
            Schedule();
        }
        else if (_started && Interlocked.CompareExchange(ref _turn, 1, 0) == 0)
        {
            ((IThreadPoolWorkItem)this).Execute();
        }
    }

    /// <summary>Queues an input and blocks until the core handled it and its outputs were carried out,
    /// or <paramref name="timeout"/> ran out (false). For a caller on another core's task that must not
    /// go on before this core changed its mind; never call it from this runtime's own task.</summary>
    public bool PostAndWait(CoreInput input, TimeSpan timeout)
    {
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Enqueue(new Item(input, -1, handled)) && handled.Task.Wait(timeout);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_started)
        {
            _completion.TrySetResult();
        }

        _closing = true;
        _inbox.Enqueue(new Item(null, -1)); // the last input: the turn that takes it stops the core
        Schedule();
        try
        {
            await _completion.Task.ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The core threw earlier; that was logged, and Completion shows it.
        }

        foreach (var (timer, _, _) in _timers.Values)
        {
            if (timer is not null)
            {
                await timer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Queues an item unless the runtime is closing, and a turn for it unless <paramref name="schedule"/> is false.</summary>
    private bool Enqueue(Item item, bool schedule = true)
    {
        if (_closing)
        {
            return false;
        }

        _inbox.Enqueue(item);
        if (schedule)
        {
            Schedule();
        }

        return true;
    }

    /// <summary>Queues a turn unless one is queued or running (that one takes the new input too).</summary>
    private void Schedule()
    {
        if (_started && Interlocked.CompareExchange(ref _turn, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        }
    }

    /// <summary>One turn: up to <see cref="TurnBudget"/> inputs, then another turn if more wait.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        t_inTurn = true;
        try
        {
            Turn();
        }
        finally
        {
            t_inTurn = false;
        }
    }

    private void Turn()
    {
        while (true)
        {
            for (var handled = 0; handled < TurnBudget; handled++)
            {
                if (!_inbox.TryDequeue(out var item))
                {
                    break;
                }

                if (!_stopped)
                {
                    Handle(item);
                }
            }

            if (!_inbox.IsEmpty)
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true); // _turn stays 1: the next turn is queued
                return;
            }

            Volatile.Write(ref _turn, 0);
            if (_inbox.IsEmpty || Interlocked.CompareExchange(ref _turn, 1, 0) != 0)
            {
                return; // nothing came meanwhile, or a poster queued a turn for it
            }
        }
    }

    private void Handle(Item item)
    {
        if (item.Input is null)
        {
            _stopped = true;
            _completion.TrySetResult();
            return;
        }

        if (item.Input is TimerFired fired)
        {
            if (!_timers.TryGetValue(fired.Name, out var current) || current.Generation != item.Generation)
            {
                return; // moved or cancelled after it was queued
            }

            current.Timer?.Dispose();
            _timers.Remove(fired.Name);
            if (Now < current.At)
            {
                SetTimer(fired.Name, current.At); // system timers may fire a little early; cores are promised "at or after"
                return;
            }
        }

        try
        {
            _outputs.Clear();
            _core.Handle(item.Input, Now, _outputs);
            foreach (var output in _outputs)
            {
                Execute(output);
            }

            _afterStep();
            item.Handled?.TrySetResult();
        }
        catch (Exception ex)
        {
            LogCoreFailed(_logger, ex, _name, item.Input.GetType().Name);
            _stopped = true;
            _closing = true;
            _completion.TrySetException(ex);
        }
    }

    private void Execute(CoreOutput output)
    {
        switch (output)
        {
            case SendFrame send:
                _send(send.To, send.Lane, send.Frame);
                break;
            case SetTimer set:
                SetTimer(set.Name, set.At);
                break;
            case CancelTimer cancel:
                if (_timers.Remove(cancel.Name, out var old))
                {
                    old.Timer?.Dispose();
                }

                break;
            case PersistRecord persist:
                DurableFile.WriteAtomically(Path.Combine(_recordDirectory, persist.Name), persist.Contents.Span);
                break;
            case PublishEvent publish:
                _publish(publish.Event);
                break;
            default:
                throw new InvalidOperationException($"unknown output {output.GetType().Name}");
        }
    }

    private void SetTimer(string name, TimeSpan at)
    {
        if (_timers.Remove(name, out var old))
        {
            old.Timer?.Dispose();
        }

        var generation = ++_generation;
        var delay = at - Now;
        var input = new TimerFired(name);
        if (delay <= TimeSpan.Zero)
        {
            // Due already: queue it now rather than trust a zero-delay timer to fire by itself
            // (a fake clock fires one only when next advanced).
            _timers[name] = (null, generation, at);
            _inbox.Enqueue(new Item(input, generation)); // this turn, or the next, takes it
            return;
        }

        var timer = _time.CreateTimer(_ => Enqueue(new Item(input, generation)), null, delay, Timeout.InfiniteTimeSpan);
        _timers[name] = (timer, generation, at);
    }

    /// <summary>An input (null: stop), the generation of a timer's, and who waits for it to be handled.</summary>
    private readonly record struct Item(CoreInput? Input, long Generation, TaskCompletionSource? Handled = null);

    [LoggerMessage(Level = LogLevel.Critical, Message = "the {Core} core threw on {Input}: this is a bug; the node stops")]
    private static partial void LogCoreFailed(ILogger logger, Exception exception, string core, string input);
}
