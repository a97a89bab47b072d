using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.Conformance;

/// <summary>Device sections for tests, built the way the host hands them to an agent.</summary>
public static class FenceDevices
{
    /// <summary>The section <c>Cluster:Fencing:Devices:<paramref name="device"/></c>, with <c>Agent</c> and
    /// <c>Timeout</c> set as the host would and <paramref name="keys"/> (relative, <c>:</c>-separated) added; a null
    /// value leaves a key out.</summary>
    public static IConfigurationSection Section(string device, string agent, params (string Key, string? Value)[] keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var path = $"Cluster:Fencing:Devices:{device}";
        var all = new Dictionary<string, string?> { [path + ":Agent"] = agent, [path + ":Timeout"] = "30" };
        foreach (var (key, value) in keys)
        {
            all[$"{path}:{key}"] = value;
        }

        return new ConfigurationBuilder().AddInMemoryCollection(all).Build().GetSection(path);
    }
}
