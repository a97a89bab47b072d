using System.Globalization;
using Cohort.Fencing.Agents;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.PoisonPill;

/// <summary>The options of a <c>poison-pill</c> device.</summary>
/// <param name="Path"><c>Path</c>: the shared file or block device (absolute).</param>
/// <param name="Timing"><c>WatchdogTimeout</c> (seconds) and <c>MessageWait</c> (seconds).</param>
internal sealed record PoisonPillOptions(string Path, SelfFenceTiming Timing)
{
    /// <summary>The agent's own keys.</summary>
    public static readonly string[] Keys = ["Path", "WatchdogTimeout", "MessageWait"];

    /// <value>5 seconds.</value>
    public static readonly TimeSpan DefaultWatchdogTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The host's default of a device's <c>Timeout</c>.</summary>
    private const double HostDefaultTimeout = 20;

    private const double MinSeconds = 0.1;
    private const double MaxWatchdogSeconds = 600;
    private const double MaxMessageWaitSeconds = 1200;

    /// <summary>The options of a validated device (<see cref="Validate"/> found nothing).</summary>
    public static PoisonPillOptions From(IConfiguration device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var watchdog = Seconds(device["WatchdogTimeout"]) ?? DefaultWatchdogTimeout;
        var messageWait = Seconds(device["MessageWait"]) ?? watchdog;
        return new PoisonPillOptions(device["Path"] ?? "", new SelfFenceTiming(watchdog, messageWait));
    }

    /// <summary>Every problem of a device's options, by full key path; no IO.</summary>
    public static IEnumerable<ConfigProblem> Validate(IConfigurationSection device, IReadOnlyList<ClusterNode> nodes)
    {
        foreach (var unknown in DeviceKeys.Unknown(device, PoisonPillPlugin.Name, Keys))
        {
            yield return unknown;
        }

        foreach (var key in Keys)
        {
            if (DeviceKeys.NotAString(device, key, key == "Path" ? "an absolute path" : "seconds") is { } problem)
            {
                yield return problem;
            }
        }

        var path = device["Path"];
        if (string.IsNullOrEmpty(path) || !System.IO.Path.IsPathRooted(path))
        {
            yield return new ConfigProblem(DeviceKeys.PathOf(device, "Path"), "the absolute path of the shared file or block device holding the slots", path);
        }

        var watchdog = Check(device, "WatchdogTimeout", MaxWatchdogSeconds, out var watchdogProblem);
        if (watchdogProblem is not null)
        {
            yield return watchdogProblem;
        }

        var messageWait = Check(device, "MessageWait", MaxMessageWaitSeconds, out var messageWaitProblem);
        if (messageWaitProblem is not null)
        {
            yield return messageWaitProblem;
        }

        if (watchdogProblem is null && messageWaitProblem is null)
        {
            var timing = new SelfFenceTiming(watchdog ?? DefaultWatchdogTimeout, messageWait ?? watchdog ?? DefaultWatchdogTimeout);
            var raw = device["Timeout"];
            var timeout = raw is not null && double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ? seconds : HostDefaultTimeout;
            if (timeout <= timing.SafeWait.TotalSeconds)
            {
                yield return new ConfigProblem(
                    DeviceKeys.PathOf(device, "Timeout"),
                    $"more than 2 × WatchdogTimeout + MessageWait = {Spell(timing.SafeWait)} s, the wait before off succeeds (the host's default is {HostDefaultTimeout} s)",
                    raw ?? $"{HostDefaultTimeout} (the default)");
            }
        }

        foreach (var node in nodes.Where(n => n.Id.Value <= 0 || n.Id.Value >= PillLayout.SlotCount))
        {
            yield return new ConfigProblem(
                DeviceKeys.PathOf(device, "Path"),
                $"a device with a slot for every node: it has slots for node ids 1 to {PillLayout.SlotCount - 1}",
                $"node {node.Name} has id {node.Id.Value}");
        }
    }

    private static TimeSpan? Check(IConfigurationSection device, string key, double max, out ConfigProblem? problem)
    {
        problem = null;
        if (device[key] is not { } raw)
        {
            return null;
        }

        if (Seconds(raw) is { } value && value.TotalSeconds >= MinSeconds && value.TotalSeconds <= max)
        {
            return value;
        }

        problem = new ConfigProblem(DeviceKeys.PathOf(device, key), $"seconds from {MinSeconds} to {max}", raw);
        return null;
    }

    private static TimeSpan? Seconds(string? raw) =>
        raw is not null && double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && double.IsFinite(seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;

    /// <summary>Seconds as the messages spell them.</summary>
    public static string Spell(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
}
