namespace Cohort.Membership;

/// <summary>
/// The id of a membership view: a sequence number (shown to operators as the view's epoch) and the
/// coordinator that proposed it, ordered lexicographically.
/// </summary>
/// <remarks>
/// One member set per view id. A node installs a view only after all its members acknowledged it,
/// the view ids a node installs strictly increase, and the latest is fsynced before the node acts on it.
/// </remarks>
/// <param name="Seq">The sequence number (epoch); grows with every view a node installs.</param>
/// <param name="Coordinator">The node that proposed the view; breaks ties between equal sequence numbers.</param>
public readonly record struct ViewId(long Seq, NodeId Coordinator) : IComparable<ViewId>
{
    /// <summary>Orders by sequence number, then by coordinator id.</summary>
    public int CompareTo(ViewId other)
    {
        var bySeq = Seq.CompareTo(other.Seq);
        return bySeq != 0 ? bySeq : Coordinator.CompareTo(other.Coordinator);
    }

    /// <summary>Lexicographic order.</summary>
    public static bool operator <(ViewId left, ViewId right) => left.CompareTo(right) < 0;

    /// <summary>Lexicographic order.</summary>
    public static bool operator >(ViewId left, ViewId right) => left.CompareTo(right) > 0;

    /// <summary>Lexicographic order.</summary>
    public static bool operator <=(ViewId left, ViewId right) => left.CompareTo(right) <= 0;

    /// <summary>Lexicographic order.</summary>
    public static bool operator >=(ViewId left, ViewId right) => left.CompareTo(right) >= 0;

    /// <summary>Formats as <c>seq.coordinator</c>, for example <c>12.1</c>.</summary>
    public override string ToString() => $"{Seq}.{Coordinator}";
}
