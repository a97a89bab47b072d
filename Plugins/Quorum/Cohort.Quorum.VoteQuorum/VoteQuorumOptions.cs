using System.Globalization;
using Cohort.Membership;
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
    /// itself off when the document has more than two nodes, and when a quorum device is configured
    /// (the device's vote then breaks the tie, as with corosync's qdevice).</summary>
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

    /// <summary>In a split into two exact halves of the expected votes, the half holding the tie-breaker
    /// node (<see cref="AutoTieBreakerNode"/>) stays quorate and the other does not.</summary>
    /// <value>Default false.</value>
    public bool AutoTieBreaker { get; init; }

    /// <summary>Which node breaks ties: <c>lowest</c> (the lowest voting node id), <c>highest</c>, or a list
    /// of node ids (a JSON array, or ids separated by spaces or commas): the first listed node that is in
    /// the document. The choice never depends on which nodes are alive, so both halves of a split agree
    /// on it; if the tie-breaker itself is down, no exact half is quorate (a witness covers that case).</summary>
    /// <value>Default <c>lowest</c>.</value>
    public IReadOnlyList<string> AutoTieBreakerNode { get; init; } = [Lowest];

    /// <summary>Once a quorate view has stood unchanged for <see cref="LastManStandingWindow"/>, expect only
    /// its votes: the cluster can then lose nodes one window at a time down to two (to one with
    /// <see cref="AutoTieBreaker"/>). The lowered value lives on each node for one incarnation and is
    /// not agreed with the other nodes, so a lowered decision declares dual quorum: after a later split,
    /// fencing alone decides, as with corosync's last_man_standing.</summary>
    /// <value>Default false.</value>
    public bool LastManStanding { get; init; }

    /// <summary>How long a quorate view must stand unchanged before <see cref="LastManStanding"/> lowers
    /// the expected votes to its votes.</summary>
    /// <value>Default 10000 ms, as corosync's last_man_standing_window.</value>
    public TimeSpan LastManStandingWindow { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The value of <see cref="AutoTieBreakerNode"/> choosing the lowest voting node id.</summary>
    public const string Lowest = "lowest";

    /// <summary>The value of <see cref="AutoTieBreakerNode"/> choosing the highest voting node id.</summary>
    public const string Highest = "highest";

    /// <summary>The known keys, as the validator reports them.</summary>
    internal static readonly string[] Keys = [nameof(ExpectedVotes), nameof(TwoNode), nameof(WaitForAll), nameof(ExpectedVotesTracking), nameof(AutoTieBreaker), nameof(AutoTieBreakerNode), nameof(LastManStanding), nameof(LastManStandingWindow)];

    /// <summary>The tie-breaker node of a document, or null when none of the listed nodes is in it.</summary>
    public NodeId? TieBreaker(IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        var voting = nodes.Where(n => n.Votes > 0).Select(n => n.Id).ToList();
        if (AutoTieBreakerNode is [var single] && single.Equals(Lowest, StringComparison.OrdinalIgnoreCase))
        {
            return voting.Count == 0 ? null : voting.Min();
        }

        if (AutoTieBreakerNode is [var only] && only.Equals(Highest, StringComparison.OrdinalIgnoreCase))
        {
            return voting.Count == 0 ? null : voting.Max();
        }

        foreach (var entry in AutoTieBreakerNode)
        {
            if (int.TryParse(entry, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && nodes.Any(n => n.Id.Value == id))
            {
                return new NodeId(id);
            }
        }

        return null;
    }

    /// <summary>Whether <see cref="TwoNode"/> is in effect for a document of <paramref name="nodes"/> nodes.</summary>
    /// <param name="nodes">The number of nodes in the document.</param>
    /// <param name="hasDevice">Whether a quorum device is configured: it replaces two-node mode.</param>
    public bool TwoNodeActive(int nodes, bool hasDevice = false) => TwoNode && nodes == 2 && !hasDevice;

    /// <summary>Whether wait-for-all is in effect for a document of <paramref name="nodes"/> nodes.</summary>
    public bool WaitForAllActive(int nodes, bool hasDevice = false) => WaitForAll ?? TwoNodeActive(nodes, hasDevice);

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
            AutoTieBreaker = Flag(section, nameof(AutoTieBreaker)) ?? false,
            AutoTieBreakerNode = TieBreakerEntries(section.GetSection(nameof(AutoTieBreakerNode))) is { Count: > 0 } entries ? entries : [Lowest],
            LastManStanding = Flag(section, nameof(LastManStanding)) ?? false,
            LastManStandingWindow = section[nameof(LastManStandingWindow)] is { } window
                ? TimeSpan.FromMilliseconds(int.Parse(window, NumberStyles.None, CultureInfo.InvariantCulture))
                : TimeSpan.FromSeconds(10),
        };
    }

    /// <summary>The entries of <see cref="AutoTieBreakerNode"/>: a JSON array, or one string of ids
    /// separated by spaces or commas.</summary>
    internal static List<string> TieBreakerEntries(IConfigurationSection section) =>
        section.Value is { } single
            ? [.. single.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)]
            : [.. section.GetChildren().OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue).Select(c => c.Value ?? "")];

    private static bool? Flag(IConfiguration section, string key) => section[key] is { } raw ? bool.Parse(raw) : null;
}
