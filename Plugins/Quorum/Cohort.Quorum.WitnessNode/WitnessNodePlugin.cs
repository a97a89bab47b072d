using Cohort.Plugins;
using Cohort.Quorum.WitnessNode;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

[assembly: CohortPlugin(typeof(WitnessNodePlugin))]

namespace Cohort.Quorum.WitnessNode;

/// <summary>The <c>witness-node</c> quorum device plugin.</summary>
public sealed class WitnessNodePlugin : ICohortPlugin
{
    /// <summary>The device's name in configuration (<c>Cluster:Quorum:Device</c>).</summary>
    public const string Name = "witness-node";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(
        PluginSlot.QuorumDevice,
        Name,
        typeof(WitnessNodePlugin).Assembly.GetName().Version!,
        [new PluginConfigSection(WitnessNodeOptions.Section, new WitnessNodeOptions.Validator())]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = WitnessNodeOptions.From(configuration.GetSection(WitnessNodeOptions.Section));
        services.AddSingleton<IQuorumDevice>(sp => new WitnessNodeDevice(
            options,
            sp.GetService<ILoggerFactory>()?.CreateLogger<WitnessNodeDevice>() ?? NullLogger<WitnessNodeDevice>.Instance));
    }
}
