using Cohort.Plugins;
using Cohort.TestPlugins.Throwing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(ThrowingPlugin))]

namespace Cohort.TestPlugins.Throwing;

/// <summary>A plugin whose entry throws when created.</summary>
public sealed class ThrowingPlugin : ICohortPlugin
{
    /// <summary>Throws.</summary>
    public ThrowingPlugin() => throw new InvalidOperationException("license server unreachable");

    /// <inheritdoc />
    public PluginManifest Manifest => throw new NotSupportedException();

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) => throw new NotSupportedException();
}
