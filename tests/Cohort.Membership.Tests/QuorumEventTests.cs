using Cohort.Quorum.VoteQuorum;
using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>Services learn of quorum in every view, not only when the quorate flag flips: a node that is quorate
/// in one view and then in the next publishes <see cref="QuorumChanged"/> for the next too. (Fencing judges quorum
/// per view; a two-node node split off within a heartbeat of forming, before it promised anything to its peer,
/// stayed quorate across the view change, published nothing, and fenced nobody: a split brain under two_node.)</summary>
public class QuorumEventTests
{
    private static readonly ClusterSetup TwoNode = ClusterSetup.From(
        [new ClusterNode(new NodeId(1), "n1", 1), new ClusterNode(new NodeId(2), "n2", 1)],
        new Dictionary<string, string?>(ClusterSetup.GeneratedKeys(2, VoteQuorumPolicy.Name)) { ["Cluster:Quorum:VoteQuorum:TwoNode"] = "true" },
        () => new VoteQuorumPolicy());

    [Test]
    public void A_node_quorate_in_a_new_view_publishes_it_even_when_it_was_quorate_in_the_last_one()
    {
        var missed = new List<string>();
        for (ulong seed = 1; seed <= 300; seed++)
        {
            var cluster = new SimulatedCluster(TwoNode, seed);
            var events = new EventLog();
            cluster.Observe(events);
            cluster.Observe(new SplitOnForming());
            cluster.RunUntil(TimeSpan.FromSeconds(4));
            foreach (var node in cluster.Nodes)
            {
                if (node.Core is { Installed: { } view } core && core.IsQuorate(node.LocalAt(cluster.Now))
                    && !events.Of<QuorumChanged>(node.Self).Any(q => q.Quorate && q.View == view.Id))
                {
                    missed.Add($"seed {seed}: {node.Self} is quorate in {view} and never said so");
                }
            }
        }

        Assert.That(missed, Is.Empty);
    }

    /// <summary>Cuts the two nodes apart 0–60 ms after node 1 first installs a view of both.</summary>
    private sealed class SplitOnForming : ISimulationObserver
    {
        private bool _done;

        public void AfterStep(SimulatedCluster cluster, SimNode node)
        {
        }

        public void Executed(SimulatedCluster cluster, SimNode node, Cores.CoreOutput output)
        {
        }

        public void NodeStopped(SimulatedCluster cluster, SimNode node)
        {
        }

        public void Published(SimulatedCluster cluster, SimNode node, object published)
        {
            if (!_done && published is ViewInstalled { View.Members.Count: 2 })
            {
                _done = true;
                cluster.At(cluster.Now + cluster.Random.Between(TimeSpan.Zero, TimeSpan.FromMilliseconds(60)), () =>
                {
                    cluster.SetBlocked(0, 1, true);
                    cluster.SetBlocked(1, 0, true);
                });
            }
        }
    }
}
