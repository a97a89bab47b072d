using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum;

/// <summary>The options of <c>votequorum</c>, in <c>Cluster:Quorum:VoteQuorum</c>.</summary>
public sealed class VoteQuorumOptions
{
    /// <summary>The section the options live in.</summary>
    public const string Section = "Cluster:Quorum:VoteQuorum";

    /// <summary>
    /// The votes a whole cluster has; quorum is a strict majority of it. When the view's members hold
    /// more votes than this, their sum is used instead (as corosync does).
    /// </summary>
    /// <value>Default: null, meaning the sum of the votes of every node in the cluster document. A value
    /// below that sum lets both sides of a split be quorate: the policy then declares dual quorum.</value>
    public int? ExpectedVotes { get; init; }

    /// <summary>Reads the options from a cluster document; call only on a validated document.</summary>
    public static VoteQuorumOptions From(IConfiguration cluster)
    {
        var section = cluster.GetSection(Section);
        return new VoteQuorumOptions
        {
            ExpectedVotes = section["ExpectedVotes"] is { } raw ? int.Parse(raw, CultureInfo.InvariantCulture) : null,
        };
    }
}
