using Cohort.Quorum.Conformance;

namespace Cohort.Quorum.VoteQuorum.Tests;

/// <summary>The conformance kit proves itself: it fails deliberately broken policies.</summary>
[TestFixture]
public sealed class ConformanceKitMutantTests
{
    [Test]
    public void The_kit_fails_a_policy_that_counts_a_quorum_device_it_does_not_hold()
    {
        var kit = new DelegatingKit(context => new VoteQuorumPolicy().Decide(new QuorumContext(
            context.LocalNode, context.View, context.Nodes, context.Cluster, context.Now, context.State, context.LocalIncarnation,
            [.. context.Devices.Select(d => d with { Granted = true })])));
        var failure = Assert.Throws<AssertionException>(kit.At_most_one_side_of_any_split_is_quorate_unless_dual_quorum_is_declared);
        Assert.That(failure!.Message, Does.Contain("both sides quorate").And.Contain("quorum device"));
    }

    [Test]
    public void The_kit_fails_a_policy_whose_quorum_a_device_vote_can_take_away()
    {
        var kit = new DelegatingKit(context => context.GrantedDeviceVotes > 0
            ? QuorumDecision.NotQuorate(0, 1, "the device's vote spoils it")
            : new VoteQuorumPolicy().Decide(context));
        var failure = Assert.Throws<AssertionException>(kit.A_superset_of_a_quorate_set_of_members_is_quorate);
        Assert.That(failure!.Message, Does.Contain("quorate without the device's vote but not with it"));
    }

    [Test]
    public void The_kit_passes_the_policy_the_mutants_are_made_from()
    {
        var kit = new DelegatingKit(new VoteQuorumPolicy().Decide);
        Assert.DoesNotThrow(kit.At_most_one_side_of_any_split_is_quorate_unless_dual_quorum_is_declared);
        Assert.DoesNotThrow(kit.A_superset_of_a_quorate_set_of_members_is_quorate);
    }
}
