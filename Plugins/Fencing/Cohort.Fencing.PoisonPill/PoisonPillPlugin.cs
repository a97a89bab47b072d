using Cohort.Fencing.PoisonPill;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(PoisonPillPlugin))]

namespace Cohort.Fencing.PoisonPill;

/// <summary>The <c>poison-pill</c> fence agent plugin.</summary>
public sealed class PoisonPillPlugin : ICohortPlugin
{
    /// <summary>The agent's name in configuration (<c>Cluster:Fencing:Devices:NAME:Agent</c>).</summary>
    public const string Name = "poison-pill";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.FenceAgent, Name, typeof(PoisonPillPlugin).Assembly.GetName().Version!);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IFenceAgent>(sp => new PoisonPillFenceAgent(sp.GetService<TimeProvider>() ?? TimeProvider.System));
}
