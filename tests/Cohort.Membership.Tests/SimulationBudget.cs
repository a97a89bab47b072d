using System.Globalization;

namespace Cohort.Membership.Tests;

/// <summary>The wall-clock budget of a simulation suite: <c>COHORT_SIM_SECONDS</c> (CI sets about 60), default 15.</summary>
internal static class SimulationBudget
{
    public static TimeSpan PerSuite =>
        TimeSpan.FromSeconds(Environment.GetEnvironmentVariable("COHORT_SIM_SECONDS") is { } raw
            && int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? seconds
            : 15);
}
