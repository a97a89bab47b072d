using Cohort.Simulation;
using Cohort.TestSupport;

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
        var report = SimulationRunner.Run(new SimulationRequest
        {
            Setup = seed => Clusters.VoteQuorum(NodesFor(seed)),
            Seed = SimulationBudget.FirstSeed(1000),
            Budget = SimulationBudget.PerSuite,
        });

        TestContext.Out.WriteLine($"{report.Schedules} schedules of 120 s simulated, 2-9 nodes, in {report.Elapsed.TotalSeconds:F1} s: {report.Steps} steps, {report.Faults} faults, {report.ViewsInstalled} views");
        foreach (var v in report.Violations)
        {
            TestContext.Out.WriteLine($"seed {v.Seed} ({NodesFor(v.Seed)} nodes): {v.Invariant} at {v.At}: {v.Detail}");
            foreach (var line in v.LastSteps)
            {
                TestContext.Out.WriteLine("    " + line);
            }
        }

        Assert.That(report.Violations.Select(v => $"seed {v.Seed}: {v.Invariant}"), Is.Empty);
    }

    internal static int NodesFor(ulong seed) => 2 + (int)(seed % 8);
}
