using Microsoft.Extensions.Configuration;

namespace Cohort.Host.Configuration;

/// <summary>The committed cluster document a node holds (CCS), used instead of its bootstrap file.</summary>
/// <param name="Description">How errors name it: <c>&lt;state&gt;/ccs (version N)</c>.</param>
/// <param name="Document">Its bytes.</param>
internal sealed record CommittedDocument(string Description, ReadOnlyMemory<byte> Document);

/// <summary>
/// The configuration an agent runs with: node-local sources (node file, environment, command line)
/// and the cluster file, merged into one <see cref="Root"/> with <c>Node:*</c> and <c>Cluster:*</c> keys.
/// </summary>
internal sealed class CohortConfiguration
{
    private readonly IReadOnlyList<ConfigSource> _sources;

    public CohortConfiguration(IReadOnlyList<ConfigSource> sources, NodeOptions node, ClusterDocument? cluster)
    {
        _sources = sources;
        Node = node;
        Cluster = cluster;
        var builder = new ConfigurationBuilder();
        foreach (var source in sources)
        {
            builder.AddConfiguration(source.Root, shouldDisposeConfiguration: false);
        }

        Root = builder.Build();
    }

    public IConfigurationRoot Root { get; }

    public NodeOptions Node { get; }

    /// <summary>The cluster document, or null when the node has none (never quorate then).</summary>
    public ClusterDocument? Cluster { get; }

    public IReadOnlyList<ConfigSource> Sources => _sources;

    /// <summary>The source of the <c>Cluster:*</c> keys (the cluster document), or null.</summary>
    public ConfigSource? ClusterSource => Cluster is null ? null : _sources[^1];

    /// <summary>Names the source that set <paramref name="key"/> last (the one in effect).</summary>
    public string DescribeSource(string key)
    {
        for (var i = _sources.Count - 1; i >= 0; i--)
        {
            if (_sources[i].Root[key] is not null || _sources[i].Root.GetSection(key).GetChildren().Any())
            {
                return _sources[i].Description;
            }
        }

        return key.StartsWith("Cluster", StringComparison.OrdinalIgnoreCase) && Cluster is not null
            ? Cluster.Path
            : "defaults";
    }
}
