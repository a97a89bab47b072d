using Cohort.Ccs;
using Cohort.ClusterConfiguration;
using Cohort.Cores;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(CcsPlugin))]

namespace Cohort.Ccs;

/// <summary>The <c>ccs</c> configuration-system plugin.</summary>
public sealed class CcsPlugin : ICohortPlugin
{
    /// <summary>The plugin's name.</summary>
    public const string Name = "ccs";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.ConfigurationSystem, Name, typeof(CcsPlugin).Assembly.GetName().Version!);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<IConfigurationSystem>(new CcsSystem());
}

/// <summary>The configuration system: decodes and seeds CCS records and creates <see cref="CcsCore"/>s.</summary>
/// <param name="mutant">A deliberately broken behaviour, for checker tests; <see cref="CcsMutant.None"/> in production.</param>
public sealed class CcsSystem(CcsMutant mutant = CcsMutant.None) : IConfigurationSystem
{
    /// <inheritdoc />
    public ConfigStoreContents Load(IReadOnlyDictionary<string, ReadOnlyMemory<byte>> records) => CcsCore.Load(records);

    /// <inheritdoc />
    public IReadOnlyList<PersistRecord> Seed(ConfigVersion first) => CcsCore.Seed(first);

    /// <inheritdoc />
    public IConfigurationCore CreateCore(ConfigCoreSetup setup) => new CcsCore(setup, mutant);
}
