using Cohort.Membership;

namespace Cohort.Quorum;

/// <summary>
/// A quorum device: something outside the nodes (a witness process, a lease on shared storage) that
/// gives its votes to one partition at a time. All of a device's IO lives here; quorum policies only
/// read what it last reported, as <see cref="QuorumContext.Devices"/>.
/// </summary>
/// <remarks>
/// <para><b>Life.</b> The host calls <see cref="StartAsync"/> once, then <see cref="ViewChanged"/> at
/// every view this node installs (and with null when the node gives up quorum to leave), and
/// <see cref="StopAsync"/> when the agent stops.</para>
/// <para><b>Grants.</b> The device reports through <see cref="QuorumDeviceSession.Report"/> whenever
/// what it knows changes: which view holds its vote on this node's behalf, and until when on this
/// node's clock (<see cref="QuorumDeviceSession.Now"/>). The host counts the vote only for that view and
/// only before that time, and caps the node's quorum lease at it.</para>
/// <para><b>Safety.</b> A device must never let two views hold its vote at one instant of real time:
/// before it gives the vote to a view, every grant of another view it made must have run out on the
/// clock of the node that holds it, allowing for <c>Cluster:Membership:ClockDriftBound</c>. Each
/// grant therefore counts from the time this node <i>sent</i> the request that earned it.</para>
/// <para><b>Failure.</b> A device that cannot reach its witness reports no grant; it never throws from
/// <see cref="ViewChanged"/>.</para>
/// </remarks>
public interface IQuorumDevice
{
    /// <summary>Starts asking for the vote on behalf of this node.</summary>
    /// <param name="session">Who this node is, its clock, and where to report.</param>
    /// <param name="cancellationToken">Cancels the start (not the device's work after it).</param>
    Task StartAsync(QuorumDeviceSession session, CancellationToken cancellationToken);

    /// <summary>The view this node now holds, or null when it holds none it may act in (it gave up
    /// quorum to leave). Called from the membership runtime; must not block.</summary>
    void ViewChanged(View? view);

    /// <summary>Stops asking; a grant already reported runs out by itself.</summary>
    Task StopAsync(CancellationToken cancellationToken);
}

/// <summary>What a <see cref="IQuorumDevice"/> is given to work for one node.</summary>
/// <param name="Self">This node and incarnation.</param>
/// <param name="ClusterName">The cluster's name (<c>Cluster:Name</c>), for witnesses serving several clusters.</param>
/// <param name="Nodes">Every node of the cluster document, sorted by id.</param>
/// <param name="Now">The node's monotonic clock, the one <see cref="QuorumContext.Now"/> reads.</param>
/// <param name="Report">Where the device reports each change of its grant; thread-safe.</param>
/// <param name="ClusterKey">The cluster's shared secret (<c>Node:KeyFile</c>), for a device that proves to
/// its witness that it speaks for a node of this cluster; empty when the node has none.</param>
/// <param name="ClockDriftBound">ρ (<c>Cluster:Membership:ClockDriftBound</c>): how far any clock's
/// rate may differ from real time; a grant's length on this node's clock is shortened by it.</param>
public sealed record QuorumDeviceSession(
    NodeIncarnation Self,
    string ClusterName,
    IReadOnlyList<ClusterNode> Nodes,
    Func<TimeSpan> Now,
    Action<QuorumDeviceGrant> Report,
    ReadOnlyMemory<byte> ClusterKey,
    double ClockDriftBound);

/// <summary>What a quorum device knows of its vote, as seen from one node.</summary>
/// <param name="View">The view the vote is given to on this node's behalf, or null when none.</param>
/// <param name="Until">Until when (on <see cref="QuorumDeviceSession.Now"/>) the grant holds.</param>
/// <param name="Detail">One short phrase for operators: "granted by witness 127.0.0.1:7409",
/// "witness unreachable", "held by view (5, 2)".</param>
public sealed record QuorumDeviceGrant(ViewId? View, TimeSpan Until, string Detail)
{
    /// <summary>Whether the grant gives the vote to <paramref name="view"/> at <paramref name="now"/>.</summary>
    public bool Holds(ViewId view, TimeSpan now) => View == view && now < Until;
}

/// <summary>A quorum device as a policy sees it, for the view it judges.</summary>
/// <param name="Name">The device's plugin name (<c>Cluster:Quorum:Device</c>).</param>
/// <param name="Votes">The votes it carries (<c>Cluster:Quorum:DeviceVotes</c>, default 1).</param>
/// <param name="Granted">Whether its votes belong to the view being judged now.</param>
/// <param name="Detail">The device's own words on its state, for operators.</param>
public sealed record QuorumDeviceVote(string Name, int Votes, bool Granted, string Detail);
