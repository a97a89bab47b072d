using System.Globalization;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum;

/// <summary>Validates <c>Cluster:Quorum:VoteQuorum</c>.</summary>
public sealed class VoteQuorumOptionsValidator : IConfigSectionValidator
{
    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
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

        foreach (var flag in new[] { nameof(VoteQuorumOptions.TwoNode), nameof(VoteQuorumOptions.WaitForAll), nameof(VoteQuorumOptions.ExpectedVotesTracking) })
        {
            if (section[flag] is { } raw && !bool.TryParse(raw, out _))
            {
                yield return new ConfigProblem(section.Path + ":" + flag, "true or false", raw);
            }
        }
    }
}
