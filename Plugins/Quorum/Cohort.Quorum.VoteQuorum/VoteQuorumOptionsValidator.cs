using System.Globalization;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum;

/// <summary>Validates <c>Cluster:Quorum:VoteQuorum</c>.</summary>
public sealed class VoteQuorumOptionsValidator : IConfigSectionValidator
{
    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection section) => Validate(section, []);

    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection section, IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(section);
        ArgumentNullException.ThrowIfNull(nodes);
        foreach (var child in section.GetChildren())
        {
            if (!VoteQuorumOptions.Keys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                yield return new ConfigProblem(child.Path, $"one of {string.Join(", ", VoteQuorumOptions.Keys)}", child.Value);
            }
        }

        if (section[nameof(VoteQuorumOptions.ExpectedVotes)] is { } expected &&
            (!int.TryParse(expected, NumberStyles.Integer, CultureInfo.InvariantCulture, out var votes) || votes < 1))
        {
            yield return new ConfigProblem(section.Path + ":ExpectedVotes", "an integer of at least 1", expected);
        }

        var flags = new Dictionary<string, bool>();
        foreach (var flag in new[] { nameof(VoteQuorumOptions.TwoNode), nameof(VoteQuorumOptions.WaitForAll), nameof(VoteQuorumOptions.ExpectedVotesTracking), nameof(VoteQuorumOptions.AutoTieBreaker), nameof(VoteQuorumOptions.LastManStanding) })
        {
            if (section[flag] is { } raw)
            {
                if (bool.TryParse(raw, out var value))
                {
                    flags[flag] = value;
                }
                else
                {
                    yield return new ConfigProblem(section.Path + ":" + flag, "true or false", raw);
                }
            }
        }

        if (flags.GetValueOrDefault(nameof(VoteQuorumOptions.TwoNode)) && flags.GetValueOrDefault(nameof(VoteQuorumOptions.AutoTieBreaker)))
        {
            yield return new ConfigProblem(section.Path + ":" + nameof(VoteQuorumOptions.AutoTieBreaker),
                "false when TwoNode is true: TwoNode lets either node act and fencing decides, AutoTieBreaker lets only the tie-breaker's side act; choose one", "true");
        }

        if (flags.GetValueOrDefault(nameof(VoteQuorumOptions.LastManStanding)) && flags.GetValueOrDefault(nameof(VoteQuorumOptions.TwoNode)))
        {
            yield return new ConfigProblem(section.Path + ":" + nameof(VoteQuorumOptions.LastManStanding),
                "false when TwoNode is true: a two-node cluster has no votes to lower (use AutoTieBreaker for the last step)", "true");
        }

        if (flags.GetValueOrDefault(nameof(VoteQuorumOptions.LastManStanding)) && flags.GetValueOrDefault(nameof(VoteQuorumOptions.ExpectedVotesTracking)))
        {
            yield return new ConfigProblem(section.Path + ":" + nameof(VoteQuorumOptions.LastManStanding),
                "false when ExpectedVotesTracking is true: tracking never lets the expected votes go down; choose one", "true");
        }

        if (section[nameof(VoteQuorumOptions.LastManStandingWindow)] is { } window
            && (!int.TryParse(window, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms < 1))
        {
            yield return new ConfigProblem(section.Path + ":" + nameof(VoteQuorumOptions.LastManStandingWindow), "a whole number of milliseconds, at least 1", window);
        }

        var tieBreaker = section.GetSection(nameof(VoteQuorumOptions.AutoTieBreakerNode));
        var entries = VoteQuorumOptions.TieBreakerEntries(tieBreaker);
        var named = entries is [var word] && (word.Equals(VoteQuorumOptions.Lowest, StringComparison.OrdinalIgnoreCase) || word.Equals(VoteQuorumOptions.Highest, StringComparison.OrdinalIgnoreCase));
        if (tieBreaker.Exists() && !named)
        {
            var bad = entries.Where(e => !int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || (nodes.Count > 0 && nodes.All(n => n.Id.Value != id))).ToList();
            if (entries.Count == 0 || bad.Count > 0)
            {
                yield return new ConfigProblem(tieBreaker.Path,
                    "lowest, highest, or a list of node ids of the document" + (nodes.Count > 0 ? $" ({string.Join(", ", nodes.Select(n => n.Id))})" : ""),
                    string.Join(" ", entries));
            }
        }
    }
}
