using Cohort.Dlm;
using Cohort.Locking;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(DlmPlugin))]

namespace Cohort.Dlm;

/// <summary>The <c>dlm</c> lock-manager plugin.</summary>
public sealed class DlmPlugin : ICohortPlugin
{
    /// <summary>The plugin's name.</summary>
    public const string Name = "dlm";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.LockManager, Name, typeof(DlmPlugin).Assembly.GetName().Version!);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration) =>
        services.AddSingleton<ILockManager>(new DlmSystem());
}

/// <summary>The lock manager: creates <see cref="DlmCore"/>s.</summary>
/// <param name="mutant">A deliberately broken behaviour, for checker tests; <see cref="DlmMutant.None"/> in production.</param>
public sealed class DlmSystem(DlmMutant mutant = DlmMutant.None) : ILockManager
{
    /// <inheritdoc />
    public ILockManagerCore CreateCore(LockManagerSetup setup) => new DlmCore(setup, mutant);
}
