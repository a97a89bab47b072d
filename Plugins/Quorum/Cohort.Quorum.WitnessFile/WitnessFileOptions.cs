using System.Globalization;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.WitnessFile;

/// <summary>The options of the <c>witness-file</c> quorum device, in <c>Cluster:Quorum:WitnessFile</c>.</summary>
public sealed record WitnessFileOptions
{
    /// <summary>The section the options live in.</summary>
    public const string Section = "Cluster:Quorum:WitnessFile";

    /// <summary>The shared file (absolute path), one 512-byte slot per node of the document, created if
    /// missing. Every node must see the same file, with reads that see completed writes.</summary>
    public string Path { get; init; } = "";

    /// <summary>How long a grant lasts from the start of its verified write.</summary>
    /// <value>Default 500 ms; at least three renew intervals.</value>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How often a node reads every slot and renews its own (each write is fsynced).</summary>
    /// <value>Default 100 ms.</value>
    public TimeSpan RenewInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Whose view retries first after two views' claims collide: <c>lowest</c>, <c>highest</c> or a node id.</summary>
    /// <value>Default <c>lowest</c>.</value>
    public string TieBreaker { get; init; } = "lowest";

    private static readonly string[] Known = [nameof(Path), nameof(Lease), nameof(RenewInterval), nameof(TieBreaker)];

    /// <summary>The tie-breaker node of a document.</summary>
    public NodeId TieBreakerNode(IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        return TieBreaker.ToLowerInvariant() switch
        {
            "lowest" => nodes.Min(n => n.Id),
            "highest" => nodes.Max(n => n.Id),
            var id => new NodeId(int.Parse(id, NumberStyles.None, CultureInfo.InvariantCulture)),
        };
    }

    /// <summary>Reads the options; absent keys keep their defaults. Validate first.</summary>
    public static WitnessFileOptions From(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var defaults = new WitnessFileOptions();
        TimeSpan Read(string key, TimeSpan fallback) =>
            section[key] is { } raw ? TimeSpan.FromMilliseconds(int.Parse(raw, NumberStyles.None, CultureInfo.InvariantCulture)) : fallback;
        return new WitnessFileOptions
        {
            Path = section[nameof(Path)] ?? "",
            Lease = Read(nameof(Lease), defaults.Lease),
            RenewInterval = Read(nameof(RenewInterval), defaults.RenewInterval),
            TieBreaker = section[nameof(TieBreaker)] ?? defaults.TieBreaker,
        };
    }

    /// <summary>Validates <c>Cluster:Quorum:WitnessFile</c>.</summary>
    public sealed class Validator : IConfigSectionValidator
    {
        /// <inheritdoc />
        public IEnumerable<ConfigProblem> Validate(IConfigurationSection section) => Validate(section, []);

        /// <inheritdoc />
        public IEnumerable<ConfigProblem> Validate(IConfigurationSection section, IReadOnlyList<ClusterNode> nodes)
        {
            ArgumentNullException.ThrowIfNull(section);
            ArgumentNullException.ThrowIfNull(nodes);
            var problems = new List<ConfigProblem>();
            foreach (var child in section.GetChildren().Where(c => !Known.Contains(c.Key, StringComparer.OrdinalIgnoreCase)))
            {
                problems.Add(new ConfigProblem(child.Path, "one of " + string.Join(", ", Known), child.Value));
            }

            if (section[nameof(Path)] is not { Length: > 0 } path || !System.IO.Path.IsPathFullyQualified(path))
            {
                problems.Add(new ConfigProblem(section.Path + ":" + nameof(Path), "the absolute path of the shared file, the same on every node", section[nameof(Path)]));
            }

            foreach (var key in new[] { nameof(Lease), nameof(RenewInterval) })
            {
                if (section[key] is { } raw && (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms < 1 || ms > 60_000))
                {
                    problems.Add(new ConfigProblem(section.Path + ":" + key, "a whole number of milliseconds from 1 to 60000", raw));
                }
            }

            if (section[nameof(TieBreaker)] is { } tieBreaker
                && !tieBreaker.Equals("lowest", StringComparison.OrdinalIgnoreCase)
                && !tieBreaker.Equals("highest", StringComparison.OrdinalIgnoreCase)
                && !(int.TryParse(tieBreaker, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && (nodes.Count == 0 || nodes.Any(n => n.Id.Value == id))))
            {
                problems.Add(new ConfigProblem(section.Path + ":" + nameof(TieBreaker), "lowest, highest, or the id of a node in the document", tieBreaker));
            }

            if (problems.Count == 0)
            {
                var options = From(section);
                if (options.Lease < options.RenewInterval * 3)
                {
                    problems.Add(new ConfigProblem(section.Path + ":" + nameof(Lease), $"at least three renew intervals ({(options.RenewInterval * 3).TotalMilliseconds} ms)", options.Lease.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)));
                }
            }

            return problems;
        }
    }
}
