using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.KeepOldest;

/// <summary>The options of <c>keep-oldest</c>, in <c>Cluster:Quorum:KeepOldest</c>.</summary>
public sealed record KeepOldestOptions
{
    /// <summary>The section the options live in.</summary>
    public const string Section = "Cluster:Quorum:KeepOldest";

    /// <summary>When the oldest member is cut off alone (no other member of the last majority view with
    /// it), it stops acting and the rest act instead, as Akka's <c>down-if-alone</c>.</summary>
    /// <value>Default true.</value>
    public bool DownIfAlone { get; init; } = true;

    /// <summary>Reads the options from the cluster document; call only on a validated document.</summary>
    public static KeepOldestOptions From(IConfiguration cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var section = cluster.GetSection(Section);
        return new KeepOldestOptions { DownIfAlone = section[nameof(DownIfAlone)] is not { } raw || bool.Parse(raw) };
    }

    /// <summary>Validates <c>Cluster:Quorum:KeepOldest</c>.</summary>
    public sealed class Validator : IConfigSectionValidator
    {
        /// <inheritdoc />
        public IEnumerable<ConfigProblem> Validate(IConfigurationSection section)
        {
            ArgumentNullException.ThrowIfNull(section);
            foreach (var child in section.GetChildren().Where(c => !c.Key.Equals(nameof(DownIfAlone), StringComparison.OrdinalIgnoreCase)))
            {
                yield return new ConfigProblem(child.Path, nameof(DownIfAlone), child.Value);
            }

            if (section[nameof(DownIfAlone)] is { } raw && !bool.TryParse(raw, out _))
            {
                yield return new ConfigProblem(section.Path + ":" + nameof(DownIfAlone), "true or false", raw);
            }
        }
    }
}
