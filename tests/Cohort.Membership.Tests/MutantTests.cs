using Cohort.Simulation;
using Cohort.TestSupport;

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
        var report = SimulationRunner.Run(new SimulationRequest
        {
            Setup = seed => Clusters.VoteQuorum(3 + (int)(seed % 5), Clusters.Mutant(mutant)),
            Budget = SimulationBudget.PerSuite,
            Span = TimeSpan.FromSeconds(60),
            StopAtFirstViolation = true,
        });

        var caught = report.Violations.Count > 0 ? report.Violations[0] : null;
        TestContext.Out.WriteLine($"{mutant}: {report.Schedules} schedules in {report.Elapsed.TotalSeconds:F1} s; caught: {caught?.Invariant} at seed {caught?.Seed}: {caught?.Detail}");
        Assert.That(caught?.Invariant, Is.EqualTo(invariant), $"the {mutant} mutant survived {report.Schedules} schedules");
    }

    [TestCase("witness-node")]
    [TestCase("witness-file")]
    public void The_split_brain_checker_catches_a_core_whose_device_grant_never_ends(string device)
    {
        var report = SimulationRunner.Run(new SimulationRequest
        {
            Setup = seed => device == "witness-node"
                ? Clusters.Witnessed(2 + (int)(seed % 2), Clusters.Mutant(MembershipMutant.DeviceGrantNeverEnds))
                : Clusters.FileWitnessed(2 + (int)(seed % 2), Clusters.Mutant(MembershipMutant.DeviceGrantNeverEnds)),
            Budget = SimulationBudget.PerSuite,
            Span = TimeSpan.FromSeconds(60),
            StopAtFirstViolation = true,
        });

        var caught = report.Violations.Count > 0 ? report.Violations[0] : null;
        TestContext.Out.WriteLine($"{report.Schedules} schedules in {report.Elapsed.TotalSeconds:F1} s; caught: {caught?.Invariant} at seed {caught?.Seed}: {caught?.Detail}");
        Assert.That(caught?.Invariant, Is.EqualTo(SplitBrainChecker.Name), $"the mutant survived {report.Schedules} schedules");
    }
}
