using System.Text;
using System.Threading.Tasks.Sources;
using Cohort.Cores;
using Cohort.Locking;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// The node's <see cref="IDistributedLockManager"/>: turns calls into the lock-manager core's requests
/// (<see cref="DlmJoin"/>, <see cref="DlmOperation"/>) posted to its runtime, and the core's events back into
/// completions. Every call is checked here against the lock's state first, as the core requires.
/// </summary>
/// <remarks>
/// <see cref="OnEvent"/> runs on the core's task; completions continue synchronously there (see
/// <see cref="LockHandle"/>). Everything else may be called from any thread.
/// </remarks>
internal sealed partial class DistributedLockManager : IDistributedLockManager
{
    /// <summary>The longest lockspace or resource name, in bytes.</summary>
    public const int MaxNameBytes = 64;

    /// <summary>The longest value block the core takes.</summary>
    public const int MaxValueBlockLength = 4096;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Joining> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Joining> _byToken = [];
    private readonly Dictionary<long, DlmLock> _locks = [];
    private readonly ILogger _logger;
    private Action<CoreInput>? _post;
    private long _nextToken;
    private long _nextLockId;
    private string? _stopped;
    private bool _draining;

    /// <param name="logger">Where a throwing blocking callback is reported.</param>
    public DistributedLockManager(ILogger logger) => _logger = logger;

    /// <summary>Whether a core runs behind this manager.</summary>
    public bool Attached => _post is not null;

    /// <summary>Connects the manager to its core's input queue.</summary>
    public void Attach(Action<CoreInput> post) => _post = post;

    /// <inheritdoc />
    public Task<ILockspace> JoinAsync(string name, int valueBlockLength = 32, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes is 0 or > MaxNameBytes)
        {
            throw new LockspaceJoinException($"lockspace name \"{name}\" is {bytes} bytes of UTF-8: a lockspace name is 1 to {MaxNameBytes} bytes");
        }

        if (valueBlockLength <= 0 || valueBlockLength % 8 != 0 || valueBlockLength > MaxValueBlockLength)
        {
            throw new ArgumentOutOfRangeException(nameof(valueBlockLength), valueBlockLength, $"a value-block length is a positive multiple of 8, at most {MaxValueBlockLength} (Linux's default is 32)");
        }

        Task<ILockspace> joined;
        lock (_lock)
        {
            var post = Post();
            if (_byName.TryGetValue(name, out var joining))
            {
                if (joining.ValueBlockLength != valueBlockLength)
                {
                    throw new LockspaceJoinException($"lockspace \"{name}\" is joined on this node with value blocks of {joining.ValueBlockLength} bytes, not {valueBlockLength}: every user of a lockspace uses the same length");
                }

                joined = joining.Done.Task;
            }
            else
            {
                joining = new Joining(name, valueBlockLength, ++_nextToken);
                _byName[name] = joining;
                _byToken[joining.Token] = joining;
                joined = joining.Done.Task;
                post(new LocalRequest(new DlmJoin(joining.Token, name, valueBlockLength)));
            }
        }

        return cancellationToken.CanBeCanceled ? joined.WaitAsync(cancellationToken) : joined;
    }

    /// <summary>Handles one of the core's events (on the core's task).</summary>
    public void OnEvent(object e)
    {
        switch (e)
        {
            case DlmCompleted completed:
                Find(completed.LockId)?.Complete(completed);
                break;
            case DlmBlocking blocking:
                Find(blocking.LockId)?.Blocked(blocking.Mode);
                break;
            case DlmJoined joined:
                Joined(joined);
                break;
        }
    }

    /// <summary>
    /// Releases every lock of this node's clients, for a clean leave: from now on new locks and conversions are
    /// refused (unlocks are not); a request or conversion in flight is cancelled, and whatever a lock holds once its
    /// operation completed is unlocked. Completes when no lock holds anything or has an operation in flight.
    /// </summary>
    /// <param name="cancellationToken">Cancelled when <c>Node:DrainTimeout</c> runs out.</param>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        List<DlmLock> locks;
        lock (_lock)
        {
            _draining = true;
            locks = [.. _locks.Values.Distinct()];
        }

        await Task.WhenAll(locks.Select(l => l.ReleaseAsync(cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>Fails every join and operation in flight: the agent stops, and no completion will come.</summary>
    public void Stop(string why)
    {
        List<Joining> joins;
        List<DlmLock> locks;
        lock (_lock)
        {
            _stopped = why;
            joins = [.. _byToken.Values];
            locks = [.. _locks.Values];
            _byToken.Clear();
            _locks.Clear();
        }

        foreach (var joining in joins)
        {
            joining.Done.TrySetException(new LockspaceJoinException($"joining lockspace \"{joining.Name}\" did not finish: {why}"));
        }

        foreach (var l in locks)
        {
            l.Abandon(why);
        }
    }

    /// <summary>Fails the operation in flight on lock <paramref name="lockId"/>: the core refused it.</summary>
    public void Refused(long lockId, Exception why) => Find(lockId)?.Fail(why);

    private void Joined(DlmJoined joined)
    {
        Joining? joining;
        lock (_lock)
        {
            if (!_byToken.Remove(joined.Token, out joining))
            {
                return;
            }

            if (joined.Error is not null || joined.Id == 0)
            {
                _byName.Remove(joining.Name);
            }
        }

        if (joined.Error is not null || joined.Id == 0)
        {
            joining.Done.TrySetException(new LockspaceJoinException($"joining lockspace \"{joining.Name}\" failed: {joined.Error ?? "the lock manager gave no id"}"));
            return;
        }

        joining.Done.TrySetResult(new DlmLockspace(this, joining.Name, joined.Id, joining.ValueBlockLength));
    }

    private Action<CoreInput> Post()
    {
        if (_stopped is not null)
        {
            throw new InvalidOperationException($"the lock manager has stopped: {_stopped}");
        }

        return _post ?? throw new InvalidOperationException("the lock manager runs only on a node with a cluster document: start the agent with Node:Bootstrap (or --bootstrap)");
    }

    private DlmLock? Find(long lockId)
    {
        lock (_lock)
        {
            return _locks.GetValueOrDefault(lockId);
        }
    }

    /// <summary>Registers <paramref name="l"/> under a fresh lock id, for a new lock.</summary>
    private long Register(DlmLock l)
    {
        lock (_lock)
        {
            _ = Post();
            RefuseWhileDraining();
            var id = ++_nextLockId;
            _locks[id] = l;
            return id;
        }
    }

    private void Send(CoreInput input, bool refuseWhileDraining = false)
    {
        lock (_lock)
        {
            var post = Post();
            if (refuseWhileDraining)
            {
                RefuseWhileDraining();
            }

            post(input);
        }
    }

    private void RefuseWhileDraining()
    {
        if (_draining)
        {
            throw new InvalidOperationException("this node is leaving the cluster: its locks are being released, and new locks and conversions are refused");
        }
    }

    private void Forget(long lockId)
    {
        lock (_lock)
        {
            _locks.Remove(lockId);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "the blocking callback of a lock on {Resource} in lockspace {Lockspace} threw")]
    private static partial void LogBlockingThrew(ILogger logger, string lockspace, string resource, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "a continuation of a lock on {Resource} in lockspace {Lockspace} threw on the lock manager's thread")]
    private static partial void LogContinuationThrew(ILogger logger, string lockspace, string resource, Exception exception);

    private sealed class Joining(string name, int valueBlockLength, long token)
    {
        public string Name { get; } = name;

        public int ValueBlockLength { get; } = valueBlockLength;

        public long Token { get; } = token;

        public TaskCompletionSource<ILockspace> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>A cancel the host asks for, checked on the core's task against the operation it was meant for: the
    /// operation may have completed since (the core refuses a cancel of a lock it no longer has).</summary>
    /// <param name="Lock">The lock.</param>
    /// <param name="Sequence">The operation's number on that lock.</param>
    internal sealed record CancelRequest(DlmLock Lock, int Sequence)
    {
        /// <summary>The core's request, or null when the operation is over.</summary>
        public DlmOperation? Operation => Lock.CancelFor(Sequence);
    }

    /// <summary>A lockspace joined on this node.</summary>
    internal sealed class DlmLockspace(DistributedLockManager manager, string name, int id, int valueBlockLength) : ILockspace
    {
        public DistributedLockManager Manager { get; } = manager;

        public string Name { get; } = name;

        public int Id { get; } = id;

        public int ValueBlockLength { get; } = valueBlockLength;

        public LockHandle CreateLock(ReadOnlySpan<byte> resource, Action<LockHandle, LockMode>? blocking = null)
        {
            if (resource.Length is 0 or > MaxNameBytes)
            {
                throw new ArgumentException($"a resource name is 1 to {MaxNameBytes} bytes, not {resource.Length}", nameof(resource));
            }

            return new DlmLock(this, resource.ToArray(), blocking);
        }

        public override string ToString() => Name;
    }

    /// <summary>One lock: its state as this node's clients see it, and the completion of its operation in flight.</summary>
    internal sealed class DlmLock : LockHandle, IValueTaskSource<LockResult>
    {
        private const int None = -1;

        private readonly DlmLockspace _lockspace;
        private readonly byte[] _resource;
        private readonly byte[] _valueBlock;
        private readonly Action<LockHandle, LockMode>? _blocking;
        private ManualResetValueTaskSourceCore<LockResult> _completion;
        private int _busy;
        private int _granted = None;
        private int _sequence;
        private int _cancelAsked;
        private DlmOperationKind _kind;
        private long _id;
        private FencingToken _token;
        private TaskCompletionSource? _idle;

        public DlmLock(DlmLockspace lockspace, byte[] resource, Action<LockHandle, LockMode>? blocking)
        {
            _lockspace = lockspace;
            _resource = resource;
            _blocking = blocking;
            _valueBlock = new byte[lockspace.ValueBlockLength];
            _completion.RunContinuationsAsynchronously = false; // on the lock manager's thread, as documented
        }

        public override ReadOnlyMemory<byte> Resource => _resource;

        public override LockMode? GrantedMode => Volatile.Read(ref _granted) is var g && g == None ? null : (LockMode)g;

        public override Memory<byte> ValueBlock => _valueBlock;

        public override FencingToken Token => _token;

        private DistributedLockManager Manager => _lockspace.Manager;

        public override ValueTask<LockResult> LockAsync(LockMode mode, LockFlags flags = LockFlags.None)
        {
            CheckMode(mode);
            CheckKnown(flags);
            CheckRules(DlmOperationKind.Lock, mode, flags, null);
            Enter(DlmOperationKind.Lock);
            if (_granted != None)
            {
                Volatile.Write(ref _busy, 0);
                throw new InvalidOperationException($"this handle holds {(LockMode)_granted} on {Describe()}: convert or unlock it, or create another handle");
            }

            try
            {
                _id = Manager.Register(this);
            }
            catch
            {
                Volatile.Write(ref _busy, 0);
                throw;
            }

            return Send(DlmOperationKind.Lock, mode, flags, default);
        }

        public override ValueTask<LockResult> ConvertAsync(LockMode mode, LockFlags flags = LockFlags.None)
        {
            CheckMode(mode);
            CheckKnown(flags);
            Enter(DlmOperationKind.Convert);
            var granted = _granted;
            if (granted == None)
            {
                Volatile.Write(ref _busy, 0);
                throw new InvalidOperationException($"this handle holds nothing on {Describe()}: lock it first");
            }

            if (LockRules.Check(DlmOperationKind.Convert, mode, flags & ~LockFlags.Convert, (LockMode)granted) is { } problem)
            {
                Volatile.Write(ref _busy, 0);
                throw new ArgumentException(problem, nameof(flags));
            }

            return Send(DlmOperationKind.Convert, mode, flags & ~LockFlags.Convert, WriteBlock(flags, granted));
        }

        public override ValueTask<LockResult> UnlockAsync(LockFlags flags = LockFlags.None)
        {
            CheckRules(DlmOperationKind.Unlock, LockMode.Null, flags, null);

            Enter(DlmOperationKind.Unlock);
            var granted = _granted;
            if (granted == None)
            {
                Volatile.Write(ref _busy, 0);
                throw new InvalidOperationException($"this handle holds nothing on {Describe()}: nothing to unlock");
            }

            return Send(DlmOperationKind.Unlock, LockMode.Null, flags, WriteBlock(flags, granted));
        }

        public override bool Cancel()
        {
            if (Volatile.Read(ref _busy) == 0 || _kind == DlmOperationKind.Unlock)
            {
                return false;
            }

            if (Interlocked.Exchange(ref _cancelAsked, 1) == 0)
            {
                try
                {
                    Manager.Send(new LocalRequest(new CancelRequest(this, Volatile.Read(ref _sequence))));
                }
                catch (InvalidOperationException)
                {
                    return false; // stopped: the operation fails by itself
                }
            }

            return true;
        }

        /// <summary>The core's cancel of operation <paramref name="sequence"/>, if it is still in flight (on the core's task).</summary>
        internal DlmOperation? CancelFor(int sequence) =>
            Volatile.Read(ref _busy) == 1 && Volatile.Read(ref _sequence) == sequence && _kind != DlmOperationKind.Unlock
                ? new DlmOperation(DlmOperationKind.Cancel, _lockspace.Id, _id, default, LockMode.Null, LockFlags.None, default)
                : null;

        /// <summary>The operation in flight completed (on the core's task).</summary>
        internal void Complete(DlmCompleted completed)
        {
            if (Volatile.Read(ref _busy) == 0)
            {
                return;
            }

            var result = completed.Result;
            _granted = LockRules.GrantedAfter(_kind, result, _granted == None ? null : (LockMode)_granted) is { } held ? (int)held : None;

            if (!result.Token.IsNone)
            {
                _token = result.Token;
            }

            if (!completed.ValueBlock.IsEmpty)
            {
                completed.ValueBlock.Span[..Math.Min(completed.ValueBlock.Length, _valueBlock.Length)].CopyTo(_valueBlock);
            }

            if (_granted == None)
            {
                Manager.Forget(_id);
            }

            Volatile.Write(ref _busy, 0);
            try
            {
                _completion.SetResult(result); // the continuation runs here, and may start the next operation at once
            }
            catch (Exception ex)
            {
                LogContinuationThrew(Manager._logger, _lockspace.Name, Describe(), ex);
            }

            Interlocked.Exchange(ref _idle, null)?.TrySetResult();
        }

        /// <summary>The core refused the operation in flight.</summary>
        internal void Fail(Exception why)
        {
            if (Volatile.Read(ref _busy) == 0)
            {
                return;
            }

            if (_kind == DlmOperationKind.Lock)
            {
                Manager.Forget(_id);
            }

            Volatile.Write(ref _busy, 0);
            try
            {
                _completion.SetException(why);
            }
            catch (Exception ex)
            {
                LogContinuationThrew(Manager._logger, _lockspace.Name, Describe(), ex);
            }

            Interlocked.Exchange(ref _idle, null)?.TrySetResult();
        }

        /// <summary>The agent stopped: the operation in flight fails, and the lock is gone with this incarnation.</summary>
        internal void Abandon(string why)
        {
            _granted = None;
            Fail(new InvalidOperationException($"the lock on {Describe()} is gone: {why}"));
        }

        /// <summary>Cancels what is in flight and unlocks what is held (a clean leave); bounded in passes, since the
        /// client may unlock at the same time.</summary>
        internal async Task ReleaseAsync(CancellationToken cancellationToken)
        {
            for (var pass = 0; pass < 8; pass++)
            {
                if (Volatile.Read(ref _busy) == 1)
                {
                    var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    Volatile.Write(ref _idle, idle);
                    if (Volatile.Read(ref _busy) == 1)
                    {
                        Cancel();
                        await idle.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }

                    continue;
                }

                if (Volatile.Read(ref _granted) == None)
                {
                    return;
                }

                try
                {
                    await UnlockAsync().ConfigureAwait(false);
                }
                catch (InvalidOperationException) when (Volatile.Read(ref _busy) == 1 || Volatile.Read(ref _granted) == None)
                {
                    // The client started an operation (its own unlock) at the same moment: look again.
                }
            }
        }

        /// <summary>The lock blocks a request for <paramref name="mode"/> (on the core's task).</summary>
        internal void Blocked(LockMode mode)
        {
            if (_blocking is null || _granted == None)
            {
                return;
            }

            try
            {
                _blocking(this, mode);
            }
            catch (Exception ex)
            {
                LogBlockingThrew(Manager._logger, _lockspace.Name, Describe(), ex);
            }
        }

        LockResult IValueTaskSource<LockResult>.GetResult(short token) => _completion.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<LockResult>.GetStatus(short token) => _completion.GetStatus(token);

        void IValueTaskSource<LockResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _completion.OnCompleted(continuation, state, token, flags);

        public override string ToString() => $"{Describe()} in {_lockspace.Name}: {(GrantedMode is { } mode ? mode.ToString() : "nothing")}";

        private static void CheckMode(LockMode mode)
        {
            if (mode is < LockMode.Null or > LockMode.Exclusive)
            {
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "a mode is NL, CR, CW, PR, PW or EX");
            }
        }

        private static void CheckRules(DlmOperationKind kind, LockMode mode, LockFlags flags, LockMode? granted)
        {
            if (LockRules.Check(kind, mode, flags, granted) is { } problem)
            {
                throw new ArgumentException(problem, nameof(flags));
            }
        }

        private static void CheckKnown(LockFlags flags)
        {
            const LockFlags known = LockFlags.NoQueue | LockFlags.Convert | LockFlags.ValueBlock | LockFlags.QueueConvert | LockFlags.InvalidateValueBlock
                | LockFlags.ConvertDeadlock | LockFlags.Expedite | LockFlags.NoQueueBlocking | LockFlags.AlternatePR | LockFlags.AlternateCW;
            if ((flags & ~known) != 0)
            {
                throw new ArgumentException($"unknown lock flags 0x{(int)(flags & ~known):x}", nameof(flags));
            }
        }

        /// <summary>Claims the handle for one operation.</summary>
        private void Enter(DlmOperationKind kind)
        {
            if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            {
                throw new InvalidOperationException($"an operation ({_kind}) is in flight on {Describe()}: await it (or cancel it) first");
            }

            _kind = kind;
            _cancelAsked = 0;
            Interlocked.Increment(ref _sequence);
            _completion.Reset();
        }

        private ValueTask<LockResult> Send(DlmOperationKind kind, LockMode mode, LockFlags flags, ReadOnlyMemory<byte> valueBlock)
        {
            try
            {
                var resource = kind == DlmOperationKind.Lock ? _resource : ReadOnlyMemory<byte>.Empty;
                Manager.Send(new LocalRequest(new DlmOperation(kind, _lockspace.Id, _id, resource, mode, flags, valueBlock)), refuseWhileDraining: kind == DlmOperationKind.Convert);
            }
            catch
            {
                if (kind == DlmOperationKind.Lock)
                {
                    Manager.Forget(_id);
                }

                Volatile.Write(ref _busy, 0);
                throw;
            }

            return new ValueTask<LockResult>(this, _completion.Version);
        }

        /// <summary>What a down-conversion or an unlock from PW/EX with VALBLK writes: a copy, since the core reads it later.</summary>
        private ReadOnlyMemory<byte> WriteBlock(LockFlags flags, int granted) =>
            (flags & LockFlags.ValueBlock) != 0 && granted >= (int)LockMode.ProtectedWrite ? _valueBlock.ToArray() : default;

        private string Describe() => DescribeResource(_resource);
    }

    /// <summary>A resource name for messages: as text when it is printable UTF-8, else in hex.</summary>
    public static string DescribeResource(ReadOnlySpan<byte> name)
    {
        try
        {
            var text = new UTF8Encoding(false, true).GetString(name);
            if (text.All(c => !char.IsControl(c)))
            {
                return $"resource \"{text}\"";
            }
        }
        catch (DecoderFallbackException)
        {
        }

        return "resource 0x" + Convert.ToHexStringLower(name);
    }
}
