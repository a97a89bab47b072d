using Cohort.Membership;

namespace Cohort.Transport;

/// <summary>What a transport needs to start.</summary>
/// <param name="Local">This node's id and incarnation, announced in every handshake.</param>
/// <param name="ListenAddress">Where to accept connections, as the node's configuration gives it
/// (for the TCP transport, <c>host:port</c>).</param>
/// <param name="Peers">Every other configured node, with its address when the configuration gives one.
/// A node absent from this list never gets a session.</param>
/// <param name="Seeds">Further addresses to contact (<c>Node:Seeds</c>) whose node ids are learned from
/// the handshake; a seed that turns out to be this node is dropped.</param>
/// <param name="ClusterKey">The shared secret both ends of a session prove they hold.</param>
/// <param name="AdmitUnlisted">Admit any node that proves the cluster key, listed in
/// <paramref name="Peers"/> or not: a node joining a running cluster knows its peers only through its
/// seeds until it holds the cluster document. False (the default): only listed nodes get a session.</param>
public sealed record TransportStartInfo(
    NodeIncarnation Local,
    string ListenAddress,
    IReadOnlyList<TransportPeer> Peers,
    IReadOnlyList<string> Seeds,
    ReadOnlyMemory<byte> ClusterKey,
    bool AdmitUnlisted = false);
