using Cohort.Host.Configuration;
using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Host.Agent;

/// <summary>
/// What a node of a multi-node cluster needs to reach its peers, checked before the agent touches its
/// state directory: where it listens, the peers and seeds, and the cluster key.
/// </summary>
internal sealed class PeerSetup
{
    private PeerSetup(string listen, IReadOnlyList<TransportPeer> peers, IReadOnlyList<string> seeds, byte[] key)
    {
        Listen = listen;
        Peers = peers;
        Seeds = seeds;
        Key = key;
    }

    public string Listen { get; }

    public IReadOnlyList<TransportPeer> Peers { get; }

    public IReadOnlyList<string> Seeds { get; }

    public byte[] Key { get; }

    /// <exception cref="CohortStartupException">No listen address, no key file, or a key file that is refused.</exception>
    public static PeerSetup From(CohortConfiguration configuration, ClusterDocument cluster)
    {
        var node = configuration.Node;
        var self = cluster.Find(new NodeId(node.Id))!;
        var problems = new List<string>();
        var listen = node.Listen ?? self.Address;
        if (listen is null)
        {
            problems.Add(ConfigErrors.Format(configuration.DescribeSource("Node:Listen"), "Node:Listen",
                $"the address this node listens on (host:port), or an Address for node {node.Id} in {cluster.Path}; a cluster of {cluster.Nodes.Count} nodes needs one"));
        }

        byte[] key = [];
        if (node.KeyFile is null)
        {
            problems.Add(ConfigErrors.Format(configuration.DescribeSource("Node:KeyFile"), "Node:KeyFile",
                $"the cluster key file (make one with `cohort keygen` and copy it to every node); a cluster of {cluster.Nodes.Count} nodes needs one"));
        }
        else
        {
            try
            {
                key = ClusterKeyFile.Read(node.KeyFile, node.AllowInsecureKeyFile, configuration.DescribeSource("Node:KeyFile"));
            }
            catch (CohortStartupException ex)
            {
                problems.AddRange(ex.Problems);
            }
        }

        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }

        var peers = cluster.Nodes.Where(n => n.Id.Value != node.Id).Select(n => new TransportPeer(n.Id, n.Address)).ToList();
        return new PeerSetup(listen!, peers, node.Seeds, key);
    }

    public TransportStartInfo StartInfo(NodeIncarnation self) => new(self, Listen, Peers, Seeds, Key);
}
