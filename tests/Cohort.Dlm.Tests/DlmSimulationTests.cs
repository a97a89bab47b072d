using Cohort.Simulation;
using Cohort.TestSupport;

namespace Cohort.Dlm.Tests;

/// <summary>Invariant 3 under the fault plan, and the mutants its checker must catch within the budget.</summary>
[NonParallelizable]
public class DlmSimulationTests
{
    private static readonly TimeSpan Span = TimeSpan.FromSeconds(30);

    private static ClusterSetup Setup(int nodes) => ClusterSetup.Generate(nodes, "votequorum", () => new Quorum.VoteQuorum.VoteQuorumPolicy());

    private static (int Schedules, Violation? Violation, DlmChecker? Last) Hunt(DlmMutant mutant, TimeSpan budget, ulong firstSeed, int nodes = 4)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var schedules = 0;
        DlmChecker? last = null;
        for (var seed = firstSeed; schedules == 0 || clock.Elapsed < budget; seed++)
        {
            var (cluster, checker) = DlmSimulation.RunOne(Setup(nodes), new DlmSystem(mutant), seed, Span);
            schedules++;
            last = checker;
            if (cluster.Violation is { } violation)
            {
                return (schedules, violation, checker);
            }
        }

        return (schedules, null, last);
    }

    [Test]
    public void No_violation_under_random_faults()
    {
        var (schedules, violation, last) = Hunt(DlmMutant.None, SimulationBudget.PerSuite * 0.4, SimulationBudget.FirstSeed(1));
        TestContext.Out.WriteLine($"{schedules} schedules; last: {last?.Grants} grants, {last?.TokenGrants} tokens, {last?.ValueReads} value reads, {last?.Recoveries} recoveries, {last?.LivenessChecks} liveness checks");
        Assert.That(violation, Is.Null, () => $"seed {violation!.Seed}: {violation.Invariant}: {violation.Detail}\n{string.Join("\n", violation.LastSteps.TakeLast(30))}");
        Assert.That(last!.Grants, Is.Positive, "the workload ran");
    }

    /// <summary>Node 4 in a minority partition holds PR while nodes 1 to 3 all restart: their first views must
    /// report it departed (startup fencing), and their lockspace must await its gate before granting EX.</summary>
    [Test]
    public void A_majority_that_restarted_entirely_does_not_grant_past_a_partitioned_holder()
    {
        var (cluster, _) = DlmSimulation.RunOne(Setup(4), new DlmSystem(), 141, Span);
        Assert.That(cluster.Violation, Is.Null, () => $"{cluster.Violation!.Invariant}: {cluster.Violation.Detail}");
    }

    [TestCase(DlmMutant.IgnoreConvertQueue)]
    [TestCase(DlmMutant.SkipStopBarrier)]
    [TestCase(DlmMutant.TokenReset)]
    public void The_checker_catches_the_mutant(DlmMutant mutant)
    {
        var (schedules, violation, _) = Hunt(mutant, SimulationBudget.PerSuite * 0.2, 1);
        Assert.That(violation, Is.Not.Null, $"{mutant} survived {schedules} schedules");
        TestContext.Out.WriteLine($"{mutant}: caught in schedule {schedules} (seed {violation!.Seed}): {violation.Detail}");
    }

    [Test]
    public void The_same_seed_gives_the_same_trace()
    {
        var (a, _) = DlmSimulation.RunOne(Setup(3), new DlmSystem(), 42, TimeSpan.FromSeconds(10));
        var (b, _) = DlmSimulation.RunOne(Setup(3), new DlmSystem(), 42, TimeSpan.FromSeconds(10));
        Assert.That(b.TraceHash, Is.EqualTo(a.TraceHash));
    }
}
