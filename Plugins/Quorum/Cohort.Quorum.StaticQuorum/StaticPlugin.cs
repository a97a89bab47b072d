using Cohort.Plugins;
using Cohort.Quorum.StaticQuorum;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(StaticPlugin))]

namespace Cohort.Quorum.StaticQuorum;

/// <summary>The <c>static</c> quorum policy plugin.</summary>
public sealed class StaticPlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(
        PluginSlot.QuorumPolicy,
        StaticPolicy.Name,
        typeof(StaticPlugin).Assembly.GetName().Version!,
        [new PluginConfigSection(StaticOptions.Section, new StaticOptions.Validator())]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IQuorumPolicy, StaticPolicy>();
}
