using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;
using Microsoft.Extensions.Logging;

namespace Cohort.Fencing.Manual.Tests;

/// <summary>A logger that keeps what the agent says and hands each warning to whoever listens: the simulated
/// operator.</summary>
internal sealed class OperatorLog : ILogger<ManualFenceAgent>
{
    private readonly List<(LogLevel Level, string Message)> _entries = [];

    /// <summary>Called with each warning, as it is logged.</summary>
    public Action<string>? Warned { get; set; }

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var message = formatter(state, exception);
        lock (_entries)
        {
            _entries.Add((logLevel, message));
        }

        if (logLevel == LogLevel.Warning)
        {
            Warned?.Invoke(message);
        }
    }
}

/// <summary>A live process group and an operator who, when the agent asks to fence it by hand, kills it and runs
/// <c>cohort fence ack</c> — or, when absent, never does.</summary>
internal sealed class OperatedTarget : FenceTarget
{
    private readonly VictimGroup _group;
    private readonly TaskCompletionSource _acknowledged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _asked = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private OperatedTarget(VictimGroup group, OperatorLog log, bool present)
        : base(new ClusterNode(new NodeId(2), "node2", 1), 9, "node2")
    {
        _group = group;
        log.Warned = message =>
        {
            _asked.TrySetResult();
            if (present && message.Contains("cohort fence ack node2", StringComparison.Ordinal))
            {
                VictimGroup.KillGroup(group.Pgid);
                // The operator acknowledges only once the node is dead.
                var deadline = Environment.TickCount64 + (long)Poll.DefaultDeadline.TotalMilliseconds;
                while (!group.IsGone)
                {
                    if (Environment.TickCount64 > deadline)
                    {
                        throw new TimeoutException($"group {group.Pgid} did not die after SIGKILL");
                    }

                    Thread.Yield();
                }

                _acknowledged.TrySetResult();
            }
        };
    }

    public override Task Acknowledged => _acknowledged.Task;

    public override Task OperationStarted => _asked.Task;

    public static async Task<FenceTarget> StartAsync(OperatorLog log, bool present) => new OperatedTarget(await VictimGroup.StartAsync(), log, present);

    public override Task<bool> IsDeadAsync() => Task.FromResult(_group.IsGone);

    public override ValueTask DisposeAsync()
    {
        _group.Dispose();
        return ValueTask.CompletedTask;
    }
}
