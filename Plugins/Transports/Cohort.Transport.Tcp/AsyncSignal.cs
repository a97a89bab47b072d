namespace Cohort.Transport.Tcp;

/// <summary>An auto-reset wake-up: <see cref="Set"/> from anywhere, one waiter at a time.</summary>
internal sealed class AsyncSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Set() => Volatile.Read(ref _next).TrySetResult();

    /// <summary>Waits until set (then resets) or the timeout passes; returns whether it was set.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _next);
        if (!current.Task.IsCompleted)
        {
            try
            {
                await current.Task.WaitAsync(timeout, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        Interlocked.CompareExchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), current);
        return true;
    }
}

/// <summary>A gate that is open or shut; waiters pass once it is open.</summary>
internal sealed class AsyncGate
{
    private readonly Lock _lock = new();
    private TaskCompletionSource? _opened;

    public void Shut()
    {
        lock (_lock)
        {
            _opened ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void Open()
    {
        TaskCompletionSource? opened;
        lock (_lock)
        {
            opened = _opened;
            _opened = null;
        }

        opened?.TrySetResult();
    }

    /// <summary>Whether it is open now (read without the lock: it is asked for every frame written inline).</summary>
    public bool IsOpen => Volatile.Read(ref _opened) is null;

    public Task WaitAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return _opened is null ? Task.CompletedTask : _opened.Task.WaitAsync(cancellationToken);
        }
    }
}
