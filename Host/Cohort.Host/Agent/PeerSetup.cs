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

        var key = ReadKey(configuration, $"a cluster of {cluster.Nodes.Count} nodes needs one", problems);
        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }

        return new PeerSetup(listen!, cluster.PeersOf(new NodeId(node.Id)), node.Seeds, key);
    }

    /// <summary>What a node that holds no cluster document needs to join a running one: node-local
    /// configuration alone gives where it listens, its seeds and the cluster key.</summary>
    /// <exception cref="CohortStartupException">No listen address, no key file, or a key file that is refused.</exception>
    public static PeerSetup Joining(CohortConfiguration configuration)
    {
        var node = configuration.Node;
        var problems = new List<string>();
        if (node.Listen is null)
        {
            problems.Add(ConfigErrors.Format(configuration.DescribeSource("Node:Listen"), "Node:Listen",
                "the address this node listens on (host:port): a node joining through Node:Seeds has no cluster document to take it from"));
        }

        var key = ReadKey(configuration, "a node joining through Node:Seeds needs the cluster's key", problems);
        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }

        return new PeerSetup(node.Listen!, [], node.Seeds, key) { AdmitUnlisted = true };
    }

    private static byte[] ReadKey(CohortConfiguration configuration, string why, List<string> problems)
    {
        var node = configuration.Node;
        if (node.KeyFile is null)
        {
            problems.Add(ConfigErrors.Format(configuration.DescribeSource("Node:KeyFile"), "Node:KeyFile",
                $"the cluster key file (make one with `cohort keygen` and copy it to every node); {why}"));
            return [];
        }

        try
        {
            return ClusterKeyFile.Read(node.KeyFile, node.AllowInsecureKeyFile, configuration.DescribeSource("Node:KeyFile"));
        }
        catch (CohortStartupException ex)
        {
            problems.AddRange(ex.Problems);
            return [];
        }
    }

    /// <summary>Whether any node that proves the cluster key is admitted (a joining node's peers are
    /// known only through its seeds).</summary>
    public bool AdmitUnlisted { get; private init; }

    public TransportStartInfo StartInfo(NodeIncarnation self) => new(self, Listen, Peers, Seeds, Key, AdmitUnlisted);
}
