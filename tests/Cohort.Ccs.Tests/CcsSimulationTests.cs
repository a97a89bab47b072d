using Cohort.Quorum.VoteQuorum;
using Cohort.Simulation;
using Cohort.TestSupport;

namespace Cohort.Ccs.Tests;

/// <summary>
/// CCS beside real membership cores in the simulator: random crashes (mid-step too, with the lossy
/// disk), restarts, pauses, partitions and one-way cuts, and proposers on random nodes. Invariant 4 is
/// checked against what every node committed and what every proposer was told.
/// </summary>
public class CcsSimulationTests
{
    /// <summary>3 or 5 nodes: with 3, every acceptor's vote matters, so a lost acceptance shows.</summary>
    private static ClusterSetup Membership(ulong seed) => ClusterSetup.Generate(seed % 2 == 0 ? 5 : 3, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy());

    private static (int Schedules, Violation? Caught, long Proposals, long Commits, long Conflicts, long Unknown, long Versions) Run(CcsMutant mutant, TimeSpan budget)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var schedules = 0;
        long proposals = 0, commits = 0, conflicts = 0, unknown = 0, versions = 0;
        for (var seed = 1UL; schedules == 0 || clock.Elapsed < budget; seed++)
        {
            var (cluster, checker) = ConfigSimulation.RunOne(Membership(seed), new CcsSystem(mutant), seed, TimeSpan.FromSeconds(30));
            schedules++;
            proposals += checker.Proposals;
            commits += checker.Commits;
            conflicts += checker.Conflicts;
            unknown += checker.Unknown;
            versions += checker.HighestVersion;
            if (cluster.Violation is { } violation)
            {
                return (schedules, violation, proposals, commits, conflicts, unknown, versions);
            }
        }

        return (schedules, null, proposals, commits, conflicts, unknown, versions);
    }

    [Test]
    public void Invariant_4_holds_under_random_faults()
    {
        var result = Run(CcsMutant.None, SimulationBudget.PerSuite);
        TestContext.Out.WriteLine($"{result.Schedules} schedules: {result.Proposals} proposals, {result.Commits} committed, {result.Conflicts} conflicts, {result.Unknown} outcome unknown, {result.Versions} versions in all");
        Assert.That(result.Caught, Is.Null, () => $"seed {result.Caught!.Seed}: {result.Caught.Detail}\n{string.Join("\n", result.Caught.LastSteps)}");
        Assert.That(result.Commits, Is.GreaterThan(result.Schedules), "the workload must commit versions, or the checker has nothing to check");
    }

    [TestCase(CcsMutant.AckBeforeFsync)]
    [TestCase(CcsMutant.NumberOnlyCompare)]
    public void The_checker_catches_a_mutant(CcsMutant mutant)
    {
        var result = Run(mutant, SimulationBudget.PerSuite);
        TestContext.Out.WriteLine($"{mutant}: {result.Schedules} schedules; caught: {result.Caught?.Detail} at seed {result.Caught?.Seed}");
        Assert.That(result.Caught?.Invariant, Is.EqualTo(ConfigSimulation.Name), $"the {mutant} mutant survived {result.Schedules} schedules");
    }
}
