namespace Cohort.Membership;

/// <summary>An installed membership view: its id and the incarnations that are its members.</summary>
/// <remarks>
/// Immutable. <see cref="Members"/> is sorted by node id and holds one incarnation per node.
/// </remarks>
public sealed class View
{
    /// <summary>Creates a view; the members are copied and sorted by node id.</summary>
    /// <exception cref="ArgumentException">Two members share a node id.</exception>
    public View(ViewId id, IEnumerable<NodeIncarnation> members)
        : this(id, members, 0)
    {
    }

    /// <summary>Creates a view judged under cluster document version <paramref name="configVersion"/>.</summary>
    /// <param name="id">The view id.</param>
    /// <param name="members">The members; copied and sorted by node id.</param>
    /// <param name="configVersion">The committed version of the cluster document whose rules (nodes,
    /// votes, quorum policy, timings) every member judges this view by; 0 where there is none.</param>
    /// <exception cref="ArgumentException">Two members share a node id.</exception>
    public View(ViewId id, IEnumerable<NodeIncarnation> members, long configVersion)
    {
        ArgumentNullException.ThrowIfNull(members);
        var sorted = members.ToArray();
        Array.Sort(sorted);
        for (var i = 1; i < sorted.Length; i++)
        {
            if (sorted[i].Node == sorted[i - 1].Node)
            {
                throw new ArgumentException($"View {id} lists node {sorted[i].Node} twice.", nameof(members));
            }
        }

        Id = id;
        Members = sorted;
        ConfigVersion = configVersion;
    }

    /// <summary>The cluster document version every member judges this view by (0: none).</summary>
    public long ConfigVersion { get; }

    /// <summary>The view id.</summary>
    public ViewId Id { get; }

    /// <summary>The members, sorted by node id.</summary>
    public IReadOnlyList<NodeIncarnation> Members { get; }

    /// <summary>Whether <paramref name="node"/> is a member, in any incarnation. O(log n).</summary>
    public bool Contains(NodeId node)
    {
        int lo = 0, hi = Members.Count - 1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) / 2);
            var at = Members[mid].Node;
            if (at == node)
            {
                return true;
            }

            if (at < node)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return false;
    }

    /// <inheritdoc />
    public override string ToString() => $"view {Id} [{string.Join(", ", Members)}]";
}
