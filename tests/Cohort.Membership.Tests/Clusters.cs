using Cohort.Quorum.VoteQuorum;
using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>Simulated cluster setups under votequorum.</summary>
internal static class Clusters
{
    public static ClusterSetup VoteQuorum(int nodes, MembershipOptions? options = null) =>
        ClusterSetup.Generate(nodes, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy(), options);

    public static MembershipOptions Mutant(MembershipMutant mutant) => new() { Mutant = mutant };
}
