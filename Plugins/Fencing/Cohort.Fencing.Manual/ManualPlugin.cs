using Cohort.Fencing.Manual;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

[assembly: CohortPlugin(typeof(ManualPlugin))]

namespace Cohort.Fencing.Manual;

/// <summary>The <c>manual</c> fence agent plugin.</summary>
public sealed class ManualPlugin : ICohortPlugin
{
    /// <summary>The agent's name in configuration (<c>Cluster:Fencing:Devices:NAME:Agent</c>).</summary>
    public const string Name = "manual";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.FenceAgent, Name, typeof(ManualPlugin).Assembly.GetName().Version!);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IFenceAgent>(sp => new ManualFenceAgent(
            sp.GetService<ILoggerFactory>()?.CreateLogger<ManualFenceAgent>() ?? NullLogger<ManualFenceAgent>.Instance));
}
