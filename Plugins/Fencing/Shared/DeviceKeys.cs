using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.Agents;

/// <summary>The keys of a device section (<c>Cluster:Fencing:Devices:NAME</c>) and the checks every agent makes
/// of its own.</summary>
internal static class DeviceKeys
{
    /// <summary>The keys the host owns and checks itself; an agent ignores them.</summary>
    public static readonly string[] HostOwned = ["Agent", "Timeout", "HostMap", "Retries", "DelayBase", "DelayMax"];

    /// <summary>One problem for each key of <paramref name="device"/> that is neither the host's nor one of
    /// <paramref name="known"/>, naming the agent's keys (or saying it has none).</summary>
    public static IEnumerable<ConfigProblem> Unknown(IConfiguration device, string agent, params string[] known)
    {
        var expected = known.Length == 0
            ? $"no such key: {agent} takes no options of its own (the host's are {string.Join(", ", HostOwned)})"
            : $"one of {string.Join(", ", known)} ({agent}), or the host's {string.Join(", ", HostOwned)}";
        return device.GetChildren()
            .Where(c => !HostOwned.Contains(c.Key, StringComparer.OrdinalIgnoreCase) && !known.Contains(c.Key, StringComparer.OrdinalIgnoreCase))
            .Select(c => new ConfigProblem(c.Path, expected, c.Value));
    }

    /// <summary>A problem when <paramref name="key"/> is present but not a single value (it has children).</summary>
    public static ConfigProblem? NotAString(IConfiguration device, string key, string expected)
    {
        var section = device.GetSection(key);
        return section.GetChildren().Any() ? new ConfigProblem(section.Path, expected, "an object or array") : null;
    }

    /// <summary>The full path of <paramref name="key"/> under <paramref name="device"/>.</summary>
    public static string PathOf(IConfiguration device, string key) => device.GetSection(key).Path;

    /// <summary>The problem of a request that names no target, for actions that need one.</summary>
    public static FenceOutcome? NoTarget(FenceRequest request) =>
        request.Target is null || request.TargetName is null
            ? FenceOutcome.Failed($"{request.Action.ToString().ToLowerInvariant()} needs a target node; the request named none")
            : null;
}
