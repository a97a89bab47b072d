using Cohort.Membership;

namespace Cohort.Transport;

/// <summary>One session as status shows it.</summary>
/// <param name="Peer">The peer incarnation.</param>
/// <param name="Connected">Whether a connection is up right now (a session outlives reconnects).</param>
/// <param name="FramesSent">Frames sent on the session.</param>
/// <param name="FramesReceived">Frames delivered from it.</param>
/// <param name="MalformedFrames">Frames refused as malformed or unauthenticated.</param>
public sealed record TransportSessionInfo(
    NodeIncarnation Peer,
    bool Connected,
    long FramesSent,
    long FramesReceived,
    long MalformedFrames);
