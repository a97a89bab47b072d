using Cohort.Quorum;
using Cohort.Quorum.VoteQuorum;
using Cohort.Quorum.WitnessFile;
using Cohort.Quorum.WitnessNode;
using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>Simulated cluster setups under votequorum.</summary>
internal static class Clusters
{
    public static ClusterSetup VoteQuorum(int nodes, MembershipOptions? options = null) =>
        ClusterSetup.Generate(nodes, VoteQuorumPolicy.Name, () => new VoteQuorumPolicy(), options);

    public static MembershipOptions Mutant(MembershipMutant mutant) => new() { Mutant = mutant };

    /// <summary>Votequorum with the witness-node device: its real arbiter as the witness, its default
    /// ping and lease, node 1 the tie breaker.</summary>
    public static ClusterSetup Witnessed(int nodes, MembershipOptions? options = null)
    {
        var keys = ClusterSetup.GeneratedKeys(nodes, VoteQuorumPolicy.Name).ToDictionary();
        keys["Cluster:Quorum:Device"] = WitnessNodePlugin.Name;
        var members = Enumerable.Range(1, nodes).Select(id => new ClusterNode(new NodeId(id), $"n{id}", 1)).ToList();
        var defaults = new WitnessNodeOptions();
        return ClusterSetup.From(members, keys, () => new VoteQuorumPolicy(), options) with
        {
            Device = new DeviceSetup(WitnessNodePlugin.Name, 1),
            Witness = () => new ArbiterWitness(defaults.Lease),
            DevicePing = defaults.PingInterval,
            DeviceLease = defaults.Lease,
        };
    }

    /// <summary>Votequorum with the witness-file device: every node's real lease core on one simulated file.</summary>
    public static ClusterSetup FileWitnessed(int nodes, MembershipOptions? options = null)
    {
        var keys = ClusterSetup.GeneratedKeys(nodes, VoteQuorumPolicy.Name).ToDictionary();
        keys["Cluster:Quorum:Device"] = WitnessFilePlugin.Name;
        var members = Enumerable.Range(1, nodes).Select(id => new ClusterNode(new NodeId(id), $"n{id}", 1)).ToList();
        var defaults = new WitnessFileOptions();
        var setup = ClusterSetup.From(members, keys, () => new VoteQuorumPolicy(), options);
        return setup with
        {
            Device = new DeviceSetup(WitnessFilePlugin.Name, 1),
            SharedDevice = () => new FileModel(new FileLeaseModel([.. members.Select(m => m.Id)], defaults, setup.Membership.ClockDriftBound, new NodeId(1))),
            DevicePing = defaults.RenewInterval,
        };
    }

    /// <summary>The witness-file model as the simulator's shared device (as <c>cohort simulate</c> runs it).</summary>
    private sealed class FileModel(FileLeaseModel model) : ISimulatedSharedDevice
    {
        public QuorumDeviceGrant Advance(NodeIncarnation node, View? view, TimeSpan local) => model.Advance(node, view, local);
    }

    /// <summary>The witness-node arbiter as the simulator's witness (as <c>cohort simulate</c> runs it).</summary>
    private sealed class ArbiterWitness(TimeSpan maxLease) : ISimulatedWitness
    {
        private readonly WitnessArbiter _arbiter = new(maxLease, TimeSpan.Zero);

        public bool Ask(NodeIncarnation node, View view, TimeSpan lease, double clockDriftBound, TimeSpan now, out string reason)
        {
            var answer = _arbiter.Ask(new WitnessRequest("simulated", node, view.Id, [.. view.Members.Select(m => m.Node.Value)], 1, lease, clockDriftBound, 0), now);
            reason = answer.Reason;
            return answer.Granted;
        }
    }
}
