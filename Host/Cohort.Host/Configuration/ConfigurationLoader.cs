using System.Globalization;
using System.Reflection;
using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Host.Configuration;

/// <summary>
/// Reads an agent's configuration: the node file, <c>COHORT_</c> environment variables, the command
/// line, and the cluster file the node file names. Every problem is reported with its source, key path
/// and what was expected, all at once.
/// </summary>
internal static class ConfigurationLoader
{
    /// <summary>The environment variable prefix: <c>COHORT_Node__Id=3</c> sets <c>Node:Id</c>.</summary>
    public const string EnvironmentPrefix = "COHORT_";

    private static readonly string[] PathKeys = ["Bootstrap", "StateDirectory", "PluginDirectory", "AdminSocket", "KeyFile"];

    private static readonly IReadOnlyDictionary<string, PropertyInfo> NodeProperties =
        typeof(NodeOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Loads and validates node-local configuration and the cluster file's core keys.</summary>
    /// <param name="nodeFile">The node file (<c>--config</c>), or null.</param>
    /// <param name="commandLine">Configuration arguments such as <c>--Node:Id=3</c>.</param>
    /// <param name="environment">The environment variables to read; null reads the process's.</param>
    /// <param name="bootstrapOverride">A cluster file that replaces <c>Node:Bootstrap</c>.</param>
    public static CohortConfiguration Load(
        string? nodeFile,
        IReadOnlyList<string> commandLine,
        IReadOnlyDictionary<string, string>? environment = null,
        string? bootstrapOverride = null) =>
        WithCluster(LoadNode(nodeFile, commandLine, environment), bootstrapOverride, committed: null);

    /// <summary>Loads and validates node-local configuration only (no cluster document yet).</summary>
    /// <param name="nodeFile">The node file (<c>--config</c>), or null.</param>
    /// <param name="commandLine">Configuration arguments such as <c>--Node:Id=3</c>.</param>
    /// <param name="environment">The environment variables to read; null reads the process's.</param>
    public static CohortConfiguration LoadNode(
        string? nodeFile,
        IReadOnlyList<string> commandLine,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var sources = new List<ConfigSource>();
        if (nodeFile is not null)
        {
            var path = Path.GetFullPath(nodeFile);
            if (!File.Exists(path))
            {
                throw new CohortStartupException($"{path}: node file not found");
            }

            sources.Add(ConfigSource.JsonFile(path));
        }

        var cwd = Directory.GetCurrentDirectory();
        var envValues = (environment ?? ReadProcessEnvironment())
            .Where(kv => kv.Key.StartsWith(EnvironmentPrefix, StringComparison.Ordinal))
            .Select(kv => new KeyValuePair<string, string?>(kv.Key[EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), kv.Value));
        sources.Add(new ConfigSource("environment (COHORT_*)", new ConfigurationBuilder().AddInMemoryCollection(envValues).Build(), cwd, isFile: false));
        try
        {
            sources.Add(new ConfigSource("command line", new ConfigurationBuilder().AddCommandLine([.. commandLine]).Build(), cwd, isFile: false));
        }
        catch (FormatException ex)
        {
            throw new CohortStartupException($"command line: expected configuration arguments such as --Node:Id=3: {ex.Message}", ExitCodes.Usage);
        }

        var problems = new List<string>();
        var node = BindNode(sources, problems);
        ThrowIfAny(problems);
        return new CohortConfiguration(sources, node, null);
    }

    /// <summary>Adds the cluster document to node-local configuration: the committed one the node holds,
    /// else its bootstrap file (<c>Node:Bootstrap</c>, or <paramref name="bootstrapOverride"/>).</summary>
    /// <param name="local">Node-local configuration (<see cref="LoadNode"/>).</param>
    /// <param name="bootstrapOverride">A cluster file that replaces <c>Node:Bootstrap</c>.</param>
    /// <param name="committed">The committed cluster document the node holds (CCS), or null.</param>
    public static CohortConfiguration WithCluster(CohortConfiguration local, string? bootstrapOverride, CommittedDocument? committed)
    {
        var sources = local.Sources.ToList();
        var node = local.Node;
        var bootstrap = bootstrapOverride is null ? node.Bootstrap : Path.GetFullPath(bootstrapOverride);
        ClusterDocument? cluster = null;
        ConfigSource? clusterSource = null;
        if (committed is { } held)
        {
            clusterSource = ConfigSource.Json(held.Description, held.Document, node.StateDirectory, prefix: "Cluster");
        }
        else if (bootstrap is not null)
        {
            if (!File.Exists(bootstrap))
            {
                var setBy = bootstrapOverride is null ? DescribeLast(sources, "Node:Bootstrap") : "--bootstrap";
                throw new CohortStartupException(ConfigErrors.Format(setBy, "Node:Bootstrap", "an existing cluster file", bootstrap));
            }

            clusterSource = ConfigSource.JsonFile(bootstrap, prefix: "Cluster");
        }

        if (clusterSource is not null)
        {
            sources.Add(clusterSource);
            cluster = ClusterDocument.Parse(clusterSource.Description, clusterSource.Root.GetSection("Cluster"), clusterSource.Bytes);
            CheckLocalNodeListed(node, cluster, DescribeLast(sources, "Node:Id"));
            node.Name ??= cluster.Find(new NodeId(node.Id))!.Name;
        }

        node.Name ??= $"node{node.Id}";
        return new CohortConfiguration(sources, node, cluster);
    }

    /// <summary>
    /// Reports every key below <c>Cluster</c> that neither the core nor a plugin's owned section knows.
    /// Called once the plugins, and so their owned sections, are known.
    /// </summary>
    public static void CheckClusterKeys(CohortConfiguration configuration, IEnumerable<string> ownedSections)
    {
        if (configuration.Cluster is not null)
        {
            ThrowIfAny(UnknownClusterKeys(configuration.Sources[^1], ownedSections));
        }
    }

    /// <summary>The keys of a cluster document's <paramref name="source"/> that neither the core nor a
    /// plugin's owned section knows, one problem each.</summary>
    public static List<string> UnknownClusterKeys(ConfigSource source, IEnumerable<string> ownedSections)
    {
        var owned = ownedSections.ToList();
        var problems = new List<string>();
        foreach (var (key, _) in source.Leaves())
        {
            if (owned.Any(section => IsUnder(key, section)) || IsCoreClusterKey(key))
            {
                continue;
            }

            var known = key.StartsWith("Cluster:Nodes:", StringComparison.OrdinalIgnoreCase)
                ? "a node entry has " + string.Join(", ", ClusterDocument.NodeKeys.Order(StringComparer.Ordinal))
                : "the document knows " + string.Join(", ", ClusterDocument.CoreKeys.Select(k => "Cluster:" + k).Append("Cluster:Fencing").Append("Cluster:Dlm").Concat(owned).Select(ConfigErrors.Name).Order(StringComparer.Ordinal));
            problems.Add(ConfigErrors.Unknown(source.Description, key, known));
        }

        return problems;
    }

    private static bool IsCoreClusterKey(string key)
    {
        var parts = key.Split(':');
        if (parts.Length >= 2 && parts[1].Equals("Fencing", StringComparison.OrdinalIgnoreCase))
        {
            return true; // FencingConfig judges the section, its agents their devices' options
        }

        if (parts.Length >= 2 && parts[1].Equals("Dlm", StringComparison.OrdinalIgnoreCase))
        {
            return true; // DlmConfig judges the section
        }

        if (parts.Length >= 2 && parts[1].Equals("Nodes", StringComparison.OrdinalIgnoreCase))
        {
            return parts.Length == 4 && ClusterDocument.NodeKeys.Contains(parts[3]);
        }

        return ClusterDocument.CoreKeys.Contains(string.Join(':', parts.Skip(1)));
    }

    private static bool IsUnder(string key, string section) =>
        key.Equals(section, StringComparison.OrdinalIgnoreCase) ||
        key.StartsWith(section + ":", StringComparison.OrdinalIgnoreCase);

    private static NodeOptions BindNode(IReadOnlyList<ConfigSource> sources, List<string> problems)
    {
        var node = new NodeOptions();
        foreach (var source in sources)
        {
            var seeds = new SortedList<int, string>();
            foreach (var (key, value) in source.Leaves())
            {
                var parts = key.Split(':');
                var top = parts[0];
                if (IsSeedsKey(parts, out var index))
                {
                    // "Node:Seeds:N": an array element; "Node:Seeds": a comma-separated list (handy in the environment).
                    if (index >= 0)
                    {
                        seeds[index] = value;
                    }
                    else
                    {
                        foreach (var seed in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                        {
                            seeds[seeds.Count == 0 ? 0 : seeds.Keys[^1] + 1] = seed;
                        }
                    }

                    continue;
                }

                if (top.Equals("Cluster", StringComparison.OrdinalIgnoreCase))
                {
                    problems.Add($"{source.Description}: {key}: cluster-wide keys belong in the cluster document (its first version is the file Node:Bootstrap names; change it with `cohort config apply`), not in node-local configuration");
                }
                else if (top.Equals(NodeOptions.Section, StringComparison.OrdinalIgnoreCase))
                {
                    if (parts.Length != 2 || !NodeProperties.TryGetValue(parts[1], out var property))
                    {
                        problems.Add(ConfigErrors.Unknown(source.Description, key,
                            "Node has " + string.Join(", ", NodeProperties.Keys.Order(StringComparer.Ordinal))));
                        continue;
                    }

                    Assign(node, property, value, source, key, problems);
                }
                else if (source.IsFile && !top.Equals("Logging", StringComparison.OrdinalIgnoreCase))
                {
                    problems.Add(ConfigErrors.Unknown(source.Description, key, "a node file holds the sections Node and Logging"));
                }
            }

            if (seeds.Count > 0)
            {
                node.Seeds = [.. seeds.Values]; // a later source replaces the list of an earlier one
            }
        }

        // Semantic checks only once every key parsed: a value that did not parse would be reported twice.
        var result = problems.Count > 0 ? Microsoft.Extensions.Options.ValidateOptionsResult.Skip : new NodeOptionsValidator().Validate(null, node);
        if (result.Failed)
        {
            foreach (var failure in result.Failures)
            {
                var key = failure[..failure.IndexOf(": ", StringComparison.Ordinal)];
                problems.Add($"{DescribeLast(sources, key)}: {failure}");
            }
        }

        return node;
    }

    private static bool IsSeedsKey(string[] parts, out int index)
    {
        index = -1;
        return parts.Length is 2 or 3
            && parts[0].Equals(NodeOptions.Section, StringComparison.OrdinalIgnoreCase)
            && parts[1].Equals(nameof(NodeOptions.Seeds), StringComparison.OrdinalIgnoreCase)
            && (parts.Length == 2 || int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out index));
    }

    private static void Assign(NodeOptions node, PropertyInfo property, string value, ConfigSource source, string key, List<string> problems)
    {
        if (property.PropertyType == typeof(bool))
        {
            if (bool.TryParse(value, out var flag))
            {
                property.SetValue(node, flag);
            }
            else
            {
                problems.Add(ConfigErrors.Format(source.Description, key, "true or false", value));
            }

            return;
        }

        if (property.PropertyType == typeof(int))
        {
            if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number))
            {
                property.SetValue(node, number);
            }
            else
            {
                problems.Add(ConfigErrors.Format(source.Description, key, "an integer", value));
            }

            return;
        }

        if (PathKeys.Contains(property.Name) && value.Length > 0)
        {
            value = Path.GetFullPath(value, source.BaseDirectory);
        }

        property.SetValue(node, value);
    }

    private static void CheckLocalNodeListed(NodeOptions node, ClusterDocument cluster, string idSource)
    {
        var entry = cluster.Find(new NodeId(node.Id));
        if (entry is null)
        {
            throw new CohortStartupException(ConfigErrors.Format(cluster.Path, "Cluster:Nodes",
                $"an entry for this node (Node:Id {node.Id}, set in {idSource}); listed ids: {string.Join(", ", cluster.Nodes.Select(n => n.Id))}"));
        }

        if (node.Name is not null && !node.Name.Equals(entry.Name, StringComparison.Ordinal))
        {
            throw new CohortStartupException(ConfigErrors.Format(cluster.Path, "Cluster:Nodes",
                $"node {node.Id} to be named \"{node.Name}\" as Node:Name says", entry.Name));
        }
    }

    private static string DescribeLast(IReadOnlyList<ConfigSource> sources, string key)
    {
        // An element of a list given as one comma-separated value lives under the list's own key.
        var list = IsSeedsKey(key.Split(':'), out _) ? "Node:Seeds" : key;
        for (var i = sources.Count - 1; i >= 0; i--)
        {
            if (sources[i].Root[key] is not null || sources[i].Root[list] is { Length: > 0 })
            {
                return sources[i].Description;
            }
        }

        return "defaults";
    }

    private static Dictionary<string, string> ReadProcessEnvironment()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            result[(string)entry.Key] = entry.Value as string ?? "";
        }

        return result;
    }

    private static void ThrowIfAny(List<string> problems)
    {
        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }
    }
}
