using System.Globalization;
using Cohort.Fencing;
using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Host.Configuration;

/// <summary>A fence device of the cluster document (<c>Cluster:Fencing:Devices:NAME</c>).</summary>
/// <param name="Name">Its name.</param>
/// <param name="Agent">The fence-agent plugin that drives it.</param>
/// <param name="Timeout">How long one operation may take before it counts as a timeout.</param>
/// <param name="Retries">How many times a failed operation is run again before the level fails.</param>
/// <param name="HostMap">What the device calls each node (its plug), by node name; a node not listed is called by its name.</param>
/// <param name="Path">The device's key path.</param>
/// <param name="Delay">Its fence-race delays (<c>DelayBase</c>, <c>DelayMax</c>), or null when it has none.</param>
internal sealed record FenceDeviceEntry(string Name, string Agent, TimeSpan Timeout, int Retries, IReadOnlyDictionary<string, string> HostMap, string Path, FenceDelay? Delay = null)
{
    /// <summary>What the device calls <paramref name="nodeName"/>.</summary>
    public string PlugOf(string nodeName) => HostMap.TryGetValue(nodeName, out var plug) ? plug : nodeName;
}

/// <summary>
/// The fencing section of the cluster document (<c>Cluster:Fencing</c>): the devices, each node's levels, the
/// action that fences, and how often devices are monitored.
/// </summary>
internal sealed class FencingConfig
{
    /// <summary>The keys of a device the host owns; every other key is its agent's.</summary>
    public static readonly IReadOnlySet<string> HostDeviceKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "Agent", "Timeout", "Retries", "HostMap", "DelayBase", "DelayMax" };

    /// <summary>The levels key that applies to every node without levels of its own.</summary>
    public const string AnyNode = "*";

    private static readonly HashSet<string> TopKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "Action", "MonitorInterval", "Devices", "Levels", "PriorityDelay", "Priority" };

    private FencingConfig(FenceAction action, TimeSpan monitorInterval, IReadOnlyDictionary<string, FenceDeviceEntry> devices, FencingTopology topology)
    {
        Action = action;
        MonitorInterval = monitorInterval;
        Devices = devices;
        Topology = topology;
    }

    /// <summary>No fencing configured.</summary>
    public static FencingConfig None { get; } = new(FenceAction.Off, TimeSpan.FromSeconds(60), new Dictionary<string, FenceDeviceEntry>(), FencingTopology.None);

    /// <summary><c>Cluster:Fencing:Action</c>: <c>off</c> (the default) or <c>reboot</c>.</summary>
    public FenceAction Action { get; }

    /// <summary><c>Cluster:Fencing:MonitorInterval</c> (seconds, default 60; 0 turns monitoring off).</summary>
    public TimeSpan MonitorInterval { get; }

    /// <summary>The devices by name (case-insensitive).</summary>
    public IReadOnlyDictionary<string, FenceDeviceEntry> Devices { get; }

    /// <summary>Each node's levels, as the orchestrator core takes them.</summary>
    public FencingTopology Topology { get; }

    /// <summary>Parses <paramref name="fencing"/> (the <c>Cluster:Fencing</c> section), reporting each problem.</summary>
    public static FencingConfig Parse(IConfigurationSection fencing, IReadOnlyList<ClusterNodeEntry> nodes, Action<string, string, string?> problem)
    {
        if (!fencing.Exists())
        {
            return None;
        }

        foreach (var child in fencing.GetChildren().Where(c => !TopKeys.Contains(c.Key)))
        {
            problem(child.Path, "no such key: Cluster:Fencing has " + string.Join(", ", TopKeys.Order(StringComparer.Ordinal)), child.Value);
        }

        var action = FenceAction.Off;
        switch (fencing["Action"])
        {
            case null or "off":
                break;
            case "reboot":
                action = FenceAction.Reboot;
                break;
            case var other:
                problem(fencing.Path + ":Action", "off or reboot", other);
                break;
        }

        var monitor = Seconds(fencing, "MonitorInterval", 0, 86_400, 60, "seconds from 0 (off) to 86400", problem, out _);

        var byName = nodes.ToDictionary(n => n.Name, StringComparer.OrdinalIgnoreCase);
        var devices = new Dictionary<string, FenceDeviceEntry>(StringComparer.OrdinalIgnoreCase);
        foreach (var device in fencing.GetSection("Devices").GetChildren())
        {
            if (ParseDevice(device, byName, problem) is { } entry)
            {
                devices[entry.Name] = entry;
            }
        }

        var levels = new Dictionary<NodeId, IReadOnlyList<IReadOnlyList<string>>>();
        IReadOnlyList<IReadOnlyList<string>>? anyNode = null;
        foreach (var node in fencing.GetSection("Levels").GetChildren())
        {
            var parsed = ParseLevels(node, devices, problem);
            if (node.Key == AnyNode)
            {
                anyNode = parsed;
            }
            else if (byName.TryGetValue(node.Key, out var entry))
            {
                levels[entry.Id] = parsed;
            }
            else
            {
                problem(node.Path, $"a node name of Cluster:Nodes ({string.Join(", ", nodes.Select(n => n.Name))}) or \"*\" for every other node", null);
            }
        }

        if (anyNode is not null)
        {
            foreach (var node in nodes)
            {
                levels.TryAdd(node.Id, anyNode);
            }
        }

        var priorityDelay = Seconds(fencing, "PriorityDelay", 0, 3600, 0, "seconds from 0 (off) to 3600", problem, out _);
        var priorities = new Dictionary<NodeId, int>();
        foreach (var entry in fencing.GetSection("Priority").GetChildren())
        {
            if (!byName.TryGetValue(entry.Key, out var node))
            {
                problem(entry.Path, $"a node name of Cluster:Nodes ({string.Join(", ", nodes.Select(n => n.Name))})", null);
            }
            else if (!int.TryParse(entry.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var priority) || priority is < 0 or > 1_000_000)
            {
                problem(entry.Path, "an integer from 0 to 1000000 (the node's fencing priority)", entry.Value);
            }
            else
            {
                priorities[node.Id] = priority;
            }
        }

        if (fencing["Priority"] is { Length: > 0 } flat)
        {
            problem(fencing.Path + ":Priority", "an object of node names and priorities: { \"node1\": 10 }", flat);
        }

        var topology = new FencingTopology(action, levels)
        {
            Delays = devices.Values.Where(d => d.Delay is not null).ToDictionary(d => d.Name, d => d.Delay!, StringComparer.OrdinalIgnoreCase),
            PriorityDelay = priorityDelay,
            Priorities = priorities,
            ClusterSize = nodes.Count,
        };
        return new FencingConfig(action, monitor, devices, topology);
    }

    /// <summary>A device's <c>DelayBase</c> (seconds, or an object of node names and seconds) and <c>DelayMax</c>.</summary>
    private static FenceDelay? ParseDelay(IConfigurationSection device, Dictionary<string, ClusterNodeEntry> nodes, Action<string, string, string?> problem, out bool valid)
    {
        const string Expected = "seconds from 0 to 3600";
        valid = true;
        var baseDelay = TimeSpan.Zero;
        var perNode = new Dictionary<NodeId, TimeSpan>();
        var section = device.GetSection("DelayBase");
        if (section.Value is not null)
        {
            baseDelay = Seconds(device, "DelayBase", 0, 3600, 0, Expected + ", or an object of node names and seconds: { \"node2\": 5 }", problem, out valid);
        }

        foreach (var entry in section.GetChildren())
        {
            if (!nodes.TryGetValue(entry.Key, out var node))
            {
                problem(entry.Path, $"a node name of Cluster:Nodes ({string.Join(", ", nodes.Keys)})", null);
                valid = false;
            }
            else
            {
                perNode[node.Id] = Seconds(section, entry.Key, 0, 3600, 0, Expected, problem, out var ok);
                valid &= ok;
            }
        }

        var max = Seconds(device, "DelayMax", 0, 3600, 0, Expected, problem, out var maxValid);
        valid &= maxValid;
        var largest = perNode.Values.Append(baseDelay).Max();
        if (max > TimeSpan.Zero && max < largest)
        {
            problem(device.Path + ":DelayMax", $"0 or at least the largest DelayBase ({largest.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s): DelayMax bounds the static and random delay together", device["DelayMax"]);
            valid = false;
        }

        return largest > TimeSpan.Zero || max > TimeSpan.Zero ? new FenceDelay(baseDelay, perNode, max) : null;
    }

    private static FenceDeviceEntry? ParseDevice(IConfigurationSection device, Dictionary<string, ClusterNodeEntry> nodes, Action<string, string, string?> problem)
    {
        var ok = true;
        if (!PluginNames.IsValid(device.Key))
        {
            problem(device.Path, "a device name of letters, digits, '-', '_' or '.'", device.Key);
            ok = false;
        }

        var agent = device["Agent"];
        if (agent is null || !PluginNames.IsValid(agent))
        {
            problem(device.Path + ":Agent", "the name of a fence-agent plugin (external, manual, script, process-group, ...)", agent);
            ok = false;
        }

        var timeout = Seconds(device, "Timeout", 0.1, 3600, 20, "seconds from 0.1 to 3600", problem, out var valid);
        ok &= valid;

        var retries = 0;
        if (device["Retries"] is { } rawRetries && (!int.TryParse(rawRetries, NumberStyles.None, CultureInfo.InvariantCulture, out retries) || retries > 10))
        {
            problem(device.Path + ":Retries", "an integer from 0 to 10", rawRetries);
            ok = false;
        }

        var hostMap = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in device.GetSection("HostMap").GetChildren())
        {
            if (!nodes.ContainsKey(entry.Key))
            {
                problem(entry.Path, $"a node name of Cluster:Nodes ({string.Join(", ", nodes.Keys)})", null);
                ok = false;
            }
            else if (string.IsNullOrEmpty(entry.Value))
            {
                problem(entry.Path, "what the device calls the node (its plug or port)", entry.Value);
                ok = false;
            }
            else
            {
                hostMap[entry.Key] = entry.Value;
            }
        }

        var delay = ParseDelay(device, nodes, problem, out var delayValid);
        ok &= delayValid;
        return ok ? new FenceDeviceEntry(device.Key, agent!, timeout, retries, hostMap, device.Path, delay) : null;
    }

    /// <summary>A node's levels: an array of levels, each an array of device names or one name.</summary>
    private static List<IReadOnlyList<string>> ParseLevels(IConfigurationSection node, Dictionary<string, FenceDeviceEntry> devices, Action<string, string, string?> problem)
    {
        var levels = new List<IReadOnlyList<string>>();
        foreach (var level in node.GetChildren().OrderBy(l => int.TryParse(l.Key, CultureInfo.InvariantCulture, out var i) ? i : int.MaxValue))
        {
            List<IConfigurationSection> names = level.Value is not null ? [level] : [.. level.GetChildren().OrderBy(d => int.TryParse(d.Key, CultureInfo.InvariantCulture, out var i) ? i : int.MaxValue)];
            var list = new List<string>();
            foreach (var name in names)
            {
                if (name.Value is { } device && devices.TryGetValue(device, out var entry))
                {
                    list.Add(entry.Name);
                }
                else
                {
                    problem(name.Path, $"the name of a device under Cluster:Fencing:Devices ({(devices.Count == 0 ? "none defined" : string.Join(", ", devices.Keys))})", name.Value);
                }
            }

            if (list.Count > 0)
            {
                levels.Add(list);
            }
        }

        if (node.Value is not null || !node.GetChildren().Any())
        {
            problem(node.Path, "an array of levels, each an array of device names: [[\"ipmi\"], [\"pdu1\", \"pdu2\"]]", node.Value);
        }

        return levels;
    }

    /// <summary>A duration in seconds from <paramref name="min"/> to <paramref name="max"/>, or the fallback (also when
    /// the value is wrong, which is reported and makes <paramref name="valid"/> false).</summary>
    private static TimeSpan Seconds(IConfigurationSection section, string key, double min, double max, double fallback, string expected, Action<string, string, string?> problem, out bool valid)
    {
        valid = true;
        if (section[key] is not { } raw)
        {
            return TimeSpan.FromSeconds(fallback);
        }

        if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= min && seconds <= max)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        problem(section.Path + ":" + key, expected, raw);
        valid = false;
        return TimeSpan.FromSeconds(fallback);
    }
}
