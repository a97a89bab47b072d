using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>
/// Every checker proves itself by catching a deliberately broken core within the budget; a mutant that
/// survives fails the build. Each runs random-fault schedules of 3 to 7 nodes until it is caught.
/// </summary>
public class MutantTests
{
    [TestCase(MembershipMutant.LeaseOff, SplitBrainChecker.Name)]
    [TestCase(MembershipMutant.NoPromise, SplitBrainChecker.Name)]
    [TestCase(MembershipMutant.InstallWithoutAllAcks, ViewChecker.AllAccepted)]
    public void CheckerCatchesMutant(MembershipMutant mutant, string invariant)
    {
        var budget = SimulationBudget.PerSuite;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var schedules = 0;
        Violation? caught = null;
        for (var seed = 1UL; caught is null && clock.Elapsed < budget; seed++)
        {
            var nodes = 3 + (int)(seed % 5);
            var (cluster, _, _) = SimulationRunner.RunOne(Clusters.VoteQuorum(nodes, Clusters.Mutant(mutant)), seed, TimeSpan.FromSeconds(60));
            schedules++;
            caught = cluster.Violation;
        }

        TestContext.Out.WriteLine($"{mutant}: {schedules} schedules in {clock.Elapsed.TotalSeconds:F1} s; caught: {caught?.Invariant} at seed {caught?.Seed}: {caught?.Detail}");
        Assert.That(caught?.Invariant, Is.EqualTo(invariant), $"the {mutant} mutant survived {schedules} schedules");
    }
}
