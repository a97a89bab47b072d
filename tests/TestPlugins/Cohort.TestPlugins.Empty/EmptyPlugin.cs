using Cohort.Plugins;
using Cohort.TestPlugins.Empty;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(EmptyPlugin))]

namespace Cohort.TestPlugins.Empty;

/// <summary>A quorum-policy plugin that forgets to register its policy.</summary>
public sealed class EmptyPlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.QuorumPolicy, "empty", new Version(1, 0));

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
    }
}
