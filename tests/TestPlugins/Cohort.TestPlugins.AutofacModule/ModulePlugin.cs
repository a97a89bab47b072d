using Autofac;
using Cohort.Plugins;
using Cohort.Quorum;
using Cohort.TestPlugins.AutofacModule;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(ModulePlugin))]

namespace Cohort.TestPlugins.AutofacModule;

/// <summary>A plugin that registers its policy only through an Autofac module.</summary>
public sealed class ModulePlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.QuorumPolicy, "module-registered", new Version(1, 0));

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
    }
}

/// <summary>Registers the policy.</summary>
public sealed class PolicyModule : Module
{
    /// <inheritdoc />
    protected override void Load(ContainerBuilder builder) =>
        builder.RegisterType<AlwaysQuorate>().As<IQuorumPolicy>().SingleInstance();
}

/// <summary>Quorate, always.</summary>
public sealed class AlwaysQuorate : IQuorumPolicy
{
    /// <inheritdoc />
    public QuorumDecision Decide(QuorumContext context) => QuorumDecision.Quorate(1, 1, "always");
}
