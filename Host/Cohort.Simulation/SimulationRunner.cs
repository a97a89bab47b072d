using System.Diagnostics;

namespace Cohort.Simulation;

/// <summary>What <see cref="SimulationRunner.Run"/> should do.</summary>
public sealed record SimulationRequest
{
    /// <summary>Makes the cluster setup for a schedule's seed (called once per schedule, so policies
    /// are fresh and a suite may vary the cluster with the seed).</summary>
    public required Func<ulong, ClusterSetup> Setup { get; init; }

    /// <summary>The first schedule's seed; the next schedules use the following seeds.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>The most schedules to run.</summary>
    public int MaxSchedules { get; init; } = int.MaxValue;

    /// <summary>Wall-clock budget: no new schedule starts after it (the first always runs to completion).</summary>
    public TimeSpan Budget { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Simulated time each schedule covers.</summary>
    public TimeSpan Span { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Whether to inject faults (false: the cluster just runs).</summary>
    public bool Faults { get; init; } = true;

    /// <summary>Stop after the first schedule that found a violation (hunting a mutant).</summary>
    public bool StopAtFirstViolation { get; init; }
}

/// <summary>What a run found.</summary>
/// <param name="Schedules">How many schedules ran.</param>
/// <param name="Violations">The violations, at most one per schedule.</param>
/// <param name="TraceHash">The SHA-256 of the first schedule's canonical trace.</param>
/// <param name="Steps">Inputs handled, over all schedules.</param>
/// <param name="Faults">Faults injected, over all schedules.</param>
/// <param name="ViewsInstalled">Distinct views installed, over all schedules.</param>
/// <param name="Elapsed">Wall-clock time taken.</param>
public sealed record SimulationReport(int Schedules, IReadOnlyList<Violation> Violations, string TraceHash, long Steps, long Faults, long ViewsInstalled, TimeSpan Elapsed);

/// <summary>Runs schedules of a simulated cluster with random faults and every checker attached.</summary>
public static class SimulationRunner
{
    /// <summary>Runs one schedule.</summary>
    public static (SimulatedCluster Cluster, FaultPlan Plan, ViewChecker Views) RunOne(ClusterSetup setup, ulong seed, TimeSpan span, bool faults = true)
    {
        var cluster = new SimulatedCluster(setup, seed);
        var views = new ViewChecker();
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(views);
        var plan = FaultPlan.Install(cluster, faults);
        cluster.RunUntil(span);
        return (cluster, plan, views);
    }

    /// <summary>Runs schedules until the budget or the schedule cap is reached.</summary>
    public static SimulationReport Run(SimulationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var violations = new List<Violation>();
        string? traceHash = null;
        long steps = 0, faults = 0, views = 0;
        var schedules = 0;
        for (var seed = request.Seed; schedules < request.MaxSchedules && (schedules == 0 || clock.Elapsed < request.Budget); seed++)
        {
            if (request.StopAtFirstViolation && violations.Count > 0)
            {
                break;
            }

            var (cluster, plan, viewChecker) = RunOne(request.Setup(seed), seed, request.Span, request.Faults);
            schedules++;
            traceHash ??= cluster.TraceHash;
            steps += cluster.Steps;
            faults += plan.Faults;
            views += viewChecker.ViewsInstalled;
            if (cluster.Violation is { } violation)
            {
                violations.Add(violation);
            }
        }

        return new SimulationReport(schedules, violations, traceHash!, steps, faults, views, clock.Elapsed);
    }
}
