using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Cores;

/// <summary>One thing a <see cref="IProtocolCore"/> wants done. The kinds are closed: the ones below.</summary>
public abstract record CoreOutput
{
    private protected CoreOutput()
    {
    }
}

/// <summary>Send a frame to a node. Membership frames are best effort (lost, duplicated, reordered).
/// Other lanes travel on the session with the peer incarnation: in order and once; a frame the driver
/// cannot carry (no session, peer gone or of another incarnation) is reported back as a
/// <see cref="SessionReset"/> for that peer, never lost silently.</summary>
/// <param name="To">The node.</param>
/// <param name="Lane">Membership frames use <see cref="TransportLane.Membership"/>.</param>
/// <param name="Frame">The frame, at most <see cref="TransportLimits.MaxFrameBytes"/>; the core must not
/// change it afterwards.</param>
/// <param name="ToIncarnation">The incarnation the frame is for; 0 for whichever incarnation the
/// driver knows. A frame for an incarnation that is not the peer's current one is not delivered.</param>
public sealed record SendFrame(NodeId To, TransportLane Lane, ReadOnlyMemory<byte> Frame, long ToIncarnation = 0) : CoreOutput;

/// <summary>Set (or move) the timer of this name to fire at <paramref name="At"/> on this node's
/// monotonic clock: the <see cref="TimerFired"/> input comes with <c>now</c> at or after it, never
/// before; a time already past fires at once.</summary>
/// <param name="Name">The timer's name; one timer per name.</param>
/// <param name="At">When.</param>
public sealed record SetTimer(string Name, TimeSpan At) : CoreOutput;

/// <summary>Cancel the timer of this name, if set.</summary>
/// <param name="Name">The timer's name.</param>
public sealed record CancelTimer(string Name) : CoreOutput;

/// <summary>Replace the record of this name, atomically and durably (written, fsynced, renamed into place,
/// directory fsynced) before the driver executes any later output. After a crash the record is either
/// the old or the new contents, never a mixture.</summary>
/// <param name="Name">The record's name: letters, digits, '-' and '.'.</param>
/// <param name="Contents">The new contents.</param>
public sealed record PersistRecord(string Name, ReadOnlyMemory<byte> Contents) : CoreOutput;

/// <summary>Tell the rest of this node something (a view installed, quorum gained or lost, ...). Events
/// are delivered in order, after the outputs before them were executed.</summary>
/// <param name="Event">The event; each core documents the events it publishes.</param>
public sealed record PublishEvent(object Event) : CoreOutput;
