using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>
/// The real membership core under random faults, 2 to 9 nodes, for the suite's budget
/// (<c>COHORT_SIM_SECONDS</c>): no checker may fire. A seed that fails becomes a test in
/// <see cref="RegressionSeeds"/>.
/// </summary>
public class SimulationSuite
{
    [Test]
    public void RandomFaultsBreakNoInvariant()
    {
        var budget = SimulationBudget.PerSuite;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var schedules = 0;
        long steps = 0, faults = 0, views = 0;
        var violations = new List<Violation>();
        for (var seed = 1000UL; clock.Elapsed < budget; seed++)
        {
            var (cluster, plan, viewChecker) = SimulationRunner.RunOne(Clusters.VoteQuorum(NodesFor(seed)), seed, TimeSpan.FromSeconds(120));
            schedules++;
            steps += cluster.Steps;
            faults += plan.Faults;
            views += viewChecker.ViewsInstalled;
            if (cluster.Violation is { } violation)
            {
                violations.Add(violation);
            }
        }

        TestContext.Out.WriteLine($"{schedules} schedules of 120 s simulated, 2-9 nodes, in {clock.Elapsed.TotalSeconds:F1} s: {steps} steps, {faults} faults, {views} views");
        foreach (var v in violations)
        {
            TestContext.Out.WriteLine($"seed {v.Seed} ({NodesFor(v.Seed)} nodes): {v.Invariant} at {v.At}: {v.Detail}");
            foreach (var line in v.LastSteps)
            {
                TestContext.Out.WriteLine("    " + line);
            }
        }

        Assert.That(violations.Select(v => $"seed {v.Seed}: {v.Invariant}"), Is.Empty);
    }

    internal static int NodesFor(ulong seed) => 2 + (int)(seed % 8);
}
