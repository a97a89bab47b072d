using Cohort.Plugins;
using Cohort.Quorum.WitnessFile;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

[assembly: CohortPlugin(typeof(WitnessFilePlugin))]

namespace Cohort.Quorum.WitnessFile;

/// <summary>The <c>witness-file</c> quorum device plugin.</summary>
public sealed class WitnessFilePlugin : ICohortPlugin
{
    /// <summary>The device's name in configuration (<c>Cluster:Quorum:Device</c>).</summary>
    public const string Name = "witness-file";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(
        PluginSlot.QuorumDevice,
        Name,
        typeof(WitnessFilePlugin).Assembly.GetName().Version!,
        [new PluginConfigSection(WitnessFileOptions.Section, new WitnessFileOptions.Validator())]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = WitnessFileOptions.From(configuration.GetSection(WitnessFileOptions.Section));
        services.AddSingleton<IQuorumDevice>(sp => new WitnessFileDevice(
            options,
            sp.GetService<ILoggerFactory>()?.CreateLogger<WitnessFileDevice>() ?? NullLogger<WitnessFileDevice>.Instance));
    }
}
