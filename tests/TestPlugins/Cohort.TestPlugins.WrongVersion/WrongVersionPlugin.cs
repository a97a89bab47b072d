using Cohort.Plugins;
using Cohort.Quorum;
using Cohort.TestPlugins.WrongVersion;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(WrongVersionPlugin))]

namespace Cohort.TestPlugins.WrongVersion;

/// <summary>A plugin that says it was built for contracts this host does not have.</summary>
public sealed class WrongVersionPlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.QuorumPolicy, "from-the-future", new Version(1, 0), abstractionsVersion: "9.9");

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IQuorumPolicy>(_ => throw new NotSupportedException());
}
