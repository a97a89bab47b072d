namespace Cohort.Locking;

/// <summary>
/// Which flags a lock operation may carry, as Linux's <c>dlm_lock</c> and <c>dlm_unlock</c> check them
/// (<c>set_lock_args</c>, <c>validate_lock_args</c>, <c>set_unlock_args</c>). Lock managers refuse what
/// <see cref="Check"/> reports; callers may check first for a better message.
/// </summary>
public static class LockRules
{
    /// <summary>Linux's <c>__quecvt_compat_matrix</c>: the conversions <see cref="LockFlags.QueueConvert"/> may
    /// be used on (from granted NL..EX, to NL..EX) — those to a mode that is not already implied.</summary>
    private static readonly bool[,] QueueConvertAllowed =
    {
        { false, true, true, true, true, true },
        { false, false, true, true, true, true },
        { false, false, false, true, true, true },
        { false, false, true, false, true, true },
        { false, false, false, false, false, true },
        { false, false, false, false, false, false },
    };

    private const LockFlags UnlockFlags = LockFlags.ValueBlock | LockFlags.InvalidateValueBlock;

    /// <summary>What a lock holds once an operation of <paramref name="kind"/> completed with <paramref name="result"/>:
    /// a granted request or conversion holds its mode; a refused new request nothing; a conversion demoted by
    /// <see cref="LockFlags.ConvertDeadlock"/> NL; an unlock nothing; anything else what it held before.</summary>
    /// <param name="kind">The operation that completed.</param>
    /// <param name="result">How it completed.</param>
    /// <param name="granted">What the lock held before, or null.</param>
    /// <returns>The mode held now, or null for none.</returns>
    public static LockMode? GrantedAfter(DlmOperationKind kind, LockResult result, LockMode? granted) => (kind, result.Status) switch
    {
        (DlmOperationKind.Lock, LockStatus.Granted) => result.Mode,
        (DlmOperationKind.Lock, _) => null,
        (DlmOperationKind.Convert, LockStatus.Granted) => result.Mode,
        (DlmOperationKind.Convert, _) when (result.Flags & LockResultFlags.Demoted) != 0 => LockMode.Null,
        (DlmOperationKind.Unlock, LockStatus.Unlocked) => null,
        _ => granted,
    };

    /// <summary>Whether the flags suit the operation.</summary>
    /// <param name="kind">The operation (<see cref="DlmOperationKind.Cancel"/> takes no flags).</param>
    /// <param name="mode">The mode requested (ignored for an unlock).</param>
    /// <param name="flags">The flags.</param>
    /// <param name="granted">The lock's granted mode, for a conversion.</param>
    /// <returns>Null when valid; else what is wrong, in a sentence that names the flag.</returns>
    public static string? Check(DlmOperationKind kind, LockMode mode, LockFlags flags, LockMode? granted = null)
    {
        switch (kind)
        {
            case DlmOperationKind.Lock:
                if ((flags & LockFlags.Convert) != 0)
                {
                    return "CONVERT is not a flag of a new request: convert a granted lock instead";
                }

                if ((flags & LockFlags.InvalidateValueBlock) != 0)
                {
                    return "IVVALBLK applies to a conversion or an unlock, not to a new request";
                }

                if ((flags & LockFlags.QueueConvert) != 0)
                {
                    return "QUECVT applies to conversions, not to a new request";
                }

                if ((flags & LockFlags.ConvertDeadlock) != 0)
                {
                    return "CONVDEADLK applies to conversions, not to a new request";
                }

                if ((flags & LockFlags.Expedite) != 0 && (mode != LockMode.Null || (flags & LockFlags.NoQueue) != 0))
                {
                    return "EXPEDITE applies to a new NL request without NOQUEUE only";
                }

                return null;
            case DlmOperationKind.Convert:
                if ((flags & LockFlags.Expedite) != 0)
                {
                    return "EXPEDITE applies to a new NL request, not to a conversion";
                }

                if ((flags & LockFlags.ConvertDeadlock) != 0 && (flags & LockFlags.NoQueue) != 0)
                {
                    return "CONVDEADLK and NOQUEUE exclude each other";
                }

                if ((flags & LockFlags.QueueConvert) != 0 && (granted is not { } from || !QueueConvertAllowed[(int)from, (int)mode]))
                {
                    return $"QUECVT applies to up-conversions only, not {granted?.ToString() ?? "nothing"} to {mode}";
                }

                return null;
            case DlmOperationKind.Unlock:
                return (flags & ~UnlockFlags) != 0 ? "an unlock takes VALBLK and IVVALBLK only" : null;
            default:
                return flags != LockFlags.None ? "a cancel takes no flags" : null;
        }
    }
}
