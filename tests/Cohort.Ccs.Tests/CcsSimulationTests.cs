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

    private static (int Schedules, Violation? Caught, long Proposals, long Commits, long Conflicts, long Unknown, long Versions, long Nemeses) Run(CcsMutant mutant, TimeSpan budget, Func<ulong, ClusterSetup>? membership = null, double spanSeconds = 30, ConfigNemesis? nemesis = null)
    {
        membership ??= Membership;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var schedules = 0;
        long proposals = 0, commits = 0, conflicts = 0, unknown = 0, versions = 0, nemeses = 0;
        for (var seed = SimulationBudget.FirstSeed(1); schedules == 0 || clock.Elapsed < budget; seed++)
        {
            var (cluster, checker) = ConfigSimulation.RunOne(membership(seed), new CcsSystem(mutant), seed, TimeSpan.FromSeconds(spanSeconds), nemesis: nemesis);
            schedules++;
            proposals += checker.Proposals;
            commits += checker.Commits;
            conflicts += checker.Conflicts;
            unknown += checker.Unknown;
            versions += checker.HighestVersion;
            nemeses += checker.Nemeses;
            if (cluster.Violation is { } violation)
            {
                return (schedules, violation, proposals, commits, conflicts, unknown, versions, nemeses);
            }
        }

        return (schedules, null, proposals, commits, conflicts, unknown, versions, nemeses);
    }

    [Test]
    public void Invariant_4_holds_under_random_faults()
    {
        var result = Run(CcsMutant.None, SimulationBudget.PerSuite);
        TestContext.Out.WriteLine($"{result.Schedules} schedules: {result.Proposals} proposals, {result.Commits} committed, {result.Conflicts} conflicts, {result.Unknown} outcome unknown, {result.Versions} versions in all, {result.Nemeses} crashes around commits");
        Assert.That(result.Caught, Is.Null, () => $"seed {result.Caught!.Seed}: {result.Caught.Detail}\n{string.Join("\n", result.Caught.LastSteps)}");
        Assert.That(result.Commits, Is.GreaterThan(result.Schedules), "the workload must commit versions, or the checker has nothing to check");
    }

    /// <summary>The nemesis that catches the mutants finds nothing in the correct core: what it catches is
    /// the mutant's fault, not the simulator's.</summary>
    [Test]
    public void The_correct_core_survives_the_nemesis_that_catches_the_mutants()
    {
        var result = Run(CcsMutant.None, SimulationBudget.PerSuite / 2, _ => ClusterSetup.Generate(5, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy()), spanSeconds: 10, ConfigNemesis.LostAcknowledgements);
        TestContext.Out.WriteLine($"{result.Schedules} schedules, {result.Nemeses} crashes around commits: {result.Proposals} proposals, {result.Commits} committed");
        Assert.That(result.Caught, Is.Null, () => $"seed {result.Caught!.Seed}: {result.Caught.Detail}\n{string.Join("\n", result.Caught.LastSteps)}");
        Assert.That(result.Commits, Is.GreaterThan(result.Schedules));
    }

    /// <summary>Seed 256 (found by the nemesis): a leader proposing version 4 learned from another
    /// leader's commit that version 4 was decided, then counted late acceptances of its own proposal and
    /// committed version 4 a second time.</summary>
    [Test]
    public void Regression_seed_256_a_leader_does_not_commit_again_a_version_another_leader_decided()
    {
        var (cluster, _) = ConfigSimulation.RunOne(ClusterSetup.Generate(5, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy()), new CcsSystem(), 256, TimeSpan.FromSeconds(10), nemesis: ConfigNemesis.LostAcknowledgements);
        Assert.That(cluster.Violation, Is.Null, () => cluster.Violation!.Detail);
    }

    /// <summary>Seed 58: a member refused proposals that left out a lower-id member alive in its view, although the
    /// committed document had dropped that node, which so never coordinated again: the rest never converged. Only a
    /// member the proposal's rules list (and that holds their version) holds a proposal back.</summary>
    [Test]
    public void Regression_seed_58_a_node_the_document_dropped_does_not_hold_views_back()
    {
        var (cluster, _) = ConfigSimulation.RunOne(ClusterSetup.Generate(5, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy()), new CcsSystem(), 58, TimeSpan.FromSeconds(30));
        Assert.That(cluster.Violation, Is.Null, () => cluster.Violation!.Detail);
    }

    /// <summary>Seed 2596 (found by a 240 s run): after healing, a node learned of a newer version from a
    /// heartbeat while its last fetch, 0.6 s old, had found nothing, so it waited out the fetch's resend
    /// time; then it adopted a version that changed the quorum rules and held quorum back for a promise
    /// period, past the liveness bound, which had no room for that hold.</summary>
    [Test]
    public void Regression_seed_2596_a_node_behind_catches_up_at_once_and_the_bound_allows_for_a_hold()
    {
        var (cluster, _) = ConfigSimulation.RunOne(ClusterSetup.Generate(5, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy()), new CcsSystem(), 2596, TimeSpan.FromSeconds(30));
        Assert.That(cluster.Violation, Is.Null, () => cluster.Violation!.Detail);
    }

    /// <summary>Seed 3455 (found by a 300 s run): only one member had accepted a version when the view
    /// changed; the new leader went ahead on a majority's promises without it, ignored its late promise,
    /// and the member stayed out of quorum with the version in doubt.</summary>
    [Test]
    public void Regression_seed_3455_a_version_in_doubt_on_one_member_is_finished_from_its_late_promise()
    {
        var (cluster, _) = ConfigSimulation.RunOne(Membership(3455), new CcsSystem(), 3455, TimeSpan.FromSeconds(30));
        Assert.That(cluster.Violation, Is.Null, () => cluster.Violation!.Detail);
    }

    /// <summary>Seed 4569 (found by a 240 s run): a node drained to leave while its view still named a
    /// peer's dead incarnation; the peer had restarted into a view of its own numbered below the drained
    /// node's, so it never sent the farewell a newer view gives, and the drained node waited for good.</summary>
    [Test]
    public void Regression_seed_4569_a_drained_node_ahead_of_the_others_is_excluded_by_a_new_view()
    {
        var (cluster, _) = ConfigSimulation.RunOne(Membership(4569), new CcsSystem(), 4569, TimeSpan.FromSeconds(30));
        Assert.That(cluster.Violation, Is.Null, () => cluster.Violation!.Detail);
    }

    [TestCase(CcsMutant.AckBeforeFsync)]
    [TestCase(CcsMutant.NumberOnlyCompare)]
    public void The_checker_catches_a_mutant(CcsMutant mutant)
    {
        // Short schedules of five nodes, and commits hit hard: a lost acknowledgement must matter often.
        var result = Run(mutant, SimulationBudget.PerSuite, _ => ClusterSetup.Generate(5, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy()), spanSeconds: 10, ConfigNemesis.LostAcknowledgements);
        TestContext.Out.WriteLine($"{mutant}: {result.Schedules} schedules, {result.Nemeses} crashes around commits, {result.Proposals} proposals; caught: {result.Caught?.Detail} at seed {result.Caught?.Seed}");
        Assert.That(result.Caught?.Invariant, Is.EqualTo(ConfigSimulation.Name), $"the {mutant} mutant survived {result.Schedules} schedules");
    }
}
