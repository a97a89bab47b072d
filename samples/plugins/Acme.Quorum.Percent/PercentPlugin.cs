using Acme.Quorum.Percent;
using Cohort.Plugins;
using Cohort.Quorum;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(PercentPlugin))]

namespace Acme.Quorum.Percent;

/// <summary>The plugin entry: names the policy and registers it.</summary>
public sealed class PercentPlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(
        PluginSlot.QuorumPolicy,
        "percent",
        new Version(1, 0, 0),
        [new PluginConfigSection(PercentOptions.Section, new PercentOptionsValidator())]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IQuorumPolicy, PercentPolicy>();
}
