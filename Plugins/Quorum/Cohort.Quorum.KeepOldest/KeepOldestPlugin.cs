using Cohort.Plugins;
using Cohort.Quorum.KeepOldest;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(KeepOldestPlugin))]

namespace Cohort.Quorum.KeepOldest;

/// <summary>The <c>keep-oldest</c> quorum policy plugin.</summary>
public sealed class KeepOldestPlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(
        PluginSlot.QuorumPolicy,
        KeepOldestPolicy.Name,
        typeof(KeepOldestPlugin).Assembly.GetName().Version!,
        [new PluginConfigSection(KeepOldestOptions.Section, new KeepOldestOptions.Validator())]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IQuorumPolicy, KeepOldestPolicy>();
}
