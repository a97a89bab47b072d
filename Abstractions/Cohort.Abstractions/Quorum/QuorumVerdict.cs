namespace Cohort.Quorum;

/// <summary>The closed set of answers a quorum policy gives.</summary>
public enum QuorumVerdict
{
    /// <summary>The view may not act: no resource starts, no lock is granted, no node is fenced.</summary>
    NotQuorate = 0,

    /// <summary>The view may act, within the host's quorum lease.</summary>
    Quorate = 1,
}
