using Cohort.Fencing.ProcessGroup;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(ProcessGroupPlugin))]

namespace Cohort.Fencing.ProcessGroup;

/// <summary>The <c>process-group</c> fence agent plugin.</summary>
public sealed class ProcessGroupPlugin : ICohortPlugin
{
    /// <summary>The agent's name in configuration (<c>Cluster:Fencing:Devices:NAME:Agent</c>).</summary>
    public const string Name = "process-group";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.FenceAgent, Name, typeof(ProcessGroupPlugin).Assembly.GetName().Version!);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IFenceAgent, ProcessGroupFenceAgent>();
}
