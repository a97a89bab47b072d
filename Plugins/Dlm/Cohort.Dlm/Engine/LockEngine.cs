using Cohort.Locking;

namespace Cohort.Dlm.Engine;

/// <summary>Where the <see cref="LockEngine"/> reports what it decided.</summary>
internal interface IEngineSink
{
    /// <summary>The request or conversion in progress of <paramref name="lkb"/> ended (granted, refused or
    /// cancelled), or it was unlocked. For a grant or up-conversion with <see cref="LockFlags.ValueBlock"/>
    /// <paramref name="valueBlock"/> is the resource's value block (empty if never written), else empty.</summary>
    void Completed(Rsb rsb, Lkb lkb, LockResult result, ReadOnlySpan<byte> valueBlock);

    /// <summary>Granted lock <paramref name="holder"/> blocks a request for <paramref name="mode"/>.</summary>
    void Blocking(Rsb rsb, Lkb holder, LockMode mode);
}

/// <summary>
/// The master's rules for one resource's queues and value block, exactly as Linux's fs/dlm/lock.c: grant
/// rules, in-place conversions, QUECVT, conversion deadlocks, NOQUEUE, EXPEDITE, ALTPR/ALTCW, blocking
/// notifications, value blocks with sequence numbers, fencing tokens. No IO, no distribution: the core calls it
/// on the master, for local and remote locks alike.
/// </summary>
internal sealed class LockEngine(IEngineSink sink, DlmMutant mutant = DlmMutant.None)
{
    private readonly IEngineSink _sink = sink;
    private readonly bool _ignoreConvertQueue = mutant == DlmMutant.IgnoreConvertQueue;

    /// <summary>For the skeleton only; the implementation uses the fields.</summary>
    public override string ToString() => $"{_sink} {_ignoreConvertQueue}";

    /// <summary>Whether two modes may be granted together.</summary>
    public static bool Compatible(LockMode a, LockMode b) => throw new NotImplementedException();

    /// <summary>A new request of <paramref name="lkb"/> (on no queue, nothing granted) for <paramref name="mode"/>.</summary>
    public void Request(Rsb rsb, Lkb lkb, LockMode mode, LockFlags flags) => throw new NotImplementedException();

    /// <summary>A conversion of granted lock <paramref name="lkb"/> to <paramref name="mode"/>; <paramref name="valueBlock"/>
    /// is written with <see cref="LockFlags.ValueBlock"/> on a down-conversion from PW/EX.</summary>
    public void Convert(Rsb rsb, Lkb lkb, LockMode mode, LockFlags flags, ReadOnlySpan<byte> valueBlock) => throw new NotImplementedException();

    /// <summary>Releases granted lock <paramref name="lkb"/> (on the grant queue); completes it <see cref="LockStatus.Unlocked"/>.</summary>
    public void Unlock(Rsb rsb, Lkb lkb, LockFlags flags, ReadOnlySpan<byte> valueBlock) => throw new NotImplementedException();

    /// <summary>Cancels the waiting request or conversion of <paramref name="lkb"/>; false (and nothing reported) if it
    /// has none.</summary>
    public bool Cancel(Rsb rsb, Lkb lkb) => throw new NotImplementedException();

    /// <summary>Grants whatever can be granted now (after recovery rebuilt the queues), in Linux's order.</summary>
    public void GrantPending(Rsb rsb) => throw new NotImplementedException();

    /// <summary>Removes every lock <paramref name="departed"/> selects, without reporting them; a departed PW/EX holder
    /// invalidates the value block. Then grants what can be granted.</summary>
    public void Purge(Rsb rsb, Predicate<Lkb> departed) => throw new NotImplementedException();
}
