using Cohort.Quorum.VoteQuorum;
using Cohort.Simulation;
using Cohort.TestSupport;

namespace Cohort.Fencing.Tests;

/// <summary>
/// The fencing orchestrator beside real membership cores in the simulator, under random crashes, restarts, pauses,
/// partitions and clean leaves, with fence devices that really crash the victim's node (or time out, or fail).
/// Invariant 2 is checked against ground truth: no gate opens on an incarnation that is alive.
/// </summary>
public class FencingSimulationTests
{
    private static ClusterSetup Membership(ulong seed) => ClusterSetup.Generate(seed % 2 == 0 ? 5 : 3, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy());

    private static (int Schedules, Violation? Caught, long Operations, long Kills, long Timeouts, long Gates) Run(FencingMutant mutant, TimeSpan budget)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var schedules = 0;
        long operations = 0, kills = 0, timeouts = 0, gates = 0;
        for (var seed = SimulationBudget.FirstSeed(1); schedules == 0 || clock.Elapsed < budget; seed++)
        {
            var (cluster, checker) = FencingSimulation.RunOne(Membership(seed), seed, TimeSpan.FromSeconds(30), mutant);
            schedules++;
            operations += checker.Operations;
            kills += checker.Kills;
            timeouts += checker.Timeouts;
            gates += checker.GatesOpened;
            if (cluster.Violation is { } violation)
            {
                return (schedules, violation, operations, kills, timeouts, gates);
            }
        }

        return (schedules, null, operations, kills, timeouts, gates);
    }

    [Test]
    public void Invariant_2_holds_under_random_faults()
    {
        var result = Run(FencingMutant.None, SimulationBudget.PerSuite);
        TestContext.Out.WriteLine($"{result.Schedules} schedules: {result.Operations} fence operations, {result.Kills} victims' nodes crashed by a device, {result.Timeouts} timeouts, {result.Gates} gates opened");
        Assert.That(result.Caught, Is.Null, () => $"seed {result.Caught!.Seed}: {result.Caught.Detail}\n{string.Join("\n", result.Caught.LastSteps)}");
        Assert.Multiple(() =>
        {
            Assert.That(result.Kills, Is.GreaterThan(result.Schedules), "devices must fence, or the checker has nothing to check");
            Assert.That(result.Timeouts, Is.GreaterThan(0), "devices must time out too, or the mutant could not show");
            Assert.That(result.Gates, Is.GreaterThan(result.Schedules));
        });
    }

    [Test]
    public void The_gate_on_timeout_mutant_is_caught()
    {
        var result = Run(FencingMutant.GateOnTimeout, SimulationBudget.PerSuite);
        TestContext.Out.WriteLine($"{result.Schedules} schedules until caught");
        Assert.That(result.Caught, Is.Not.Null, "a core that opens the gate on a timeout must be caught");
        Assert.That(result.Caught!.Invariant, Is.EqualTo(FencingSimulation.Name));
        Assert.That(result.Caught.Detail, Does.Contain("while it is"));
    }

    [Test]
    public void A_schedule_is_the_same_in_every_run()
    {
        var (first, _) = FencingSimulation.RunOne(Membership(7), 7, TimeSpan.FromSeconds(10));
        var (second, _) = FencingSimulation.RunOne(Membership(7), 7, TimeSpan.FromSeconds(10));
        Assert.That(second.TraceHash, Is.EqualTo(first.TraceHash));
    }
}
