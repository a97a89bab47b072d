namespace Cohort.Locking;

/// <summary>
/// The lock manager as the services on a node use it: the host's, one per node, resolvable from every plugin's
/// scope. Semantics are the Linux DLM's (<c>dlm_lock(3)</c>); see docs/dlm.md for the table.
/// </summary>
public interface IDistributedLockManager
{
    /// <summary>Joins a lockspace (or returns the one this node joined already).</summary>
    /// <param name="name">The name: 1 to 64 bytes of UTF-8.</param>
    /// <param name="valueBlockLength">The value-block length: a positive multiple of 8 (Linux's default is 32).
    /// Every member must use the same.</param>
    /// <param name="cancellationToken">Stops waiting (the join may still complete).</param>
    /// <returns>The lockspace, once a recovery that counts this node a member has finished.</returns>
    /// <exception cref="LockspaceJoinException">The members use another value-block length, or the name is invalid.</exception>
    Task<ILockspace> JoinAsync(string name, int valueBlockLength = 32, CancellationToken cancellationToken = default);
}

/// <summary>A lockspace this node has joined: an independent namespace of resources.</summary>
public interface ILockspace
{
    /// <summary>The name.</summary>
    string Name { get; }

    /// <summary>The value-block length of every lock of the lockspace.</summary>
    int ValueBlockLength { get; }

    /// <summary>Makes a handle for one lock on <paramref name="resource"/>; nothing is requested yet.</summary>
    /// <param name="resource">The resource's name: 1 to 64 bytes, binary allowed; copied.</param>
    /// <param name="blocking">Called (on the lock manager's thread; return quickly) with the highest mode this lock
    /// blocks, each time that rises while the lock is granted (Linux's blocking AST); null for none.</param>
    /// <exception cref="ArgumentException">The name is empty or longer than 64 bytes.</exception>
    LockHandle CreateLock(ReadOnlySpan<byte> resource, Action<LockHandle, LockMode>? blocking = null);
}

/// <summary>
/// One lock: a lock id, a resource, a granted mode and a value block. At most one operation is in flight at a
/// time, and each accepted operation completes exactly once; <see cref="Cancel"/> is the only call allowed
/// while one is.
/// </summary>
/// <remarks>
/// A completion is delivered on the lock manager's thread: continue elsewhere (await with
/// <c>ConfigureAwait(false)</c>, and do not block). Requests made while a lockspace recovers wait; they do not fail.
/// A lock dies with the node incarnation that holds it.
/// </remarks>
public abstract class LockHandle
{
    /// <summary>The resource's name.</summary>
    public abstract ReadOnlyMemory<byte> Resource { get; }

    /// <summary>The mode granted, or null while the lock holds nothing (before its first grant, after an unlock).</summary>
    public abstract LockMode? GrantedMode { get; }

    /// <summary>The lock's value block: read by a grant or up-conversion with <see cref="LockFlags.ValueBlock"/>,
    /// written to the resource by a down-conversion or unlock from PW/EX with that flag. Of the lockspace's length.</summary>
    public abstract Memory<byte> ValueBlock { get; }

    /// <summary>The fencing token of the last PW or EX grant, or <see cref="FencingToken.None"/>.</summary>
    public abstract FencingToken Token { get; }

    /// <summary>Requests the lock in <paramref name="mode"/> (a new lock: the handle holds nothing).</summary>
    /// <exception cref="InvalidOperationException">The handle holds a lock or has an operation in flight.</exception>
    /// <exception cref="ArgumentException">A flag is not valid for a new request (<see cref="LockFlags.QueueConvert"/>,
    /// <see cref="LockFlags.ConvertDeadlock"/>, <see cref="LockFlags.Expedite"/> on a mode other than NL).</exception>
    public abstract ValueTask<LockResult> LockAsync(LockMode mode, LockFlags flags = LockFlags.None);

    /// <summary>Converts the granted lock to <paramref name="mode"/>.</summary>
    /// <exception cref="InvalidOperationException">The handle holds nothing or has an operation in flight.</exception>
    /// <exception cref="ArgumentException"><see cref="LockFlags.QueueConvert"/> on a conversion that is not up, or
    /// <see cref="LockFlags.Expedite"/>.</exception>
    public abstract ValueTask<LockResult> ConvertAsync(LockMode mode, LockFlags flags = LockFlags.None);

    /// <summary>Releases the granted lock; completes with <see cref="LockStatus.Unlocked"/>.</summary>
    /// <remarks>When another node masters the resource, the unlock completes as it is sent (as VMS's <c>$DEQ</c>):
    /// the master frees the lock when the message arrives, before any later request of this node. An unlock that
    /// writes the value block (<see cref="LockFlags.ValueBlock"/> from PW/EX) or invalidates it completes once the
    /// master has it, as in Linux.</remarks>
    /// <param name="flags"><see cref="LockFlags.ValueBlock"/> to write <see cref="ValueBlock"/> (from PW/EX),
    /// <see cref="LockFlags.InvalidateValueBlock"/> to invalidate the resource's value block.</param>
    /// <exception cref="InvalidOperationException">The handle holds nothing or has an operation in flight (cancel it first).</exception>
    public abstract ValueTask<LockResult> UnlockAsync(LockFlags flags = LockFlags.None);

    /// <summary>Cancels the request or conversion in flight: it completes <see cref="LockStatus.Cancelled"/> unless
    /// it was granted (or refused) first.</summary>
    /// <returns>Whether an operation was in flight to cancel.</returns>
    public abstract bool Cancel();
}

/// <summary>Joining a lockspace failed.</summary>
public sealed class LockspaceJoinException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LockspaceJoinException()
    {
    }

    /// <summary>Creates the exception with a message that names the lockspace and the way out.</summary>
    public LockspaceJoinException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public LockspaceJoinException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
