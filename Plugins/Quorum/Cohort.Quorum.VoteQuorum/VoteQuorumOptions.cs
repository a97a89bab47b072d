using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum;

/// <summary>The options of <c>votequorum</c>, in <c>Cluster:Quorum:VoteQuorum</c>, after corosync's votequorum(5).</summary>
public sealed record VoteQuorumOptions
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

    /// <summary>A two-node cluster: quorum is 1, so either node alone is quorate and fencing alone
    /// decides which survives (dual quorum is declared). Implies <see cref="WaitForAll"/>. It switches
    /// itself off when the document has more than two nodes.</summary>
    /// <value>Default false.</value>
    public bool TwoNode { get; init; }

    /// <summary>Not quorate, after every start of the node, until the node has been in a view with every
    /// configured node at once; from then on the usual rules apply. It keeps a node that restarts
    /// alone (after being fenced, say) from acting, or fencing anyone, on its own.</summary>
    /// <value>Default: null, meaning on when <see cref="TwoNode"/> is in effect and off otherwise.</value>
    public bool? WaitForAll { get; init; }

    /// <summary>Remember (persisted) the highest expected votes ever seen and never expect fewer, so
    /// that removing nodes from the document cannot lower the bar.</summary>
    /// <value>Default false.</value>
    public bool ExpectedVotesTracking { get; init; }

    /// <summary>The known keys, as the validator reports them.</summary>
    internal static readonly string[] Keys = [nameof(ExpectedVotes), nameof(TwoNode), nameof(WaitForAll), nameof(ExpectedVotesTracking)];

    /// <summary>Whether <see cref="TwoNode"/> is in effect for a document of <paramref name="nodes"/> nodes.</summary>
    public bool TwoNodeActive(int nodes) => TwoNode && nodes == 2;

    /// <summary>Whether wait-for-all is in effect for a document of <paramref name="nodes"/> nodes.</summary>
    public bool WaitForAllActive(int nodes) => WaitForAll ?? TwoNodeActive(nodes);

    /// <summary>Reads the options from a cluster document; call only on a validated document.</summary>
    public static VoteQuorumOptions From(IConfiguration cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var section = cluster.GetSection(Section);
        return new VoteQuorumOptions
        {
            ExpectedVotes = section[nameof(ExpectedVotes)] is { } raw ? int.Parse(raw, CultureInfo.InvariantCulture) : null,
            TwoNode = Flag(section, nameof(TwoNode)) ?? false,
            WaitForAll = Flag(section, nameof(WaitForAll)),
            ExpectedVotesTracking = Flag(section, nameof(ExpectedVotesTracking)) ?? false,
        };
    }

    private static bool? Flag(IConfiguration section, string key) => section[key] is { } raw ? bool.Parse(raw) : null;
}
