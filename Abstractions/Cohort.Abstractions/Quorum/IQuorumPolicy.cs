namespace Cohort.Quorum;

/// <summary>
/// A quorum policy: a pure decision function from what the node knows to whether its view may act.
/// </summary>
/// <remarks>
/// <para><b>Purity.</b> <see cref="Decide"/> must depend only on its argument: no IO, no clock, no
/// randomness, no mutable fields. Time arrives as <see cref="QuorumContext.Now"/>; anything the policy
/// must remember across calls (the highest expected votes ever seen, say) goes into
/// <see cref="QuorumDecision.State"/>, which the host persists (fsynced) and hands back as
/// <see cref="QuorumContext.State"/>. The same policy then runs unchanged under the deterministic
/// simulator.</para>
/// <para><b>Concurrency.</b> The host never calls <see cref="Decide"/> concurrently on one instance.</para>
/// <para><b>When.</b> At every view installation, after every change of the cluster document, and at
/// the time a previous decision asked for in <see cref="QuorumDecision.ReevaluateAt"/>.</para>
/// <para><b>Failure.</b> An exception is treated as <see cref="QuorumVerdict.NotQuorate"/> and logged with
/// the policy's name; it never makes a node quorate.</para>
/// <para><b>Safety.</b> For every split of the configured nodes into two disjoint groups, at most one
/// group may be quorate, unless the decision sets <see cref="QuorumDecision.DualQuorum"/>; then fencing
/// alone separates the sides and the operator has been told so. The host adds the quorum lease on top:
/// a quorate verdict only counts while the lease of DESIGN.md invariant 1 holds.</para>
/// <para><b>Subsets.</b> The membership core also asks about subsets of the view (the members that
/// acknowledged a heartbeat, those that reported their promises expired), so the verdict must be
/// upward closed: if a set of members is quorate, every superset of it is.</para>
/// </remarks>
public interface IQuorumPolicy
{
    /// <summary>Decides whether the view in <paramref name="context"/> is quorate.</summary>
    QuorumDecision Decide(QuorumContext context);
}
