using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum;

/// <summary>Everything a quorum policy may look at. Immutable.</summary>
public sealed class QuorumContext
{
    /// <summary>Creates a context.</summary>
    public QuorumContext(
        NodeId localNode,
        View view,
        IReadOnlyList<ClusterNode> nodes,
        IConfiguration cluster,
        TimeSpan now,
        ReadOnlyMemory<byte> state,
        long localIncarnation = 0,
        IReadOnlyList<QuorumDeviceVote>? devices = null)
    {
        ArgumentNullException.ThrowIfNull(view);
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(cluster);
        LocalNode = localNode;
        View = view;
        Nodes = nodes;
        Cluster = cluster;
        Now = now;
        State = state;
        LocalIncarnation = localIncarnation;
        Devices = devices ?? [];
    }

    /// <summary>The node asking.</summary>
    public NodeId LocalNode { get; }

    /// <summary>The incarnation of the node asking: it changes at every start of the node's agent, so a
    /// policy can tell what it remembered (<see cref="State"/>) from an earlier life. 0 when unknown.</summary>
    public long LocalIncarnation { get; }

    /// <summary>The view to judge. The membership core also asks about subsets of its view (the members
    /// that acknowledged a heartbeat, say), which need not hold the local node.</summary>
    public View View { get; }

    /// <summary>Every node of the cluster document, with its votes, sorted by id.</summary>
    public IReadOnlyList<ClusterNode> Nodes { get; }

    /// <summary>
    /// A snapshot of the cluster document the view is judged under. Keys are full paths starting with
    /// <c>Cluster:</c>, the same paths a manifest's <see cref="Plugins.PluginConfigSection"/> names, so a
    /// policy reads its options with <c>Cluster.GetSection("Cluster:Quorum:VoteQuorum")</c>. It does not
    /// change while the policy holds it.
    /// </summary>
    public IConfiguration Cluster { get; }

    /// <summary>
    /// Monotonic time on this node: time elapsed since an arbitrary origin fixed at agent start. Compare
    /// it only with other values of <see cref="Now"/> and <see cref="QuorumDecision.ReevaluateAt"/>
    /// from the same agent run.
    /// </summary>
    public TimeSpan Now { get; }

    /// <summary>What the policy's previous decision put in <see cref="QuorumDecision.State"/>, as last
    /// persisted on this node; empty the first time.</summary>
    public ReadOnlyMemory<byte> State { get; }

    /// <summary>The quorum devices of the cluster document (<c>Cluster:Quorum:Device</c>), with whether
    /// each gives its votes to <see cref="View"/>; empty when none is configured. A policy that counts
    /// votes counts a device's <see cref="QuorumDeviceVote.Votes"/> among the expected votes, and among
    /// the view's votes when <see cref="QuorumDeviceVote.Granted"/>.</summary>
    public IReadOnlyList<QuorumDeviceVote> Devices { get; }

    /// <summary>The votes of the devices that give them to <see cref="View"/>.</summary>
    public int GrantedDeviceVotes => Devices.Where(d => d.Granted).Sum(d => d.Votes);

    /// <summary>The votes of every configured device, granted or not.</summary>
    public int ConfiguredDeviceVotes => Devices.Sum(d => d.Votes);

    /// <summary>The sum of the votes of the view's members, as the cluster document gives them.</summary>
    public int ViewVotes
    {
        get
        {
            var sum = 0;
            foreach (var node in Nodes)
            {
                if (View.Contains(node.Id))
                {
                    sum += node.Votes;
                }
            }

            return sum;
        }
    }

    /// <summary>The sum of the votes of every node in the cluster document.</summary>
    public int ConfiguredVotes => Nodes.Sum(n => n.Votes);
}
