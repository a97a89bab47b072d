using Cohort.Fencing.External;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(ExternalPlugin))]

namespace Cohort.Fencing.External;

/// <summary>The <c>external</c> fence agent plugin.</summary>
public sealed class ExternalPlugin : ICohortPlugin
{
    /// <summary>The agent's name in configuration (<c>Cluster:Fencing:Devices:NAME:Agent</c>).</summary>
    public const string Name = "external";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.FenceAgent, Name, typeof(ExternalPlugin).Assembly.GetName().Version!);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IFenceAgent, ExternalFenceAgent>();
}
