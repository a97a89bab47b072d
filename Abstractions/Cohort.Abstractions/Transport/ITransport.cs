using Cohort.Membership;

namespace Cohort.Transport;

/// <summary>
/// Carries frames between the nodes of a cluster as one <em>session</em> per peer incarnation.
/// </summary>
/// <remarks>
/// <para><b>Session guarantees.</b> The transport opens sessions on its own, as soon as a peer can be
/// reached, and reports each with <see cref="ITransportHandler.SessionOpened"/>. Frames sent to one peer
/// incarnation on one lane arrive in order, at most once, and none is lost unless the session is reset
/// and <see cref="ITransportHandler.SessionReset"/> reports it, at both ends. A session survives
/// reconnects of the underlying connections; a reset counts as a departure of that incarnation for
/// membership. A new incarnation of a peer gets a new session, and so may the same incarnation after
/// a reset.</para>
/// <para><b>Authentication.</b> A session opens only after both ends proved knowledge of the cluster key
/// with fresh nonces, and only with a node id that is in the peer list (<see cref="TransportStartInfo.Peers"/>,
/// later <see cref="UpdatePeers"/>), unless <see cref="TransportStartInfo.AdmitUnlisted"/> is set. Every
/// frame is authenticated together with its sequence number, so a recorded frame cannot be replayed.
/// A malformed or unauthenticated frame closes the connection it came on, and nothing else; the
/// session resumes on a new connection without losing a frame.</para>
/// <para><b>Lanes.</b> <see cref="TransportLane.Membership"/> frames overtake queued
/// <see cref="TransportLane.Data"/> frames, so heartbeats stay on time while bulk data flows.</para>
/// <para><b>Concurrency.</b> <see cref="TrySend"/>, <see cref="UpdatePeers"/> and <see cref="GetStatus"/>
/// may be called from any thread, concurrently. <see cref="StartAsync"/> is called once, before anything else;
/// <see cref="IAsyncDisposable.DisposeAsync"/> once, last.</para>
/// </remarks>
public interface ITransport : IAsyncDisposable
{
    /// <summary>Starts listening and connecting to the peers. Returns once the listener is bound.</summary>
    /// <param name="start">The local identity, the address to listen on, the peers and the key.</param>
    /// <param name="handler">Receives session events and frames.</param>
    /// <param name="cancellationToken">Abandons start-up.</param>
    /// <exception cref="InvalidOperationException">The listen address cannot be bound; the message names it.</exception>
    ValueTask StartAsync(TransportStartInfo start, ITransportHandler handler, CancellationToken cancellationToken);

    /// <summary>Queues one frame for a peer incarnation.</summary>
    /// <param name="peer">The peer incarnation the frame is for.</param>
    /// <param name="lane">The lane to send it on.</param>
    /// <param name="frame">At most <see cref="TransportLimits.MaxFrameBytes"/> bytes. The transport copies
    /// it before returning.</param>
    /// <returns>True if the frame was queued on an open session to exactly that incarnation; false if
    /// there is no such session (not yet open, reset, or a different incarnation is connected). A
    /// queued frame is delivered unless the session is later reset.</returns>
    /// <exception cref="ArgumentException">The frame is larger than <see cref="TransportLimits.MaxFrameBytes"/>.</exception>
    bool TrySend(NodeIncarnation peer, TransportLane lane, ReadOnlyMemory<byte> frame);

    /// <summary>
    /// Replaces the peer list while running, as a committed cluster document adds, drops or moves nodes:
    /// a new peer is dialed (when it has an address) and admitted; a peer whose address changed is dialed
    /// there from now on, keeping its session; a peer no longer listed has its session reset (reported
    /// through <see cref="ITransportHandler.SessionReset"/>) and is refused from then on. Peers that are
    /// listed before and after, at the same address, are not disturbed.
    /// </summary>
    /// <param name="peers">Every other node of the cluster, as in <see cref="TransportStartInfo.Peers"/>;
    /// an entry for the local node is ignored.</param>
    void UpdatePeers(IReadOnlyList<TransportPeer> peers);

    /// <summary>A snapshot of the peers and their sessions, for status.</summary>
    TransportStatus GetStatus();
}
