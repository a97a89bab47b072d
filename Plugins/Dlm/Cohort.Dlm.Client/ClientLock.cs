using Cohort.Locking;

namespace Cohort.Dlm.Client;

/// <summary>A lockspace of a <see cref="DlmClient"/>: joined by the agent for this client's session.</summary>
internal sealed class ClientLockspace(DlmClient client, string name, int valueBlockLength) : ILockspace
{
    public string Name { get; } = name;

    public int ValueBlockLength { get; } = valueBlockLength;

    public LockHandle CreateLock(ReadOnlySpan<byte> resource, Action<LockHandle, LockMode>? blocking = null)
    {
        if (resource.Length is 0 or > 64)
        {
            throw new ArgumentException($"a resource name is 1 to 64 bytes, not {resource.Length}", nameof(resource));
        }

        return new ClientLock(client, this, resource.ToArray(), blocking);
    }

    public override string ToString() => Name;
}

/// <summary>A lock of a <see cref="DlmClient"/>: the agent holds it for the client's session; this side keeps what
/// the client was told and completes each operation once, on the client's reader thread.</summary>
internal sealed class ClientLock : LockHandle
{
    private readonly DlmClient _client;
    private readonly ClientLockspace _lockspace;
    private readonly byte[] _resource;
    private readonly byte[] _valueBlock;
    private readonly Action<LockHandle, LockMode>? _blocking;
    private readonly Lock _lock = new();
    private TaskCompletionSource<LockResult>? _pending;
    private DlmOperationKind _kind;
    private LockMode? _granted;
    private FencingToken _token;

    public ClientLock(DlmClient client, ClientLockspace lockspace, byte[] resource, Action<LockHandle, LockMode>? blocking)
    {
        _client = client;
        _lockspace = lockspace;
        _resource = resource;
        _blocking = blocking;
        _valueBlock = new byte[lockspace.ValueBlockLength];
        Id = client.NextLockId();
    }

    /// <summary>The lock's id in its session.</summary>
    public long Id { get; }

    /// <summary>Whether an operation is in flight.</summary>
    internal bool Busy
    {
        get
        {
            lock (_lock)
            {
                return _pending is not null;
            }
        }
    }

    public override ReadOnlyMemory<byte> Resource => _resource;

    public override LockMode? GrantedMode
    {
        get
        {
            lock (_lock)
            {
                return _granted;
            }
        }
    }

    public override Memory<byte> ValueBlock => _valueBlock;

    public override FencingToken Token => _token;

    public override ValueTask<LockResult> LockAsync(LockMode mode, LockFlags flags = LockFlags.None)
    {
        Check(DlmOperationKind.Lock, mode, flags, null);
        return Start(DlmOperationKind.Lock, new LockClientMessage { Op = LockOps.Lock, Id = Id, Lockspace = _lockspace.Name, Resource = _resource, Mode = mode, Flags = flags });
    }

    public override ValueTask<LockResult> ConvertAsync(LockMode mode, LockFlags flags = LockFlags.None)
    {
        var granted = GrantedMode ?? throw new InvalidOperationException("this handle holds nothing: lock it first");
        Check(DlmOperationKind.Convert, mode, flags, granted);
        return Start(DlmOperationKind.Convert, new LockClientMessage { Op = LockOps.Convert, Id = Id, Mode = mode, Flags = flags, Value = Written(flags, granted) });
    }

    public override ValueTask<LockResult> UnlockAsync(LockFlags flags = LockFlags.None)
    {
        var granted = GrantedMode ?? throw new InvalidOperationException("this handle holds nothing: nothing to unlock");
        Check(DlmOperationKind.Unlock, LockMode.Null, flags, null);
        return Start(DlmOperationKind.Unlock, new LockClientMessage { Op = LockOps.Unlock, Id = Id, Flags = flags, Value = Written(flags, granted) });
    }

    public override bool Cancel()
    {
        lock (_lock)
        {
            if (_pending is null || _kind == DlmOperationKind.Unlock)
            {
                return false;
            }
        }

        _ = SendOrFailAsync(new LockClientMessage { Op = LockOps.Cancel, Id = Id }); // lost, the session fails it anyway
        return true;
    }

    private static void Check(DlmOperationKind kind, LockMode mode, LockFlags flags, LockMode? granted)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "not a lock mode");
        }

        if (LockRules.Check(kind, mode, flags, granted) is { } problem)
        {
            throw new ArgumentException(problem, nameof(flags));
        }
    }

    /// <summary>The value block a conversion or unlock with <see cref="LockFlags.ValueBlock"/> writes from PW/EX.</summary>
    private byte[]? Written(LockFlags flags, LockMode granted) =>
        (flags & LockFlags.ValueBlock) != 0 && granted >= LockMode.ProtectedWrite ? (byte[])_valueBlock.Clone() : null;

    private ValueTask<LockResult> Start(DlmOperationKind kind, LockClientMessage message)
    {
        var pending = new TaskCompletionSource<LockResult>(); // continuations run on the reader thread, as documented
        lock (_lock)
        {
            if (_pending is not null)
            {
                throw new InvalidOperationException("this handle has an operation in flight (cancel it first)");
            }

            if (kind == DlmOperationKind.Lock && _granted is { } held)
            {
                throw new InvalidOperationException($"this handle holds {held}: convert or unlock it, or create another handle");
            }

            _pending = pending;
            _kind = kind;
            _client.Track(this);
        }

        _ = SendOrFailAsync(message);
        return new ValueTask<LockResult>(pending.Task);
    }

    private async Task SendOrFailAsync(LockClientMessage message)
    {
        try
        {
            await _client.SendAsync(message).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            Lost(ex);
        }
    }

    /// <summary>A message of the agent about this lock (on the reader thread).</summary>
    internal void Received(LockClientMessage message)
    {
        if (message.Op == LockOps.Blocking)
        {
            _blocking?.Invoke(this, message.Mode);
            return;
        }

        TaskCompletionSource<LockResult>? pending;
        lock (_lock)
        {
            pending = _pending;
            _pending = null;
            if (pending is null)
            {
                return;
            }

            if (message.Op == LockOps.Done && message.Result is { } result)
            {
                _granted = LockRules.GrantedAfter(_kind, result, _granted);
                if (!result.Token.IsNone)
                {
                    _token = result.Token;
                }

                message.Value?.AsSpan(0, Math.Min(message.Value.Length, _valueBlock.Length)).CopyTo(_valueBlock);
            }

            if (_granted is null)
            {
                _client.Untrack(this); // under the lock: a next operation tracks it again only after this
            }
        }

        if (message is { Op: LockOps.Done, Result: { } done })
        {
            pending.TrySetResult(done);
        }
        else
        {
            pending.TrySetException(new InvalidOperationException(message.Error ?? "the agent refused the operation"));
        }
    }

    /// <summary>The session is gone: the operation in flight fails, and nothing is held any more.</summary>
    internal void Lost(Exception reason)
    {
        TaskCompletionSource<LockResult>? pending;
        lock (_lock)
        {
            pending = _pending;
            _pending = null;
            _granted = null;
        }

        pending?.TrySetException(reason);
    }

    public override string ToString() => $"{_lockspace.Name}/{System.Text.Encoding.UTF8.GetString(_resource)}";
}
