namespace Cohort.Membership;

/// <summary>
/// One life of a node: its id and the incarnation counter it persisted and bumped when it started.
/// </summary>
/// <remarks>
/// Every start of an agent gets a strictly greater incarnation than any earlier start on the same
/// state directory, so "node 3, incarnation 17" names exactly one process lifetime. Fencing kills an
/// incarnation; frames from an excluded incarnation are rejected; only an incarnation that left
/// cleanly is exempt from fencing.
/// </remarks>
/// <param name="Node">The node's configured id.</param>
/// <param name="Incarnation">The incarnation counter, at least 1.</param>
public readonly record struct NodeIncarnation(NodeId Node, long Incarnation) : IComparable<NodeIncarnation>
{
    /// <summary>Orders by node id, then by incarnation.</summary>
    public int CompareTo(NodeIncarnation other)
    {
        var byNode = Node.CompareTo(other.Node);
        return byNode != 0 ? byNode : Incarnation.CompareTo(other.Incarnation);
    }

    /// <summary>Orders by node id, then by incarnation.</summary>
    public static bool operator <(NodeIncarnation left, NodeIncarnation right) => left.CompareTo(right) < 0;

    /// <summary>Orders by node id, then by incarnation.</summary>
    public static bool operator >(NodeIncarnation left, NodeIncarnation right) => left.CompareTo(right) > 0;

    /// <summary>Orders by node id, then by incarnation.</summary>
    public static bool operator <=(NodeIncarnation left, NodeIncarnation right) => left.CompareTo(right) <= 0;

    /// <summary>Orders by node id, then by incarnation.</summary>
    public static bool operator >=(NodeIncarnation left, NodeIncarnation right) => left.CompareTo(right) >= 0;

    /// <summary>Formats as <c>node#incarnation</c>, for example <c>3#17</c>.</summary>
    public override string ToString() => $"{Node}#{Incarnation}";
}
