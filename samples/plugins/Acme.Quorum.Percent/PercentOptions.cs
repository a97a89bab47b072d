using System.Globalization;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Acme.Quorum.Percent;

/// <summary>Options in <c>Cluster:Quorum:Percent</c>.</summary>
public sealed class PercentOptions
{
    /// <summary>Where the options live.</summary>
    public const string Section = "Cluster:Quorum:Percent";

    /// <summary>The share of all configured votes the view must hold, in percent.</summary>
    /// <value>Default 51. At 50 or below both halves of an even split could be quorate, so the policy
    /// declares dual quorum and fencing alone picks a survivor.</value>
    public int Percent { get; init; } = 51;

    /// <summary>Reads the options from the cluster document.</summary>
    public static PercentOptions From(IConfiguration cluster)
    {
        var raw = cluster[Section + ":Percent"];
        return raw is null ? new PercentOptions() : new PercentOptions { Percent = int.Parse(raw, CultureInfo.InvariantCulture) };
    }
}

/// <summary>Validates <c>Cluster:Quorum:Percent</c>.</summary>
public sealed class PercentOptionsValidator : IConfigSectionValidator
{
    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        foreach (var child in section.GetChildren().Where(c => !c.Key.Equals("Percent", StringComparison.OrdinalIgnoreCase)))
        {
            yield return new ConfigProblem(child.Path, "only the key Percent", child.Value);
        }

        if (section["Percent"] is { } raw && (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var percent) || percent is < 1 or > 100))
        {
            yield return new ConfigProblem(section.Path + ":Percent", "an integer from 1 to 100", raw);
        }
    }
}
