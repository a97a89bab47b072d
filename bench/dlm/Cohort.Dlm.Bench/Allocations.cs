namespace Cohort.Dlm.Bench;

/// <summary>How many bytes something allocates, measured on this thread.</summary>
internal static class Allocations
{
    /// <summary>Keeps what <see cref="PerCall"/> allocates reachable, so none of it is optimised away.</summary>
    private static object? _sink;

    /// <summary>Bytes allocated per call of <paramref name="make"/>, over 10,000 calls (after one to warm it up).</summary>
    public static double PerCall(Func<int, object> make)
    {
        const int n = 10_000;
        _sink = make(0);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < n; i++)
        {
            _sink = make(i);
        }

        var bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        _sink = null;
        return bytes / (double)n;
    }
}
