using Cohort.Quorum;
using Microsoft.Extensions.Configuration;

namespace Cohort.Membership;

/// <summary>
/// What membership judges views by, as one committed version of the cluster document sets it: the
/// nodes and their votes, the quorum policy and the <c>Cluster:*</c> keys it reads, the quorum device,
/// and the timings. Every view carries the version it is judged under (<see cref="View.ConfigVersion"/>),
/// so the members of a view never judge it by different rules.
/// </summary>
/// <param name="ConfigVersion">The committed version these rules come from (0 where there is none).</param>
/// <param name="Nodes">Every node of that version.</param>
/// <param name="Cluster">Its <c>Cluster:*</c> keys, which the policy reads.</param>
/// <param name="Policy">The quorum policy; it must count any superset of a quorum as a quorum.</param>
/// <param name="Options">The timings.</param>
/// <param name="Device">The quorum device, or null for none.</param>
/// <param name="QuorumRules">A canonical description of everything here that decides quorum (nodes and
/// votes, the policy and its keys, the device, the timings): two versions with equal descriptions judge
/// every set of members alike, so moving from one to the other needs no hold-down.</param>
public sealed record MembershipRules(long ConfigVersion, IReadOnlyList<ClusterNode> Nodes, IConfiguration Cluster, IQuorumPolicy Policy, MembershipOptions Options, DeviceSetup? Device, string QuorumRules)
{
    /// <summary>Rules of no committed version (version 0), described by the node ids and votes alone.</summary>
    public static MembershipRules Unversioned(IReadOnlyList<ClusterNode> nodes, IConfiguration cluster, IQuorumPolicy policy, MembershipOptions options, DeviceSetup? device = null) =>
        new(0, nodes, cluster, policy, options, device, Describe(nodes, cluster, device));

    /// <summary>The canonical description of <see cref="QuorumRules"/>: the node ids and votes, the device,
    /// and every key under <c>Cluster:Quorum</c> and <c>Cluster:Membership</c>, sorted.</summary>
    public static string Describe(IReadOnlyList<ClusterNode> nodes, IConfiguration cluster, DeviceSetup? device)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(cluster);
        var keys = cluster.GetSection("Cluster:Quorum").AsEnumerable()
            .Concat(cluster.GetSection("Cluster:Membership").AsEnumerable())
            .Where(kv => kv.Value is not null)
            .Select(kv => kv.Key.ToLowerInvariant() + "=" + kv.Value)
            .Order(StringComparer.Ordinal);
        return string.Join(";", nodes.OrderBy(n => n.Id.Value).Select(n => $"{n.Id.Value}:{n.Votes}"))
            + "|" + (device is null ? "" : $"{device.Name}:{device.Votes}")
            + "|" + string.Join(";", keys);
    }
}
