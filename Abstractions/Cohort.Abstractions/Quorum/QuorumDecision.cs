namespace Cohort.Quorum;

/// <summary>A quorum policy's answer for one view.</summary>
public sealed class QuorumDecision
{
    /// <summary>Creates a decision.</summary>
    /// <param name="verdict">Quorate or not.</param>
    /// <param name="votes">The votes the policy counted for the view, shown as <c>quorum.votes</c>.</param>
    /// <param name="expectedVotes">The votes the policy expects in a whole cluster, shown as
    /// <c>quorum.expected</c>.</param>
    /// <param name="reason">One short sentence an operator reads in <c>cohort status</c>, for example
    /// "2 of 3 votes; 2 needed".</param>
    public QuorumDecision(QuorumVerdict verdict, int votes, int expectedVotes, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        Verdict = verdict;
        Votes = votes;
        ExpectedVotes = expectedVotes;
        Reason = reason;
    }

    /// <summary>Quorate or not.</summary>
    public QuorumVerdict Verdict { get; }

    /// <summary>The votes counted for the view.</summary>
    public int Votes { get; }

    /// <summary>The votes expected in a whole cluster.</summary>
    public int ExpectedVotes { get; }

    /// <summary>Why, in one sentence.</summary>
    public string Reason { get; }

    /// <summary>The policy's state to remember; the host persists it (fsynced) before acting on the
    /// decision and passes it back as <see cref="QuorumContext.State"/>. Default: empty.</summary>
    /// <value>Empty unless set.</value>
    public ReadOnlyMemory<byte> State { get; init; }

    /// <summary>A value of <see cref="QuorumContext.Now"/> at which to decide again even if nothing else
    /// changes (a policy with a time window sets it); null when no re-evaluation is needed.</summary>
    /// <value>Null unless set.</value>
    public TimeSpan? ReevaluateAt { get; init; }

    /// <summary>
    /// True when this decision may be quorate on both sides of a split (a two-node cluster, say); the
    /// host then relies on fencing alone to choose a survivor and says so in status.
    /// </summary>
    /// <value>False unless set.</value>
    public bool DualQuorum { get; init; }

    /// <summary>How many votes (or members, for a policy that counts members) the view needs, shown as
    /// <c>quorum.needed</c> by <c>cohort quorum</c>; null when the policy has no such number.</summary>
    /// <value>Null unless set.</value>
    public int? Needed { get; init; }

    /// <summary>The policy's features in effect for this decision, as short words an operator reads in
    /// <c>cohort quorum</c> (<c>TwoNode</c>, <c>WaitForAll</c>, ...), the way corosync-quorumtool lists
    /// its flags.</summary>
    /// <value>Empty unless set.</value>
    public IReadOnlyList<string> Flags { get; init; } = [];

    /// <summary>A quorate decision.</summary>
    public static QuorumDecision Quorate(int votes, int expectedVotes, string reason) =>
        new(QuorumVerdict.Quorate, votes, expectedVotes, reason);

    /// <summary>A decision that is not quorate.</summary>
    public static QuorumDecision NotQuorate(int votes, int expectedVotes, string reason) =>
        new(QuorumVerdict.NotQuorate, votes, expectedVotes, reason);
}
