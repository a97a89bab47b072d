using Cohort.ClusterConfiguration;
using Cohort.Fencing;
using Cohort.Host.Plugins;
using Cohort.Plugins;

namespace Cohort.Host.Configuration;

/// <summary>
/// Judges a whole cluster document as an agent would before using it: a JSON object, its core keys,
/// no key that neither the core nor a plugin knows, the policy and device plugins present, and every
/// plugin section by its plugin's validator. The same check runs at start-up, in <c>cohort config
/// validate</c>, before a proposal, and on every node before it accepts a proposed version.
/// </summary>
internal static class ClusterDocumentCheck
{
    /// <summary>Validates <paramref name="document"/>; every problem is reported at once.</summary>
    /// <param name="description">How errors name the document (a file, "proposed document").</param>
    /// <param name="document">The bare document's bytes.</param>
    /// <param name="catalog">The plugins whose validators and names count.</param>
    /// <param name="proposal">Whether it is proposed to CCS (then a <c>version</c> key is an error: CCS assigns versions).</param>
    /// <exception cref="CohortStartupException">The document has problems.</exception>
    public static ClusterDocument Validate(string description, ReadOnlyMemory<byte> document, PluginCatalog catalog, bool proposal = false)
    {
        var source = ConfigSource.Json(description, document, Directory.GetCurrentDirectory(), prefix: "Cluster");
        if (proposal && source.Root.GetSection("Cluster").GetChildren().FirstOrDefault(c => c.Key.Equals("version", StringComparison.OrdinalIgnoreCase)) is { } version)
        {
            throw new CohortStartupException(ConfigErrors.Format(description, version.Path,
                "no version key: CCS assigns versions (use --expect-version to apply only on top of a given one)", version.Value));
        }

        // Every problem at once: the core keys, unknown keys, then (when the core keys hold) the plugins.
        var problems = new List<string>();
        ClusterDocument? cluster = null;
        try
        {
            cluster = ClusterDocument.Parse(description, source.Root.GetSection("Cluster"), source.Bytes);
        }
        catch (CohortStartupException ex)
        {
            problems.AddRange(ex.Problems);
        }

        problems.AddRange(ConfigurationLoader.UnknownClusterKeys(source, catalog.OwnedSections));
        if (cluster is null)
        {
            throw new CohortStartupException(problems);
        }

        var configuration = new CohortConfiguration([source], new NodeOptions { Id = cluster.Nodes[0].Id.Value }, cluster);
        var selected = new HashSet<LoadedPlugin>();
        foreach (var (slot, name) in new[] { (PluginSlot.QuorumPolicy, (string?)cluster.QuorumPolicy), (PluginSlot.QuorumDevice, cluster.QuorumDevice) })
        {
            try
            {
                if (name is not null)
                {
                    selected.Add(catalog.Select(slot, name, description));
                }
            }
            catch (CohortStartupException ex)
            {
                problems.AddRange(ex.Problems);
            }
        }

        try
        {
            catalog.Validate(configuration, selected);
        }
        catch (CohortStartupException ex)
        {
            problems.AddRange(ex.Problems);
        }

        problems.AddRange(FencingProblems(configuration, cluster, catalog, selected));
        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }

        return cluster;
    }

    /// <summary>
    /// Judges every fence device by its agent: the agent plugin must exist, and its
    /// <see cref="IFenceAgent.Validate"/> must accept the device's options. The agents found are added to
    /// <paramref name="selected"/>.
    /// </summary>
    public static List<string> FencingProblems(CohortConfiguration configuration, ClusterDocument cluster, PluginCatalog catalog, ISet<LoadedPlugin> selected)
    {
        var problems = new List<string>();
        IReadOnlyList<Membership.ClusterNode> nodes = [.. cluster.Nodes.Select(n => n.ToClusterNode())];
        foreach (var device in cluster.Fencing.Devices.Values)
        {
            if (catalog.Find(PluginSlot.FenceAgent, device.Agent) is not { } plugin)
            {
                problems.Add(ConfigErrors.Format(configuration.DescribeSource(device.Path + ":Agent"), device.Path + ":Agent", catalog.Expected(PluginSlot.FenceAgent), device.Agent));
                continue;
            }

            try
            {
                selected.Add(plugin);
                var agent = catalog.Instance<IFenceAgent>(plugin, configuration.Root);
                var found = agent.Validate(configuration.Root.GetSection(device.Path), nodes).ToList();
                problems.AddRange(found.Select(p => ConfigErrors.Format(configuration.DescribeSource(p.Key), p.Key, p.Expected, p.Actual)));
            }
            catch (CohortStartupException ex)
            {
                problems.AddRange(ex.Problems);
            }
            catch (Exception ex)
            {
                problems.Add($"fence agent {device.Agent}: its validator for {device.Path} threw {ex.GetType().Name}: {ex.Message}");
            }
        }

        return problems;
    }

    /// <summary>The inspector CCS runs on every node: <see cref="Validate"/> as a pure function, remembered
    /// per document (by hash), so that the agent's own check before proposing and its core's checks judge
    /// a document once.</summary>
    public static ConfigDocumentInspector Inspector(PluginCatalog catalog)
    {
        var known = new System.Collections.Concurrent.ConcurrentDictionary<string, ConfigDocumentCheck>(StringComparer.Ordinal);
        return document =>
        {
            var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(document.Span));
            if (known.TryGetValue(sha, out var check))
            {
                return check;
            }

            try
            {
                var cluster = Validate("proposed document", document, catalog, proposal: true);
                check = new ConfigDocumentCheck([.. cluster.Nodes.Select(n => n.ToClusterNode())], []);
            }
            catch (CohortStartupException ex)
            {
                check = new ConfigDocumentCheck([], ex.Problems);
            }

            if (known.Count >= 64)
            {
                known.Clear();
            }

            known[sha] = check;
            return check;
        };
    }
}
