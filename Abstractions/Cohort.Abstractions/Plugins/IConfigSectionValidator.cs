using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Plugins;

/// <summary>Validates one configuration section a plugin owns.</summary>
/// <remarks>
/// Called before the plugin is registered, when the section is present or the plugin is selected for
/// its slot (an unused plugin with no section is not asked). It must be a pure function of its
/// arguments: no IO, no clock. Return every problem at once; an empty result accepts the section. The
/// host names the source file of each problem's key when it reports it. The host calls
/// <see cref="Validate(IConfigurationSection, IReadOnlyList{ClusterNode})"/>; implement that overload
/// when what is valid depends on the cluster's nodes (a minimum number of members, say), otherwise
/// only <see cref="Validate(IConfigurationSection)"/>.
/// </remarks>
public interface IConfigSectionValidator
{
    /// <summary>Lists the problems in <paramref name="section"/>; empty when it is valid.</summary>
    /// <param name="section">The owned section; it may not exist (<c>section.Exists()</c> false), in which
    /// case the plugin's defaults apply.</param>
    IEnumerable<ConfigProblem> Validate(IConfigurationSection section);

    /// <summary>Lists the problems in <paramref name="section"/>, given the nodes of the cluster
    /// document; the default ignores the nodes.</summary>
    /// <param name="section">The owned section, as for <see cref="Validate(IConfigurationSection)"/>.</param>
    /// <param name="nodes">The nodes of the cluster document, sorted by id; empty when the node has none.</param>
    IEnumerable<ConfigProblem> Validate(IConfigurationSection section, IReadOnlyList<ClusterNode> nodes) => Validate(section);
}
