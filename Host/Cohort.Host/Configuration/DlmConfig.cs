using System.Globalization;
using Cohort.Locking;
using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Host.Configuration;

/// <summary>
/// The lock manager's keys of the cluster document (<c>Cluster:Dlm</c>): each node's share of the resource
/// directory and how long a master keeps a resource nobody holds. Every node reads the same document, so every
/// node places resources alike.
/// </summary>
internal sealed class DlmConfig
{
    /// <summary>The largest directory weight a node may have.</summary>
    public const int MaxWeight = 1000;

    /// <summary>The longest <c>Cluster:Dlm:CacheTime</c>, in seconds.</summary>
    public const double MaxCacheSeconds = 3600;

    private static readonly HashSet<string> TopKeys = new(StringComparer.OrdinalIgnoreCase) { "Weight", "CacheTime" };

    private DlmConfig(IReadOnlyDictionary<NodeId, int> weights, TimeSpan cacheTime)
    {
        Weights = weights;
        CacheTime = cacheTime;
    }

    /// <summary>Nothing configured: every node weight 1, the default cache time.</summary>
    public static DlmConfig None { get; } = new(new Dictionary<NodeId, int>(), LockManagerSetup.DefaultCacheTime);

    /// <summary><c>Cluster:Dlm:Weight:NODE</c> by node id: each node's share of the directory (default 1; 0: never a
    /// directory node). Nodes not listed are absent.</summary>
    public IReadOnlyDictionary<NodeId, int> Weights { get; }

    /// <summary><c>Cluster:Dlm:CacheTime</c> (seconds, default <see cref="LockManagerSetup.DefaultCacheTime"/>).</summary>
    public TimeSpan CacheTime { get; }

    /// <summary>The lock-manager core's setup.</summary>
    public LockManagerSetup Setup => new(Weights, CacheTime);

    /// <summary>Parses <paramref name="dlm"/> (the <c>Cluster:Dlm</c> section), reporting each problem.</summary>
    public static DlmConfig Parse(IConfigurationSection dlm, IReadOnlyList<ClusterNodeEntry> nodes, Action<string, string, string?> problem)
    {
        if (!dlm.Exists())
        {
            return None;
        }

        if (dlm.Value is not null)
        {
            problem(dlm.Path, "an object with Weight and CacheTime", dlm.Value);
            return None;
        }

        foreach (var child in dlm.GetChildren().Where(c => !TopKeys.Contains(c.Key)))
        {
            problem(child.Path, "no such key: Cluster:Dlm has " + string.Join(", ", TopKeys.Order(StringComparer.Ordinal)), child.Value);
        }

        var cacheTime = LockManagerSetup.DefaultCacheTime;
        if (dlm["CacheTime"] is { } raw)
        {
            if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0 && seconds <= MaxCacheSeconds)
            {
                cacheTime = TimeSpan.FromSeconds(seconds);
            }
            else
            {
                problem(dlm.Path + ":CacheTime", $"seconds above 0, at most {MaxCacheSeconds:0}", raw);
            }
        }

        var byName = nodes.ToDictionary(n => n.Name, StringComparer.OrdinalIgnoreCase);
        var weights = new Dictionary<NodeId, int>();
        var weight = dlm.GetSection("Weight");
        if (weight.Value is not null)
        {
            problem(weight.Path, "an object of weights by node name, such as { \"node1\": 2, \"node3\": 0 }", weight.Value);
        }

        foreach (var entry in weight.GetChildren())
        {
            if (!byName.TryGetValue(entry.Key, out var node))
            {
                problem(entry.Path, $"a node name of Cluster:Nodes ({string.Join(", ", nodes.Select(n => n.Name))})", null);
                continue;
            }

            if (entry.Value is { } value && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var w) && w <= MaxWeight)
            {
                weights[node.Id] = w;
            }
            else
            {
                problem(entry.Path, $"an integer from 0 (never a directory node) to {MaxWeight}", entry.Value);
            }
        }

        if (nodes.Count > 0 && nodes.All(n => weights.TryGetValue(n.Id, out var w) && w == 0))
        {
            problem(weight.Path, "at least one node with a weight above 0 (a lockspace needs a directory node)", null);
        }

        return new DlmConfig(weights, cacheTime);
    }
}
