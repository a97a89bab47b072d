using Cohort.Fencing.Script;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(ScriptPlugin))]

namespace Cohort.Fencing.Script;

/// <summary>The <c>script</c> fence agent plugin.</summary>
public sealed class ScriptPlugin : ICohortPlugin
{
    /// <summary>The agent's name in configuration (<c>Cluster:Fencing:Devices:NAME:Agent</c>).</summary>
    public const string Name = "script";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.FenceAgent, Name, typeof(ScriptPlugin).Assembly.GetName().Version!);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IFenceAgent, ScriptFenceAgent>();
}
