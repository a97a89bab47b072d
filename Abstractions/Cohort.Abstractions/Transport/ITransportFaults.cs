using Cohort.Membership;

namespace Cohort.Transport;

/// <summary>Which directions of a link a test has cut.</summary>
[Flags]
public enum TransportCut
{
    /// <summary>Nothing is cut.</summary>
    None = 0,

    /// <summary>Nothing this node sends reaches the peer (frames, acknowledgements, handshakes).</summary>
    Outbound = 1,

    /// <summary>Nothing the peer sends reaches this node.</summary>
    Inbound = 2,

    /// <summary>Both directions.</summary>
    Both = Outbound | Inbound,
}

/// <summary>
/// Fault injection for tests: a transport that implements it can cut its own link to a peer, one way
/// or both, as a network partition would. The host exposes it (<c>cohort debug partition</c>) only
/// when <c>Node:FaultInjection</c> is true.
/// </summary>
/// <remarks>
/// A cut behaves like a network that stops carrying packets, not like a closed connection: what is
/// sent in a cut direction waits, sessions stay open until the transport's own timeouts reset them,
/// and after <see cref="Heal"/> whatever waited is carried on. Calls may come from any thread.
/// </remarks>
public interface ITransportFaults
{
    /// <summary>Cuts the given directions of the link to <paramref name="peer"/>, in addition to any
    /// cut already in place.</summary>
    /// <exception cref="ArgumentException">The peer is not configured.</exception>
    void Cut(NodeId peer, TransportCut directions);

    /// <summary>Restores both directions of the link to <paramref name="peer"/>.</summary>
    /// <exception cref="ArgumentException">The peer is not configured.</exception>
    void Heal(NodeId peer);
}
