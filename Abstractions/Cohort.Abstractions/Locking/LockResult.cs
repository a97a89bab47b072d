namespace Cohort.Locking;

/// <summary>The completion of one lock operation.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="Mode">The mode the lock holds afterwards (<see cref="LockMode.Null"/> with nothing held
/// after an unlock or a refused new request).</param>
/// <param name="Flags">What else happened.</param>
/// <param name="Token">For a PW or EX grant, its fencing token; <see cref="FencingToken.None"/> otherwise.</param>
public readonly record struct LockResult(LockStatus Status, LockMode Mode, LockResultFlags Flags, FencingToken Token);

/// <summary>
/// A fencing token: handed out with every PW or EX grant of a resource, it only grows — across masters,
/// the death of a master, and the eviction and recreation of the resource elsewhere — so a storage server
/// that remembers the largest token it accepted refuses a late write from a holder that lost its lock.
/// </summary>
/// <remarks>
/// Ordered lexicographically by (<see cref="ViewSeq"/>, <see cref="Recovery"/>, <see cref="Counter"/>). The
/// first two name the lockspace epoch in which the resource's current master took it: the membership view
/// seq and the lockspace's recovery within that view (a lockspace's membership can change without a new
/// view). The counter counts PW/EX grants under that master, carried on by the directory node when the
/// master drops the resource from its cache.
/// </remarks>
/// <param name="ViewSeq">The view seq of the epoch in which the master took the resource.</param>
/// <param name="Recovery">The lockspace recovery within that view.</param>
/// <param name="Counter">The grant counter; 0 only in <see cref="None"/>.</param>
public readonly record struct FencingToken(long ViewSeq, int Recovery, long Counter) : IComparable<FencingToken>
{
    /// <summary>No token (a grant below PW).</summary>
    public static FencingToken None => default;

    /// <summary>Whether this is <see cref="None"/>.</summary>
    public bool IsNone => Counter == 0;

    /// <summary>Whether <paramref name="left"/> orders before <paramref name="right"/>.</summary>
    public static bool operator <(FencingToken left, FencingToken right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> orders after <paramref name="right"/>.</summary>
    public static bool operator >(FencingToken left, FencingToken right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> orders before or equals <paramref name="right"/>.</summary>
    public static bool operator <=(FencingToken left, FencingToken right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> orders after or equals <paramref name="right"/>.</summary>
    public static bool operator >=(FencingToken left, FencingToken right) => left.CompareTo(right) >= 0;

    /// <inheritdoc />
    public int CompareTo(FencingToken other)
    {
        var c = ViewSeq.CompareTo(other.ViewSeq);
        if (c != 0)
        {
            return c;
        }

        c = Recovery.CompareTo(other.Recovery);
        return c != 0 ? c : Counter.CompareTo(other.Counter);
    }

    /// <summary>As <c>seq.recovery:counter</c>.</summary>
    public override string ToString() => IsNone ? "-" : $"{ViewSeq}.{Recovery}:{Counter}";
}
