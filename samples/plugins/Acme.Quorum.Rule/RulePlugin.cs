using Acme.Quorum.Rule;
using Cohort.Plugins;
using Cohort.Quorum;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(RulePlugin))]

namespace Acme.Quorum.Rule;

/// <summary>The plugin entry.</summary>
public sealed class RulePlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(
        PluginSlot.QuorumPolicy,
        "rule",
        new Version(1, 0, 0),
        [new PluginConfigSection(QuorumRule.Section, new QuorumRuleValidator())]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IQuorumPolicy, RulePolicy>();
}
