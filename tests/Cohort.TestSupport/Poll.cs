using System.Diagnostics;

namespace Cohort.TestSupport;

/// <summary>Waits for a condition by polling it until a deadline; never a bare sleep.</summary>
public static class Poll
{
    /// <summary>The default deadline: generous, since these machines are shared and noisy.</summary>
    public static readonly TimeSpan DefaultDeadline = TimeSpan.FromSeconds(30);

    /// <summary>Polls <paramref name="probe"/> until it returns a value or the deadline passes.</summary>
    /// <exception cref="TimeoutException">The deadline passed; the message says what was awaited.</exception>
    public static async Task<T> UntilAsync<T>(string awaited, Func<Task<T?>> probe, TimeSpan? deadline = null)
        where T : class
    {
        var limit = deadline ?? DefaultDeadline;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            if (clock.Elapsed > limit)
            {
                throw new TimeoutException($"waited {limit.TotalSeconds:0} s for {awaited}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(25));
        }
    }

    /// <summary>Polls a condition until it holds or the deadline passes.</summary>
    public static async Task UntilAsync(string awaited, Func<bool> condition, TimeSpan? deadline = null) =>
        await UntilAsync(awaited, () => Task.FromResult(condition() ? "" : null), deadline);
}
