using Cohort.Membership;

namespace Cohort.Transport;

/// <summary>A snapshot of a transport, for status.</summary>
/// <param name="ListenAddress">Where it accepts connections.</param>
/// <param name="Peers">One entry per configured peer, by node id.</param>
/// <param name="RefusedConnections">Connections refused before a session could use them: malformed
/// handshakes, wrong keys, node ids absent from the node list, excluded incarnations.</param>
/// <param name="LastRefusal">Why the latest one was refused, or null.</param>
public sealed record TransportStatus(
    string ListenAddress,
    IReadOnlyList<TransportPeerStatus> Peers,
    long RefusedConnections,
    string? LastRefusal);

/// <summary>What a transport knows of one configured peer.</summary>
/// <param name="Node">The peer's id.</param>
/// <param name="Incarnation">The newest incarnation heard from, or 0 before any handshake.</param>
/// <param name="SessionOpen">Whether a session with that incarnation is open (frames may be sent).</param>
/// <param name="Connected">Whether connections are up right now in both directions; a session outlives
/// reconnects.</param>
/// <param name="Address">The address this node dials it at, or null while unknown.</param>
/// <param name="FramesSent">Frames queued to it, over every session.</param>
/// <param name="FramesReceived">Frames delivered from it, over every session.</param>
/// <param name="MalformedFrames">Records from it refused as malformed or unauthenticated; each closed
/// the connection it came on, not the session.</param>
/// <param name="Reconnects">Connections to or from it established after the first, over every session.</param>
/// <param name="SessionResets">Sessions with it that were reset (frames may have been lost).</param>
/// <param name="QueuedBytes">Bytes queued to it and not yet acknowledged.</param>
/// <param name="Cut">The fault injected on its link, if any (<see cref="ITransportFaults"/>).</param>
public sealed record TransportPeerStatus(
    NodeId Node,
    long Incarnation,
    bool SessionOpen,
    bool Connected,
    string? Address,
    long FramesSent,
    long FramesReceived,
    long MalformedFrames,
    long Reconnects,
    long SessionResets,
    long QueuedBytes,
    TransportCut Cut);
