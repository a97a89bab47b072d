using Cohort.Membership;
using Cohort.Transport;

namespace Cohort.Cores;

/// <summary>One input to a <see cref="IProtocolCore"/>. The kinds are closed: the ones below.</summary>
public abstract record CoreInput
{
    private protected CoreInput()
    {
    }
}

/// <summary>
/// The first input of every incarnation: the records the core persisted before, as they were at the
/// last <see cref="PersistRecord"/> of each name that completed (empty on a node's first start).
/// </summary>
/// <param name="Self">This node and its incarnation.</param>
/// <param name="Records">The persisted records by name.</param>
public sealed record CoreStarted(NodeIncarnation Self, IReadOnlyDictionary<string, ReadOnlyMemory<byte>> Records) : CoreInput;

/// <summary>A frame from a peer, as it sent it. Membership frames may be lost, duplicated and reordered;
/// frames on sessions arrive in order, once, until a <see cref="SessionReset"/>.</summary>
/// <param name="From">The sending node and the incarnation the driver knows it as.</param>
/// <param name="Lane">The lane it was sent on.</param>
/// <param name="Frame">The frame; valid for the duration of the call only.</param>
public sealed record FrameReceived(NodeIncarnation From, TransportLane Lane, ReadOnlyMemory<byte> Frame) : CoreInput;

/// <summary>The session with a peer incarnation was reset: frames may have been lost in both directions.</summary>
/// <param name="Peer">The peer.</param>
public sealed record SessionReset(NodeIncarnation Peer) : CoreInput;

/// <summary>A timer set with <see cref="SetTimer"/> came due.</summary>
/// <param name="Name">The timer's name.</param>
public sealed record TimerFired(string Name) : CoreInput;

/// <summary>A request from this node: an operator command, a service, a client.</summary>
/// <param name="Request">The request; each core documents the requests it takes.</param>
public sealed record LocalRequest(object Request) : CoreInput;
