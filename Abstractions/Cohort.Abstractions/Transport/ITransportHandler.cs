using Cohort.Membership;

namespace Cohort.Transport;

/// <summary>Receives what a transport delivers.</summary>
/// <remarks>
/// Calls concerning one session are never concurrent and arrive in order: <see cref="SessionOpened"/>,
/// then frames, then at most one <see cref="SessionReset"/>. Calls for different sessions may be
/// concurrent. A handler must not block: it hands the event to the core's input queue and returns.
/// </remarks>
public interface ITransportHandler
{
    /// <summary>A session to a peer incarnation is authenticated and open.</summary>
    void SessionOpened(NodeIncarnation peer);

    /// <summary>A frame arrived on an open session.</summary>
    /// <param name="peer">The sending incarnation.</param>
    /// <param name="lane">The lane it was sent on.</param>
    /// <param name="frame">The payload; it belongs to the handler from now on.</param>
    void FrameReceived(NodeIncarnation peer, TransportLane lane, ReadOnlyMemory<byte> frame);

    /// <summary>The session is gone: frames sent on it may have been lost. No frame of that session is
    /// delivered after this call.</summary>
    /// <param name="peer">The incarnation whose session was reset.</param>
    /// <param name="reason">Why, for the log: "peer restarted", "malformed frame", ...</param>
    void SessionReset(NodeIncarnation peer, string reason);

    /// <summary>The transport is done, for now, delivering frames on this thread: it made one or more
    /// <see cref="FrameReceived"/> calls and holds none of its own locks any more. A handler may do here, on this
    /// thread, the work those frames brought (rather than wake another thread for it). A transport that calls it once
    /// must call it after every batch of <see cref="FrameReceived"/> calls, before that thread waits for more input:
    /// the host then leaves the frames' work for it. A transport that never calls it still works: the host then hands
    /// every frame to another thread.</summary>
    void FramesDelivered()
    {
    }
}
