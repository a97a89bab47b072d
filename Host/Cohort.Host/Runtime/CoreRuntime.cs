using System.Threading.Channels;
using Cohort.Cores;
using Cohort.Host.State;
using Cohort.Membership;
using Cohort.Transport;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Runtime;

/// <summary>
/// Drives one sans-IO core for real: inputs are queued and handled one at a time on one task, with
/// <c>now</c> from the monotonic clock of a <see cref="TimeProvider"/>; outputs are carried out in
/// order — frames handed to the send delegate, timers on the <see cref="TimeProvider"/>, records
/// written atomically and fsynced (<see cref="DurableFile"/>) before the next output, events passed
/// to the event delegate on the core's task.
/// </summary>
internal sealed partial class CoreRuntime : IAsyncDisposable
{
    private readonly string _name;
    private readonly IProtocolCore _core;
    private readonly string _recordDirectory;
    private readonly TimeProvider _time;
    private readonly Action<NodeId, TransportLane, ReadOnlyMemory<byte>> _send;
    private readonly Action<object> _publish;
    private readonly Action _afterStep;
    private readonly ILogger _logger;
    private readonly Channel<Item> _inbox = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, (ITimer? Timer, long Generation, TimeSpan At)> _timers = new(StringComparer.Ordinal);
    private readonly List<CoreOutput> _outputs = [];
    private readonly long _origin;
    private long _generation;
    private Task? _loop;

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

    /// <summary>Completes when the loop has ended: after <see cref="DisposeAsync"/>, or when the core threw.</summary>
    public Task Completion => _loop ?? Task.CompletedTask;

    /// <summary>Reads the core's records and starts the loop with <see cref="CoreStarted"/>.</summary>
    public void Start(NodeIncarnation self)
    {
        Directory.CreateDirectory(_recordDirectory);
        Post(new CoreStarted(self, ReadRecords(_recordDirectory)));
        _loop = Task.Run(RunAsync);
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

    /// <summary>Queues an input; safe from any thread.</summary>
    public void Post(CoreInput input) => _inbox.Writer.TryWrite(new Item(input, -1));

    /// <summary>Queues an input and blocks until the core handled it and its outputs were carried out,
    /// or <paramref name="timeout"/> ran out (false). For a caller on another core's task that must not
    /// go on before this core changed its mind; never call it from this runtime's own task.</summary>
    public bool PostAndWait(CoreInput input, TimeSpan timeout)
    {
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _inbox.Writer.TryWrite(new Item(input, -1, handled)) && handled.Task.Wait(timeout);
    }

    public async ValueTask DisposeAsync()
    {
        _inbox.Writer.TryComplete();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        foreach (var (timer, _, _) in _timers.Values)
        {
            if (timer is not null)
            {
                await timer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task RunAsync()
    {
        await foreach (var item in _inbox.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (item.Input is TimerFired fired)
            {
                if (!_timers.TryGetValue(fired.Name, out var current) || current.Generation != item.Generation)
                {
                    continue; // moved or cancelled after it was queued
                }

                current.Timer?.Dispose();
                _timers.Remove(fired.Name);
                if (Now < current.At)
                {
                    SetTimer(fired.Name, current.At); // system timers may fire a little early; cores are promised "at or after"
                    continue;
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
                _inbox.Writer.TryComplete();
                throw;
            }
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
            _inbox.Writer.TryWrite(new Item(input, generation));
            return;
        }

        var timer = _time.CreateTimer(_ => _inbox.Writer.TryWrite(new Item(input, generation)), null, delay, Timeout.InfiniteTimeSpan);
        _timers[name] = (timer, generation, at);
    }

    private readonly record struct Item(CoreInput Input, long Generation, TaskCompletionSource? Handled = null);

    [LoggerMessage(Level = LogLevel.Critical, Message = "the {Core} core threw on {Input}: this is a bug; the node stops")]
    private static partial void LogCoreFailed(ILogger logger, Exception exception, string core, string input);
}
