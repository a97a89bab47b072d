using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Cohort.Membership;

/// <summary>
/// The membership timings, from <c>Cluster:Membership</c>. The defaults aim at a new quorate view
/// within half a second of a node's death on a LAN, without spurious view changes on a busy machine.
/// </summary>
public sealed record MembershipOptions
{
    /// <summary>Where the options live in the cluster document.</summary>
    public const string Section = "Cluster:Membership";

    /// <summary>How often a node sends a heartbeat to every configured node. Default 50 ms.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How long a peer may stay silent (or not echo this node's heartbeats) before it is
    /// counted as gone. Default 400 ms: eight heartbeats.</summary>
    public TimeSpan FailureTimeout { get; init; } = TimeSpan.FromMilliseconds(400);

    /// <summary>L of the quorum lease: how long a heartbeat acknowledged by a quorum keeps its sender
    /// quorate, and how long an acknowledgement binds its sender. Default 400 ms.</summary>
    public TimeSpan QuorumLease { get; init; } = TimeSpan.FromMilliseconds(400);

    /// <summary>ρ: the bound on how far any node's monotonic clock rate may differ from real time, as
    /// a fraction (0.01 = 1%). Safety rests on it. Default 0.01, a hundred times what quartz drifts.</summary>
    public double ClockDriftBound { get; init; } = 0.01;

    /// <summary>A deliberately broken variant, for proving that the checkers catch it. Never in production.</summary>
    public MembershipMutant Mutant { get; init; }

    /// <summary>The lease a node may count on after its latest quorum-acknowledged heartbeat: L·(1−ρ).</summary>
    public TimeSpan LeaseHeld => QuorumLease * (1 - ClockDriftBound);

    /// <summary>How long an acknowledgement binds the node that sent it: L·(1+ρ).</summary>
    public TimeSpan PromiseHeld => QuorumLease * (1 + ClockDriftBound);

    /// <summary>Reads <c>Cluster:Membership</c> from the cluster document; absent keys keep their defaults.</summary>
    /// <param name="cluster">The configuration holding <c>Cluster:*</c> keys.</param>
    /// <exception cref="FormatException">A value is not what <see cref="Validate(IConfiguration)"/> expects; validate first.</exception>
    public static MembershipOptions From(IConfiguration cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return From(cluster.GetSection(Section));
    }

    /// <summary>Reads the options from the <c>Cluster:Membership</c> section itself.</summary>
    public static MembershipOptions From(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var defaults = new MembershipOptions();
        return new MembershipOptions
        {
            HeartbeatInterval = Milliseconds(section, nameof(HeartbeatInterval)) ?? defaults.HeartbeatInterval,
            FailureTimeout = Milliseconds(section, nameof(FailureTimeout)) ?? defaults.FailureTimeout,
            QuorumLease = Milliseconds(section, nameof(QuorumLease)) ?? defaults.QuorumLease,
            ClockDriftBound = section[nameof(ClockDriftBound)] is { } drift
                ? double.Parse(drift, NumberStyles.Float, CultureInfo.InvariantCulture)
                : defaults.ClockDriftBound,
        };
    }

    /// <summary>Checks <c>Cluster:Membership</c> in a configuration holding <c>Cluster:*</c> keys: known keys only, durations as whole milliseconds, and
    /// timings that can work (a lease and a timeout each longer than two heartbeats, 0 ≤ ρ &lt; 0.5).</summary>
    /// <returns>One (key, expected, actual) triple per problem.</returns>
    public static IEnumerable<(string Key, string Expected, string? Actual)> Validate(IConfiguration cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return Validate(cluster.GetSection(Section));
    }

    /// <summary>Checks the <c>Cluster:Membership</c> section itself; see <see cref="Validate(IConfiguration)"/>.</summary>
    public static IEnumerable<(string Key, string Expected, string? Actual)> Validate(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        string[] known = [nameof(HeartbeatInterval), nameof(FailureTimeout), nameof(QuorumLease), nameof(ClockDriftBound)];
        var problems = new List<(string, string, string?)>();
        foreach (var child in section.GetChildren())
        {
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                problems.Add((child.Path, "one of " + string.Join(", ", known), child.Value));
            }
        }

        foreach (var key in known.Take(3))
        {
            if (section[key] is { } raw && (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms < 1))
            {
                problems.Add((section.Path + ":" + key, "a whole number of milliseconds, at least 1", raw));
            }
        }

        if (section[nameof(ClockDriftBound)] is { } rho
            && (!double.TryParse(rho, NumberStyles.Float, CultureInfo.InvariantCulture, out var r) || r is < 0 or >= 0.5))
        {
            problems.Add((section.Path + ":" + nameof(ClockDriftBound), "a fraction from 0 up to (not including) 0.5, such as 0.01", rho));
        }

        if (problems.Count == 0)
        {
            var options = From(section);
            if (options.FailureTimeout < options.HeartbeatInterval * 2)
            {
                problems.Add((section.Path + ":" + nameof(FailureTimeout), $"at least two heartbeat intervals ({(options.HeartbeatInterval * 2).TotalMilliseconds} ms)", options.FailureTimeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)));
            }

            if (options.LeaseHeld < options.HeartbeatInterval * 2)
            {
                problems.Add((section.Path + ":" + nameof(QuorumLease), $"at least two heartbeat intervals after drift ({(options.HeartbeatInterval * 2).TotalMilliseconds} ms / (1 - ρ))", options.QuorumLease.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)));
            }
        }

        return problems;
    }

    private static TimeSpan? Milliseconds(IConfigurationSection section, string key) =>
        section[key] is { } raw ? TimeSpan.FromMilliseconds(int.Parse(raw, NumberStyles.None, CultureInfo.InvariantCulture)) : null;
}

/// <summary>Deliberately broken membership cores, each of which a checker must catch.</summary>
public enum MembershipMutant
{
    /// <summary>The real core.</summary>
    None = 0,

    /// <summary>A node stays quorate after its lease runs out.</summary>
    LeaseOff,

    /// <summary>Acknowledgements bind nothing: a node reports its promises expired at once.</summary>
    NoPromise,

    /// <summary>The coordinator installs a view once a quorum of its members acknowledged it, not all.</summary>
    InstallWithoutAllAcks,

    /// <summary>A quorum device's grant never runs out: its votes count for the granted view for good.</summary>
    DeviceGrantNeverEnds,

    /// <summary>A node adopting a cluster document version that changes the quorum rules is quorate under
    /// it at once, while leases granted under the old rules may still run.</summary>
    NoHoldDown,

    /// <summary>A node about to acknowledge a new cluster document version goes on acknowledging
    /// heartbeats in (and acting in) views under the old one.</summary>
    EchoWhileAccepting,
}
