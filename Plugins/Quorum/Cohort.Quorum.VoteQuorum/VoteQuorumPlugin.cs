using Cohort.Plugins;
using Cohort.Quorum.VoteQuorum;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(VoteQuorumPlugin))]

namespace Cohort.Quorum.VoteQuorum;

/// <summary>The <c>votequorum</c> quorum policy plugin.</summary>
public sealed class VoteQuorumPlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(
        PluginSlot.QuorumPolicy,
        VoteQuorumPolicy.Name,
        typeof(VoteQuorumPlugin).Assembly.GetName().Version!,
        [new PluginConfigSection(VoteQuorumOptions.Section, new VoteQuorumOptionsValidator())]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IQuorumPolicy, VoteQuorumPolicy>();
}
