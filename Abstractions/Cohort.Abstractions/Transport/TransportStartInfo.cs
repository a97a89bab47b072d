using Cohort.Membership;

namespace Cohort.Transport;

/// <summary>What a transport needs to start.</summary>
/// <param name="Local">This node's id and incarnation, announced in every handshake.</param>
/// <param name="ListenAddress">Where to accept connections, as the node's configuration gives it
/// (for the TCP transport, <c>host:port</c>).</param>
/// <param name="Peers">The other nodes that may open sessions, with the addresses to reach them.</param>
/// <param name="ClusterKey">The shared secret both ends of a session prove they hold.</param>
public sealed record TransportStartInfo(
    NodeIncarnation Local,
    string ListenAddress,
    IReadOnlyList<TransportPeer> Peers,
    ReadOnlyMemory<byte> ClusterKey);
