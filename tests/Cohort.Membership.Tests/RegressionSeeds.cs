using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>Seeds of the simulation suite that once failed, kept as tests (node counts as the suite picks them).</summary>
public class RegressionSeeds
{
    /// <summary>1013 (7 nodes), 1057 (3 nodes): a member crashed in the middle of the step that sent
    /// its accept, and the install checker, blind to a crashed step's outputs, cried wolf.
    /// 1008, 1024, 1032, 1048 (2 nodes): a node drained while cut off, was excluded without being
    /// told, and stayed DRAINED forever; excluded drained nodes now get a farewell.</summary>
    [TestCase(1008UL)]
    [TestCase(1013UL)]
    [TestCase(1024UL)]
    [TestCase(1032UL)]
    [TestCase(1048UL)]
    [TestCase(1057UL)]
    public void SeedStaysClean(ulong seed)
    {
        var (cluster, _, _) = SimulationRunner.RunOne(Clusters.VoteQuorum(SimulationSuite.NodesFor(seed)), seed, TimeSpan.FromSeconds(120));
        Assert.That(cluster.Violation, Is.Null, () => $"{cluster.Violation!.Invariant}: {cluster.Violation.Detail}\n{string.Join('\n', cluster.Violation.LastSteps)}");
    }

    /// <summary>877, 975, 1975 (2 nodes, 60 s): both nodes of a view drained; neither could install
    /// a view excluding the other, so both stayed DRAINED forever. A drained node whose fellow members
    /// all drained now leaves on its own.</summary>
    [TestCase(877UL)]
    [TestCase(975UL)]
    [TestCase(1975UL)]
    public void TwoNodeSeedStaysClean(ulong seed)
    {
        var (cluster, _, _) = SimulationRunner.RunOne(Clusters.VoteQuorum(2), seed, TimeSpan.FromSeconds(60));
        Assert.That(cluster.Violation, Is.Null, () => $"{cluster.Violation!.Invariant}: {cluster.Violation.Detail}");
    }
}
