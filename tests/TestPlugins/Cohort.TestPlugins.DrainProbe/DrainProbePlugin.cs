using Cohort.Fencing;
using Cohort.Membership;
using Cohort.Plugins;
using Cohort.Quorum;
using Cohort.TestPlugins.DrainProbe;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

[assembly: CohortPlugin(typeof(DrainProbePlugin))]

namespace Cohort.TestPlugins.DrainProbe;

/// <summary>
/// A quorum policy ("drain-probe", always quorate) whose plugin also registers a drain hook and a
/// quorum listener, as a service would: with <c>Cluster:Quorum:DrainProbe:Marker</c> set the hook
/// writes that file when called; with <c>Hang</c> true it never returns; with <c>QuorumLog</c> set
/// the listener appends one line per change to that file.
/// </summary>
public sealed class DrainProbePlugin : ICohortPlugin
{
    /// <inheritdoc />
    public PluginManifest Manifest { get; } = new(PluginSlot.QuorumPolicy, "drain-probe", new Version(1, 0), [new PluginConfigSection("Cluster:Quorum:DrainProbe")]);

    /// <inheritdoc />
    public void Register(IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<IQuorumPolicy, AlwaysQuorate>();
        // The fencing gate is the host's: a plugin's services get it from the plugin's scope like any host service.
        services.AddSingleton<IDrainHook>(sp => new ProbeHook(configuration["Cluster:Quorum:DrainProbe:Marker"], configuration["Cluster:Quorum:DrainProbe:Hang"] == "true", sp.GetService<IFencingGate>()));
        if (configuration["Cluster:Quorum:DrainProbe:QuorumLog"] is { } log)
        {
            services.AddSingleton<IQuorumListener>(new QuorumLog(log));
        }
    }
}

/// <summary>Appends "quorate:{Quorate} {Policy}" per change.</summary>
public sealed class QuorumLog(string path) : IQuorumListener
{
    /// <inheritdoc />
    public void QuorumChanged(QuorumChange change) => File.AppendAllText(path, $"quorate:{change.Quorate} {change.Policy}\n");
}

/// <summary>Quorate, always.</summary>
public sealed class AlwaysQuorate : IQuorumPolicy
{
    /// <inheritdoc />
    public QuorumDecision Decide(QuorumContext context) => QuorumDecision.Quorate(1, 1, "always");
}

/// <summary>Records that it was called, and whether it was given the fencing gate; hangs if told to.</summary>
public sealed class ProbeHook(string? marker, bool hang, IFencingGate? gate) : IDrainHook
{
    /// <inheritdoc />
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        if (marker is not null)
        {
            var unknown = new NodeIncarnation(new NodeId(99), 1);
            await File.WriteAllTextAsync(marker, gate is null ? "drained; no fencing gate" : $"drained; fencing gate of {unknown} open: {gate.IsOpen(unknown)}", CancellationToken.None);
        }

        if (hang)
        {
            await Task.Delay(Timeout.Infinite, CancellationToken.None);
        }
    }
}
