using Cohort.Plugins;
using Cohort.Transport.Tcp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

[assembly: CohortPlugin(typeof(TcpTransportPlugin))]

namespace Cohort.Transport.Tcp;

/// <summary>The <c>tcp</c> transport plugin.</summary>
public sealed class TcpTransportPlugin : ICohortPlugin
{
    /// <summary>The transport's name in configuration (<c>Node:Transport</c>).</summary>
    public const string Name = "tcp";

    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(
        PluginSlot.Transport,
        Name,
        typeof(TcpTransportPlugin).Assembly.GetName().Version!,
        [new PluginConfigSection(TcpTransportOptions.Section, new TcpTransportOptions.Validator())]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = TcpTransportOptions.From(configuration.GetSection(TcpTransportOptions.Section));
        services.AddSingleton<ITransport>(sp => new TcpTransport(
            options,
            sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetService<ILoggerFactory>()?.CreateLogger<TcpTransport>() ?? NullLogger<TcpTransport>.Instance));
    }
}
