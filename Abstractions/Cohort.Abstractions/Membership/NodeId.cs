using System.Globalization;

namespace Cohort.Membership;

/// <summary>
/// The identity of a node as configured in the cluster document: a positive integer, unique in the
/// cluster and never reused for another machine while the cluster lives.
/// </summary>
/// <param name="Value">The configured id; always at least 1.</param>
public readonly record struct NodeId(int Value) : IComparable<NodeId>
{
    /// <inheritdoc />
    public int CompareTo(NodeId other) => Value.CompareTo(other.Value);

    /// <summary>Orders ids numerically.</summary>
    public static bool operator <(NodeId left, NodeId right) => left.Value < right.Value;

    /// <summary>Orders ids numerically.</summary>
    public static bool operator >(NodeId left, NodeId right) => left.Value > right.Value;

    /// <summary>Orders ids numerically.</summary>
    public static bool operator <=(NodeId left, NodeId right) => left.Value <= right.Value;

    /// <summary>Orders ids numerically.</summary>
    public static bool operator >=(NodeId left, NodeId right) => left.Value >= right.Value;

    /// <summary>The id as a decimal number.</summary>
    public override string ToString() => Value.ToString(CultureInfo.InvariantCulture);
}
