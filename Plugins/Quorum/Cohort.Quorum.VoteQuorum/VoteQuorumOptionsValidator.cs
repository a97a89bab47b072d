using System.Globalization;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.VoteQuorum;

/// <summary>Validates <c>Cluster:Quorum:VoteQuorum</c>.</summary>
public sealed class VoteQuorumOptionsValidator : IConfigSectionValidator
{
    private static readonly string[] Known = ["ExpectedVotes"];

    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        foreach (var child in section.GetChildren())
        {
            if (!Known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                yield return new ConfigProblem(child.Path, $"one of {string.Join(", ", Known)}", child.Value);
            }
        }

        if (section["ExpectedVotes"] is { } expected &&
            (!int.TryParse(expected, NumberStyles.Integer, CultureInfo.InvariantCulture, out var votes) || votes < 1))
        {
            yield return new ConfigProblem(section.Path + ":ExpectedVotes", "an integer of at least 1", expected);
        }
    }
}
