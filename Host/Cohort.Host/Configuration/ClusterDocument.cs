using System.Globalization;
using System.Security.Cryptography;
using Cohort.Membership;
using Cohort.Quorum;
using Microsoft.Extensions.Configuration;

namespace Cohort.Host.Configuration;

/// <summary>A node entry of the cluster document.</summary>
internal sealed record ClusterNodeEntry(NodeId Id, string Name, int Votes, string? Address)
{
    public ClusterNode ToClusterNode() => new(Id, Name, Votes);
}

/// <summary>
/// The cluster-wide document, read from the cluster file named by <c>Node:Bootstrap</c>. Its keys are
/// exposed as <c>Cluster:*</c>.
/// </summary>
internal sealed class ClusterDocument
{
    /// <summary>The default of <c>Cluster:Quorum:Policy</c>.</summary>
    public const string DefaultQuorumPolicy = "votequorum";

    /// <summary>The core keys of the document below <c>Cluster</c>; plugins own further sections, and
    /// <c>Cluster:Fencing</c> and <c>Cluster:Dlm</c> are judged as wholes by <see cref="FencingConfig"/> and
    /// <see cref="DlmConfig"/>.</summary>
    internal static readonly IReadOnlySet<string> CoreKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "Name", "Description", "Nodes", "Quorum:Policy", "Quorum:NoQuorumPolicy", "Quorum:Device", "Quorum:DeviceVotes",
        "Membership:HeartbeatInterval", "Membership:FailureTimeout", "Membership:QuorumLease", "Membership:ClockDriftBound",
    };

    internal static readonly IReadOnlySet<string> NodeKeys = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "Id", "Name", "Votes", "Address",
    };

    private ClusterDocument(string path, string name, string description, IReadOnlyList<ClusterNodeEntry> nodes, string quorumPolicy, string sha256, byte[] bytes)
    {
        Path = path;
        Bytes = bytes;
        Name = name;
        Description = description;
        Nodes = nodes;
        QuorumPolicy = quorumPolicy;
        Sha256 = sha256;
    }

    /// <summary>Where it was read from, as errors name it: the cluster file, or the committed version in
    /// the state directory.</summary>
    public string Path { get; }

    /// <summary>The document's bytes (what CCS commits and hashes).</summary>
    public byte[] Bytes { get; }

    /// <summary><c>Cluster:Name</c>, default <c>cohort</c>.</summary>
    public string Name { get; }

    /// <summary><c>Cluster:Description</c>, default empty; free text with no effect.</summary>
    public string Description { get; }

    /// <summary><c>Cluster:Nodes</c>, sorted by id.</summary>
    public IReadOnlyList<ClusterNodeEntry> Nodes { get; }

    /// <summary><c>Cluster:Quorum:Policy</c>, default <c>votequorum</c>.</summary>
    public string QuorumPolicy { get; }

    /// <summary><c>Cluster:Quorum:Device</c>: the quorum device plugin, or null (the default) for none.</summary>
    public string? QuorumDevice { get; private init; }

    /// <summary><c>Cluster:Quorum:DeviceVotes</c>: the votes the quorum device carries, default 1.</summary>
    public int DeviceVotes { get; private init; } = 1;

    /// <summary><c>Cluster:Quorum:NoQuorumPolicy</c>, default <c>stop</c>.</summary>
    public NoQuorumPolicy NoQuorumPolicy { get; private init; }

    /// <summary>The values of <c>Cluster:Quorum:NoQuorumPolicy</c>, as configuration spells them.</summary>
    internal static readonly IReadOnlyDictionary<string, NoQuorumPolicy> NoQuorumPolicies = new Dictionary<string, NoQuorumPolicy>(StringComparer.OrdinalIgnoreCase)
    {
        ["stop"] = NoQuorumPolicy.Stop,
        ["freeze"] = NoQuorumPolicy.Freeze,
        ["ignore"] = NoQuorumPolicy.Ignore,
        ["self-fence"] = NoQuorumPolicy.SelfFence,
    };

    /// <summary>How configuration spells a no-quorum policy.</summary>
    public static string Spell(NoQuorumPolicy policy) => NoQuorumPolicies.First(p => p.Value == policy).Key;

    /// <summary>SHA-256 of the file's bytes, lower-case hex.</summary>
    public string Sha256 { get; }

    /// <summary>The fencing devices and levels (<c>Cluster:Fencing</c>).</summary>
    public FencingConfig Fencing { get; private init; } = FencingConfig.None;

    /// <summary>The lock manager's directory weights and cache time (<c>Cluster:Dlm</c>).</summary>
    public DlmConfig Dlm { get; private init; } = DlmConfig.None;

    /// <summary>The membership timings (<c>Cluster:Membership</c>).</summary>
    public MembershipOptions Membership { get; private init; } = new();

    public ClusterNodeEntry? Find(NodeId id) => Nodes.FirstOrDefault(n => n.Id == id);

    /// <summary>Parses and validates the core keys of the document in <paramref name="cluster"/>
    /// (the <c>Cluster</c> section), reporting every problem against <paramref name="path"/>.</summary>
    /// <param name="path">The file, as errors name it.</param>
    /// <param name="cluster">The <c>Cluster</c> section.</param>
    /// <param name="contents">What to hash when the document is not a file (a generated one); null reads <paramref name="path"/>.</param>
    public static ClusterDocument Parse(string path, IConfigurationSection cluster, byte[]? contents = null)
    {
        var problems = new List<string>();
        void Problem(string key, string expected, string? actual = null) =>
            problems.Add(ConfigErrors.Format(path, key, expected, actual));

        var name = cluster["Name"] ?? "cohort";
        if (!PluginNames.IsValid(name))
        {
            Problem("Cluster:Name", "letters, digits, '-', '_' or '.'", name);
        }

        var nodes = new List<ClusterNodeEntry>();
        var nodeSections = cluster.GetSection("Nodes").GetChildren().ToList();
        if (nodeSections.Count == 0)
        {
            Problem("Cluster:Nodes", "an array of nodes, each with Id and Name");
        }

        foreach (var section in nodeSections)
        {
            var key = section.Path;
            if (!int.TryParse(section.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                Problem(key, "an element of the Nodes array (Nodes must be a JSON array)");
                continue;
            }

            var id = ReadInt(section, "Id", min: 1, max: int.MaxValue, fallback: null, Problem);
            var votes = ReadInt(section, "Votes", min: 0, max: 1_000_000, fallback: 1, Problem);
            var nodeName = section["Name"];
            if (nodeName is null || !PluginNames.IsValid(nodeName))
            {
                Problem($"{key}:Name", "a node name of letters, digits, '-', '_' or '.'", nodeName);
            }

            if (section["Address"] is { } address && !HostPort.IsValid(address, allowAnyPort: false))
            {
                Problem($"{key}:Address", "host:port, such as 127.0.0.1:7401", address);
            }

            if (id is { } nodeId && votes is { } nodeVotes && nodeName is not null)
            {
                nodes.Add(new ClusterNodeEntry(new NodeId(nodeId), nodeName, nodeVotes, section["Address"]));
            }
        }

        foreach (var duplicate in nodes.GroupBy(n => n.Id).Where(g => g.Count() > 1))
        {
            Problem("Cluster:Nodes", "unique node ids", $"id {duplicate.Key} is listed {duplicate.Count()} times");
        }

        foreach (var duplicate in nodes.GroupBy(n => n.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            Problem("Cluster:Nodes", "unique node names", $"\"{duplicate.Key}\" is listed {duplicate.Count()} times");
        }

        var policy = cluster["Quorum:Policy"] ?? DefaultQuorumPolicy;
        if (!PluginNames.IsValid(policy))
        {
            Problem("Cluster:Quorum:Policy", "a quorum policy plugin name", policy);
        }

        var noQuorum = NoQuorumPolicy.Stop;
        if (cluster["Quorum:NoQuorumPolicy"] is { } onLoss && !NoQuorumPolicies.TryGetValue(onLoss, out noQuorum))
        {
            Problem("Cluster:Quorum:NoQuorumPolicy", "one of " + string.Join(", ", NoQuorumPolicies.Keys), onLoss);
        }

        var device = cluster["Quorum:Device"] is { Length: > 0 } named ? named : null;
        if (device is not null && !PluginNames.IsValid(device))
        {
            Problem("Cluster:Quorum:Device", "a quorum device plugin name, such as witness-node", device);
        }

        var deviceVotes = 1;
        if (cluster["Quorum:DeviceVotes"] is { } rawVotes)
        {
            if (!int.TryParse(rawVotes, NumberStyles.None, CultureInfo.InvariantCulture, out deviceVotes) || deviceVotes is < 1 or > 1_000_000)
            {
                Problem("Cluster:Quorum:DeviceVotes", "an integer from 1 to 1000000", rawVotes);
            }
            else if (device is null)
            {
                Problem("Cluster:Quorum:DeviceVotes", "no value unless $.Quorum.Device names a device", rawVotes);
            }
        }

        foreach (var (key, expected, actual) in MembershipOptions.Validate(cluster.GetSection("Membership")))
        {
            Problem(key, expected, actual);
        }

        var fencing = FencingConfig.Parse(cluster.GetSection("Fencing"), nodes, Problem);
        var dlm = DlmConfig.Parse(cluster.GetSection("Dlm"), nodes, Problem);

        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }

        var bytes = contents ?? File.ReadAllBytes(path);
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        return new ClusterDocument(path, name, cluster["Description"] ?? "", [.. nodes.OrderBy(n => n.Id)], policy, sha, bytes)
        {
            Membership = MembershipOptions.From(cluster.GetSection("Membership")),
            NoQuorumPolicy = noQuorum,
            QuorumDevice = device,
            DeviceVotes = deviceVotes,
            Fencing = fencing,
            Dlm = dlm,
        };
    }

    /// <summary>Reads a document held in memory (a committed or proposed version): its core keys, and all
    /// its keys as configuration sees them (<c>Cluster:*</c>).</summary>
    /// <param name="description">How errors name it.</param>
    /// <param name="document">Its bytes.</param>
    /// <exception cref="CohortStartupException">It is not a JSON object, or its core keys have problems.</exception>
    public static (ClusterDocument Cluster, IConfigurationRoot Keys) Read(string description, ReadOnlyMemory<byte> document)
    {
        var source = ConfigSource.Json(description, document, Directory.GetCurrentDirectory(), prefix: "Cluster");
        return (Parse(description, source.Root.GetSection("Cluster"), source.Bytes), source.Root);
    }

    /// <summary>The transport peers the document lists for <paramref name="self"/>: every other node,
    /// with its address.</summary>
    public IReadOnlyList<Transport.TransportPeer> PeersOf(NodeId self) =>
        [.. Nodes.Where(n => n.Id != self).Select(n => new Transport.TransportPeer(n.Id, n.Address))];

    private static int? ReadInt(IConfigurationSection section, string key, int min, int max, int? fallback, Action<string, string, string?> problem)
    {
        var raw = section[key];
        if (raw is null)
        {
            if (fallback is null)
            {
                problem($"{section.Path}:{key}", $"an integer from {min} to {max}", null);
            }

            return fallback;
        }

        if (int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }

        problem($"{section.Path}:{key}", $"an integer from {min} to {max}", raw);
        return null;
    }
}
