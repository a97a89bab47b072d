using Cohort.Membership;
using Cohort.Quorum.VoteQuorum;
using Cohort.Simulation;
using Cohort.TestSupport;

namespace Cohort.Fencing.Tests;

/// <summary>
/// Two-node fence races in the simulator (<see cref="RaceSimulation"/>): real membership cores under votequorum's
/// two_node, the fencing core with the sample's delays (fencing node 2 waits 5 s), split again and again. The checker
/// flags (a) two survivors at once, (b) no survivor where the delays decide, (c) a fence loop; each is shown to catch
/// a broken core.
/// </summary>
public class RaceSimulationTests
{
    private static readonly ClusterSetup TwoNode = ClusterSetup.From(
        [new ClusterNode(new NodeId(1), "n1", 1), new ClusterNode(new NodeId(2), "n2", 1)],
        new Dictionary<string, string?>(ClusterSetup.GeneratedKeys(2, VoteQuorumPolicy.Name)) { ["Cluster:Quorum:VoteQuorum:TwoNode"] = "true" },
        () => new VoteQuorumPolicy());

    /// <summary>As samples/two-node: one device for both nodes; fencing node 2 waits <paramref name="node2Delay"/>,
    /// and every pass waits a random delay up to <paramref name="delayMax"/>.</summary>
    private static FencingTopology Topology(double node2Delay = 5, double delayMax = 0) =>
        new FencingTopology(FenceAction.Off, new Dictionary<NodeId, IReadOnlyList<IReadOnlyList<string>>> { [new NodeId(1)] = [["kill"]], [new NodeId(2)] = [["kill"]] })
        {
            Delays = new Dictionary<string, FenceDelay>
            {
                ["kill"] = new(TimeSpan.Zero, new Dictionary<NodeId, TimeSpan> { [new NodeId(2)] = TimeSpan.FromSeconds(node2Delay) }, TimeSpan.FromSeconds(delayMax)),
            },
            ClusterSize = 2,
        };

    private sealed record Result(int Schedules, Violation? Caught, int Splits, int Decided, int Survived, int DoubleFences);

    private static Result Run(FencingTopology topology, FencingMutant mutant, TimeSpan budget, RaceOptions? options = null, int? maxSchedules = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int schedules = 0, splits = 0, decided = 0, survived = 0, doubles = 0;
        for (var seed = SimulationBudget.FirstSeed(1); schedules == 0 || (clock.Elapsed < budget && schedules < (maxSchedules ?? int.MaxValue)); seed++)
        {
            var (cluster, checker) = RaceSimulation.RunOne(TwoNode, topology, seed, TimeSpan.FromSeconds(90), mutant, options);
            schedules++;
            splits += checker.Splits;
            decided += checker.Decided;
            survived += checker.Survived;
            doubles += checker.DoubleFences;
            if (cluster.Violation is { } violation)
            {
                return new Result(schedules, violation, splits, decided, survived, doubles);
            }
        }

        return new Result(schedules, null, splits, decided, survived, doubles);
    }

    private static string Describe(Violation v) => $"seed {v.Seed}: {v.Detail}\n{string.Join("\n", v.LastSteps)}";

    [Test]
    public void With_a_static_delay_gap_every_split_has_exactly_one_survivor_and_no_fence_loop()
    {
        var result = Run(Topology(), FencingMutant.None, SimulationBudget.PerSuite);
        TestContext.Out.WriteLine($"{result.Schedules} schedules: {result.Splits} splits, {result.Decided} decided by the delays, {result.Survived} with one survivor, {result.DoubleFences} double fences");
        Assert.That(result.Caught, Is.Null, () => Describe(result.Caught!));
        Assert.Multiple(() =>
        {
            Assert.That(result.Decided, Is.GreaterThan(result.Schedules), "splits the delays decide must happen, or (b) checks nothing");
            Assert.That(result.DoubleFences, Is.Zero);
        });
    }

    [Test]
    public void The_no_delay_mutant_is_caught_by_b()
    {
        var result = Run(Topology(), FencingMutant.NoDelay, SimulationBudget.PerSuite);
        Assert.That(result.Caught, Is.Not.Null, "both halves shooting at once leaves no survivor");
        Assert.That(result.Caught!.Detail, Does.StartWith("(b) no survivor"), () => Describe(result.Caught));
    }

    [Test]
    public void The_no_overrule_mutant_is_caught_by_c()
    {
        var result = Run(Topology(), FencingMutant.NoOverrule, SimulationBudget.PerSuite);
        Assert.That(result.Caught, Is.Not.Null, "the restarted loser must shoot the survivor once the split heals");
        Assert.That(result.Caught!.Detail, Does.StartWith("(c) fence loop"), () => Describe(result.Caught));
    }

    [Test]
    public void The_gate_on_timeout_mutant_is_caught_by_a_alone()
    {
        var options = new RaceOptions { TimeoutChance = 1, GateInvariant = false };
        var real = Run(Topology(), FencingMutant.None, TimeSpan.FromSeconds(2), options, maxSchedules: 5);
        Assert.That(real.Caught, Is.Null, () => Describe(real.Caught!));

        var result = Run(Topology(), FencingMutant.GateOnTimeout, SimulationBudget.PerSuite, options);
        Assert.That(result.Caught, Is.Not.Null, "two halves that each count a timeout as a fence both act as survivors");
        Assert.That(result.Caught!.Detail, Does.StartWith("(a) both"), () => Describe(result.Caught));
    }

    [Test]
    public void Random_delays_alone_double_fence_sometimes_and_never_leave_two_survivors()
    {
        var result = Run(Topology(node2Delay: 0, delayMax: 1.5), FencingMutant.None, SimulationBudget.PerSuite);
        TestContext.Out.WriteLine($"{result.Schedules} schedules: {result.Splits} splits, {result.DoubleFences} double fences ({100.0 * result.DoubleFences / Math.Max(1, result.Splits):F1}%), {result.Survived} with one survivor");
        Assert.That(result.Caught, Is.Null, () => Describe(result.Caught!));
        Assert.Multiple(() =>
        {
            Assert.That(result.Decided, Is.Zero, "no static gap: the delays decide nothing");
            Assert.That(result.DoubleFences, Is.GreaterThan(0), "with 1.5 s of random delay and operations of up to 0.8 s, both sometimes die");
            Assert.That(result.Survived, Is.GreaterThan(result.DoubleFences), "most races still have one survivor");
        });
    }

    [Test]
    public void A_race_schedule_is_the_same_in_every_run()
    {
        var (first, _) = RaceSimulation.RunOne(TwoNode, Topology(), 11, TimeSpan.FromSeconds(40));
        var (second, _) = RaceSimulation.RunOne(TwoNode, Topology(), 11, TimeSpan.FromSeconds(40));
        Assert.That(second.TraceHash, Is.EqualTo(first.TraceHash));
    }
}
