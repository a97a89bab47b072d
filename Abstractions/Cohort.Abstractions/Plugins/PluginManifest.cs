namespace Cohort.Plugins;

/// <summary>What a plugin is: its slot, its name in that slot, its version, the contracts it was built
/// against, and the configuration it owns.</summary>
public sealed class PluginManifest
{
    /// <summary>Describes a plugin.</summary>
    /// <param name="slot">The slot the plugin fills.</param>
    /// <param name="name">The name configuration uses to choose it: lower case letters, digits and
    /// dashes, unique in its slot.</param>
    /// <param name="version">The plugin's own version, shown by <c>cohort plugins</c>.</param>
    /// <param name="configSections">The configuration sections the plugin owns; each is validated by
    /// its validator before the plugin is registered.</param>
    /// <param name="abstractionsVersion">The contracts the plugin was compiled against. Leave it out:
    /// the default is <see cref="AbstractionsInfo.Version"/> as it was when the plugin was compiled.</param>
    public PluginManifest(
        PluginSlot slot,
        string name,
        Version version,
        IReadOnlyList<PluginConfigSection>? configSections = null,
        string abstractionsVersion = AbstractionsInfo.Version)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(version);
        ArgumentException.ThrowIfNullOrWhiteSpace(abstractionsVersion);
        Slot = slot;
        Name = name;
        Version = version;
        ConfigSections = configSections ?? [];
        AbstractionsVersion = abstractionsVersion;
    }

    /// <summary>The slot the plugin fills.</summary>
    public PluginSlot Slot { get; }

    /// <summary>The plugin's name in its slot.</summary>
    public string Name { get; }

    /// <summary>The plugin's version.</summary>
    public Version Version { get; }

    /// <summary>The major.minor of <c>Cohort.Abstractions</c> the plugin was compiled against.</summary>
    public string AbstractionsVersion { get; }

    /// <summary>The configuration sections the plugin owns.</summary>
    public IReadOnlyList<PluginConfigSection> ConfigSections { get; }
}
