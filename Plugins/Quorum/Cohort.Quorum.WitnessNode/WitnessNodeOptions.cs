using System.Globalization;
using System.Net;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.WitnessNode;

/// <summary>The options of the <c>witness-node</c> quorum device, in <c>Cluster:Quorum:WitnessNode</c>.</summary>
public sealed record WitnessNodeOptions
{
    /// <summary>The section the options live in.</summary>
    public const string Section = "Cluster:Quorum:WitnessNode";

    /// <summary>The value of <see cref="TieBreaker"/> choosing the lowest node id of the document.</summary>
    public const string Lowest = "lowest";

    /// <summary>The value of <see cref="TieBreaker"/> choosing the highest node id of the document.</summary>
    public const string Highest = "highest";

    /// <summary>Where <c>cohort witness</c> listens, <c>host:port</c>. Required.</summary>
    public string Address { get; init; } = "";

    /// <summary>How often each node renews its request; a change of view is sent at once.</summary>
    /// <value>Default 100 ms.</value>
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long one grant lasts, counted from the node's request: the longer, the more renewals
    /// may be lost; the shorter, the sooner a dead partition's vote can move to a live one.</summary>
    /// <value>Default 500 ms; at least two ping intervals, and no longer than the witness's
    /// <c>--max-lease</c> (default 5000 ms).</value>
    public TimeSpan Lease { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Which partition wins when two are equally large and neither held the vote last:
    /// <c>lowest</c> (the one holding the lowest node id of the document), <c>highest</c>, or a node id.</summary>
    /// <value>Default <c>lowest</c>.</value>
    public string TieBreaker { get; init; } = Lowest;

    private static readonly string[] Known = [nameof(Address), nameof(PingInterval), nameof(Lease), nameof(TieBreaker)];

    /// <summary>The tie-breaker node for a document of <paramref name="nodes"/>.</summary>
    public NodeId TieBreakerNode(IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        return TieBreaker.ToLowerInvariant() switch
        {
            Lowest => nodes.Min(n => n.Id),
            Highest => nodes.Max(n => n.Id),
            var id => new NodeId(int.Parse(id, NumberStyles.None, CultureInfo.InvariantCulture)),
        };
    }

    /// <summary>Reads the options from the section; absent keys keep their defaults. Validate first.</summary>
    public static WitnessNodeOptions From(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var defaults = new WitnessNodeOptions();
        TimeSpan Read(string key, TimeSpan fallback) =>
            section[key] is { } raw ? TimeSpan.FromMilliseconds(int.Parse(raw, NumberStyles.None, CultureInfo.InvariantCulture)) : fallback;
        return new WitnessNodeOptions
        {
            Address = section[nameof(Address)] ?? "",
            PingInterval = Read(nameof(PingInterval), defaults.PingInterval),
            Lease = Read(nameof(Lease), defaults.Lease),
            TieBreaker = section[nameof(TieBreaker)] ?? defaults.TieBreaker,
        };
    }

    /// <summary>Splits <c>host:port</c>; false when it is not one.</summary>
    /// <param name="value">The address.</param>
    /// <param name="host">The host.</param>
    /// <param name="port">The port.</param>
    /// <param name="allowAnyPort">Accept port 0 (listen on any free port).</param>
    public static bool TryParseAddress(string value, out string host, out int port, bool allowAnyPort = false)
    {
        host = "";
        port = 0;
        var colon = value?.LastIndexOf(':') ?? -1;
        if (colon <= 0)
        {
            return false;
        }

        host = value![..colon].Trim('[', ']');
        return int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port)
            && port >= (allowAnyPort ? 0 : 1) && port < 65536
            && (IPAddress.TryParse(host, out _) || Uri.CheckHostName(host) == UriHostNameType.Dns);
    }

    /// <summary>Validates <c>Cluster:Quorum:WitnessNode</c>.</summary>
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
            foreach (var child in section.GetChildren())
            {
                if (!Known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                {
                    problems.Add(new ConfigProblem(child.Path, "one of " + string.Join(", ", Known), child.Value));
                }
            }

            if (section[nameof(Address)] is not { } address || !TryParseAddress(address, out _, out _))
            {
                problems.Add(new ConfigProblem(section.Path + ":" + nameof(Address), "the host:port cohort witness listens on, such as 127.0.0.1:7409", section[nameof(Address)]));
            }

            foreach (var key in new[] { nameof(PingInterval), nameof(Lease) })
            {
                if (section[key] is { } raw && (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms < 1 || ms > 60_000))
                {
                    problems.Add(new ConfigProblem(section.Path + ":" + key, "a whole number of milliseconds from 1 to 60000", raw));
                }
            }

            if (section[nameof(TieBreaker)] is { } tieBreaker
                && !tieBreaker.Equals(Lowest, StringComparison.OrdinalIgnoreCase)
                && !tieBreaker.Equals(Highest, StringComparison.OrdinalIgnoreCase)
                && !(int.TryParse(tieBreaker, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && (nodes.Count == 0 || nodes.Any(n => n.Id.Value == id))))
            {
                problems.Add(new ConfigProblem(section.Path + ":" + nameof(TieBreaker), "lowest, highest, or the id of a node in the document", tieBreaker));
            }

            if (problems.Count == 0)
            {
                var options = From(section);
                if (options.Lease < options.PingInterval * 2)
                {
                    problems.Add(new ConfigProblem(section.Path + ":" + nameof(Lease), $"at least two ping intervals ({(options.PingInterval * 2).TotalMilliseconds} ms)", options.Lease.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)));
                }
            }

            return problems;
        }
    }
}
