using Cohort.Membership;

namespace Cohort.Transport;

/// <summary>A configured node a transport may hold a session with.</summary>
/// <param name="Node">The peer's id.</param>
/// <param name="Address">Where to reach it, in the transport's address syntax, or null when only a seed,
/// or the peer itself dialing in, can tell.</param>
public sealed record TransportPeer(NodeId Node, string? Address);
