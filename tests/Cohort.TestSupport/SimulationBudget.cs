using System.Globalization;

namespace Cohort.TestSupport;

/// <summary>The wall-clock budget of a simulation suite: <c>COHORT_SIM_SECONDS</c> (CI sets about 60), default 15.</summary>
public static class SimulationBudget
{
    /// <summary>The budget, read at each use.</summary>
    public static TimeSpan PerSuite =>
        TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("COHORT_SIM_SECONDS") is { } raw
            && int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? seconds
            : 15);

    /// <summary>The first seed of a random suite: <c>COHORT_SIM_FIRST_SEED</c>, else the suite's own.
    /// Suites walk seeds in order, so a long hunt past what CI covers starts where CI stops.</summary>
    public static ulong FirstSeed(ulong fallback) =>
        Environment.GetEnvironmentVariable("COHORT_SIM_FIRST_SEED") is { } raw
            && ulong.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var seed) && seed > 0
            ? seed
            : fallback;
}
