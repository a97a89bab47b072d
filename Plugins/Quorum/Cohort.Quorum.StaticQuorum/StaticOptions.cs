using System.Globalization;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.StaticQuorum;

/// <summary>The options of <c>static</c>, in <c>Cluster:Quorum:Static</c>.</summary>
public sealed record StaticOptions
{
    /// <summary>The section the options live in.</summary>
    public const string Section = "Cluster:Quorum:Static";

    /// <summary>How many voting members (nodes with <c>Votes</c> above 0) a view needs.</summary>
    /// <value>Default: null, meaning ⌊N/2⌋+1 of the N voting nodes of the cluster document.</value>
    public int? MinimumMembers { get; init; }

    /// <summary>Accept a <see cref="MinimumMembers"/> of half the voting nodes or fewer. Both sides of a
    /// split may then be quorate: the policy declares dual quorum, and fencing alone picks a survivor.</summary>
    /// <value>Default false: such a value is refused.</value>
    public bool AllowDualQuorum { get; init; }

    /// <summary>The number of voting nodes in a document.</summary>
    public static int VotingNodes(IEnumerable<ClusterNode> nodes) => nodes.Count(n => n.Votes > 0);

    /// <summary>The minimum in effect for <paramref name="votingNodes"/> voting nodes.</summary>
    public int MinimumFor(int votingNodes) => MinimumMembers ?? (votingNodes / 2) + 1;

    /// <summary>Reads the options from the cluster document; call only on a validated document.</summary>
    public static StaticOptions From(IConfiguration cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var section = cluster.GetSection(Section);
        return new StaticOptions
        {
            MinimumMembers = section[nameof(MinimumMembers)] is { } raw ? int.Parse(raw, NumberStyles.None, CultureInfo.InvariantCulture) : null,
            AllowDualQuorum = section[nameof(AllowDualQuorum)] is { } flag && bool.Parse(flag),
        };
    }

    /// <summary>Validates <c>Cluster:Quorum:Static</c>.</summary>
    public sealed class Validator : IConfigSectionValidator
    {
        private static readonly string[] Known = [nameof(MinimumMembers), nameof(AllowDualQuorum)];

        /// <inheritdoc />
        public IEnumerable<ConfigProblem> Validate(IConfigurationSection section) => Validate(section, []);

        /// <inheritdoc />
        public IEnumerable<ConfigProblem> Validate(IConfigurationSection section, IReadOnlyList<ClusterNode> nodes)
        {
            ArgumentNullException.ThrowIfNull(section);
            ArgumentNullException.ThrowIfNull(nodes);
            var problems = new List<ConfigProblem>();
            foreach (var child in section.GetChildren().Where(c => !Known.Contains(c.Key, StringComparer.OrdinalIgnoreCase)))
            {
                problems.Add(new ConfigProblem(child.Path, "one of " + string.Join(", ", Known), child.Value));
            }

            int? minimum = null;
            var raw = section[nameof(MinimumMembers)];
            if (raw is not null)
            {
                if (int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= 1)
                {
                    minimum = value;
                }
                else
                {
                    problems.Add(new ConfigProblem(section.Path + ":" + nameof(MinimumMembers), "a whole number of at least 1", raw));
                }
            }

            var allow = false;
            if (section[nameof(AllowDualQuorum)] is { } flag && !bool.TryParse(flag, out allow))
            {
                problems.Add(new ConfigProblem(section.Path + ":" + nameof(AllowDualQuorum), "true or false", flag));
            }

            var voting = VotingNodes(nodes);
            if (minimum is { } m && voting > 0 && 2 * m <= voting && !allow)
            {
                problems.Add(new ConfigProblem(section.Path + ":" + nameof(MinimumMembers),
                    $"more than half of the {voting} voting nodes (at least {(voting / 2) + 1}), or AllowDualQuorum: true to accept that both sides of a split may be quorate",
                    raw));
            }

            return problems;
        }
    }
}
