namespace Cohort.Membership;

/// <summary>A <see cref="Cores.LocalRequest"/> to the membership core: leave the cluster cleanly. The
/// core goes LEAVING and publishes <see cref="Draining"/>; the driver runs the drain hooks and answers
/// with <see cref="DrainComplete"/>.</summary>
public sealed record LeaveRequest
{
    /// <summary>The one instance.</summary>
    public static LeaveRequest Instance { get; } = new();
}

/// <summary>A <see cref="Cores.LocalRequest"/> to the membership core: the services have drained. The
/// node gives up quorum for good (DRAINED) and waits to be excluded from the next view as a clean leaver.</summary>
public sealed record DrainComplete
{
    /// <summary>The one instance.</summary>
    public static DrainComplete Instance { get; } = new();
}

/// <summary>Published when a view is installed, after it was persisted.</summary>
/// <param name="View">The view.</param>
/// <param name="ConfigHash">The SHA-256 of the cluster document it was judged under, as hex.</param>
/// <param name="Joined">Members that were not in this node's previous view.</param>
/// <param name="LeftCleanly">Members of the previous view that left cleanly (DRAINED).</param>
/// <param name="Departed">Members of the previous view that are gone without leaving cleanly: they
/// must be fenced before anything they held is recovered.</param>
public sealed record ViewInstalled(View View, string ConfigHash, IReadOnlyList<NodeIncarnation> Joined, IReadOnlyList<NodeIncarnation> LeftCleanly, IReadOnlyList<NodeIncarnation> Departed)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"installed {View} (+[{string.Join(", ", Joined)}] clean-[{string.Join(", ", LeftCleanly)}] gone-[{string.Join(", ", Departed)}]) under config version {View.ConfigVersion}";
}

/// <summary>Published when this node becomes quorate or stops being quorate, and when it is quorate in a newly
/// installed view after being quorate in the last one (services judge quorum per view).</summary>
/// <param name="Quorate">Whether it now is.</param>
/// <param name="View">The view it is (or was) quorate in; null before the first view.</param>
/// <param name="Reason">Why, for operators.</param>
public sealed record QuorumChanged(bool Quorate, ViewId? View, string Reason)
{
    /// <inheritdoc />
    public override string ToString() => $"quorate:{Quorate} in {View?.ToString() ?? "no view"} ({Reason})";
}

/// <summary>Published when this node goes LEAVING: the driver runs the drain hooks, then sends <see cref="DrainComplete"/>.</summary>
public sealed record Draining
{
    /// <summary>The one instance.</summary>
    public static Draining Instance { get; } = new();

    /// <inheritdoc />
    public override string ToString() => "draining";
}

/// <summary>Published when a view excluding this DRAINED node as a clean leaver was installed (or it
/// was alone): the agent may exit.</summary>
/// <param name="View">The view that excluded it, or null when it was alone.</param>
public sealed record LeftCluster(ViewId? View)
{
    /// <inheritdoc />
    public override string ToString() => $"left cleanly ({View?.ToString() ?? "alone"})";
}

/// <summary>Published once per peer incarnation whose cluster document differs from this node's:
/// its frames are ignored, so it cannot join.</summary>
/// <param name="Peer">The peer.</param>
/// <param name="PeerConfigHash">The SHA-256 of the peer's cluster document, as hex.</param>
/// <param name="ConfigHash">The SHA-256 of this node's, as hex.</param>
public sealed record ConfigMismatch(NodeIncarnation Peer, string PeerConfigHash, string ConfigHash)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"refused {Peer}: it was bootstrapped from cluster document {PeerConfigHash}, this node from {ConfigHash}; every node of a cluster seeds version 1 from the same cluster file";
}

/// <summary>A <see cref="Cores.LocalRequest"/> to the membership core: what the quorum device last
/// reported. The core counts the device's votes only for the grant's view and only before its end.</summary>
/// <param name="Grant">The grant.</param>
public sealed record DeviceReport(Quorum.QuorumDeviceGrant Grant);

/// <summary>The quorum device of the cluster document, as the membership core counts it.</summary>
/// <param name="Name">Its plugin name (<c>Cluster:Quorum:Device</c>).</param>
/// <param name="Votes">Its votes (<c>Cluster:Quorum:DeviceVotes</c>).</param>
public sealed record DeviceSetup(string Name, int Votes);

/// <summary>A <see cref="Cores.LocalRequest"/> to the membership core: a newer version of the cluster
/// document committed here. It takes effect at the first view installed after it: the coordinator
/// proposes a view under it at once, and nodes that do not hold it yet are left out of views until they
/// do. When it judges quorum differently from the version before, no view under it is quorate on this
/// node until the quorum leases granted under the old rules ran out (their promise time).</summary>
/// <param name="Rules">The rules of the new version.</param>
public sealed record AdoptConfiguration(MembershipRules Rules);

/// <summary>A <see cref="Cores.LocalRequest"/> to the membership core, handled before the configuration
/// system acknowledges <paramref name="Version"/> (see <c>ConfigAccepting</c>): unless that version
/// judges quorum as the newest adopted one does, this node stops acknowledging heartbeats in, and
/// counting itself quorate in, views under older versions until it holds that version or a newer one.
/// The driver must not let the acknowledgement leave before this request was handled.</summary>
/// <param name="Version">The version about to be acknowledged.</param>
/// <param name="QuorumRules">Its <see cref="MembershipRules.QuorumRules"/>.</param>
public sealed record ConfigurationPending(long Version, string QuorumRules);

/// <summary>Published when a peer's heartbeats show it holds a newer cluster document version than this
/// node (once per peer and version, and again every second while it lasts): the driver asks the
/// configuration system to fetch it.
/// Until it holds that version, this node stays out of views.</summary>
/// <param name="Peer">The peer.</param>
/// <param name="Version">The version it holds.</param>
public sealed record ConfigurationAhead(NodeId Peer, long Version)
{
    /// <inheritdoc />
    public override string ToString() => $"node {Peer} holds cluster document version {Version}, newer than this node's: catching up before joining a view";
}
