using System.Globalization;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Transport.Tcp;

/// <summary>The options of the <c>tcp</c> transport, in <c>Cluster:Transport:Tcp</c>; durations in milliseconds.</summary>
public sealed record TcpTransportOptions
{
    /// <summary>The section the options live in.</summary>
    public const string Section = "Cluster:Transport:Tcp";

    /// <summary>How long a connection may stay silent before a ping goes out on it.</summary>
    /// <value>Default 100 ms.</value>
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long a connection may stay silent before it is closed and redialed; the session
    /// survives.</summary>
    /// <value>Default 1000 ms; at least two ping intervals.</value>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMilliseconds(1000);

    /// <summary>How long a connection may take to connect and complete its handshake.</summary>
    /// <value>Default 2000 ms.</value>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromMilliseconds(2000);

    /// <summary>The longest wait between two attempts to reach a peer (attempts start 20 ms apart and
    /// back off, with jitter, up to this).</summary>
    /// <value>Default 500 ms.</value>
    public TimeSpan ReconnectDelayMax { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long frames may wait unacknowledged before the session is reset (both ends report
    /// the reset; membership counts it as a departure).</summary>
    /// <value>Default 10000 ms; longer than <see cref="IdleTimeout"/>.</value>
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromMilliseconds(10_000);

    /// <summary>How much may be queued to one peer and not yet acknowledged before the session is
    /// reset rather than grow without bound, in MiB.</summary>
    /// <value>Default 256.</value>
    public int MaxQueuedMegabytes { get; init; } = 256;

    /// <summary><see cref="MaxQueuedMegabytes"/> in bytes.</summary>
    public long MaxQueuedBytes => MaxQueuedMegabytes * 1024L * 1024L;

    /// <summary>The shortest wait between two attempts to reach a peer.</summary>
    public static TimeSpan ReconnectDelayMin => TimeSpan.FromMilliseconds(20);

    private static readonly string[] Durations =
        [nameof(PingInterval), nameof(IdleTimeout), nameof(HandshakeTimeout), nameof(ReconnectDelayMax), nameof(SessionTimeout)];

    /// <summary>Reads the options from the section; absent keys keep their defaults. Validate first.</summary>
    public static TcpTransportOptions From(IConfiguration section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var defaults = new TcpTransportOptions();
        TimeSpan Read(string key, TimeSpan fallback) =>
            section[key] is { } raw ? TimeSpan.FromMilliseconds(int.Parse(raw, NumberStyles.None, CultureInfo.InvariantCulture)) : fallback;
        return new TcpTransportOptions
        {
            PingInterval = Read(nameof(PingInterval), defaults.PingInterval),
            IdleTimeout = Read(nameof(IdleTimeout), defaults.IdleTimeout),
            HandshakeTimeout = Read(nameof(HandshakeTimeout), defaults.HandshakeTimeout),
            ReconnectDelayMax = Read(nameof(ReconnectDelayMax), defaults.ReconnectDelayMax),
            SessionTimeout = Read(nameof(SessionTimeout), defaults.SessionTimeout),
            MaxQueuedMegabytes = section[nameof(MaxQueuedMegabytes)] is { } mb
                ? int.Parse(mb, NumberStyles.None, CultureInfo.InvariantCulture)
                : defaults.MaxQueuedMegabytes,
        };
    }

    /// <summary>Validates <c>Cluster:Transport:Tcp</c>.</summary>
    public sealed class Validator : IConfigSectionValidator
    {
        /// <inheritdoc />
        public IEnumerable<ConfigProblem> Validate(IConfigurationSection section)
        {
            ArgumentNullException.ThrowIfNull(section);
            string[] known = [.. Durations, nameof(MaxQueuedMegabytes)];
            var problems = new List<ConfigProblem>();
            foreach (var child in section.GetChildren())
            {
                if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                {
                    problems.Add(new ConfigProblem(child.Path, "one of " + string.Join(", ", known), child.Value));
                }
            }

            foreach (var key in Durations)
            {
                if (section[key] is { } raw && (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms < 1))
                {
                    problems.Add(new ConfigProblem(section.Path + ":" + key, "a whole number of milliseconds, at least 1", raw));
                }
            }

            if (section[nameof(MaxQueuedMegabytes)] is { } queued
                && (!int.TryParse(queued, NumberStyles.None, CultureInfo.InvariantCulture, out var megabytes) || megabytes is < 2 or > 65536))
            {
                problems.Add(new ConfigProblem(section.Path + ":" + nameof(MaxQueuedMegabytes), "a number of MiB from 2 to 65536", queued));
            }

            if (problems.Count == 0)
            {
                var options = From(section);
                if (options.IdleTimeout < options.PingInterval * 2)
                {
                    problems.Add(new ConfigProblem(section.Path + ":" + nameof(IdleTimeout), $"at least two ping intervals ({(options.PingInterval * 2).TotalMilliseconds} ms)", options.IdleTimeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)));
                }

                if (options.SessionTimeout <= options.IdleTimeout)
                {
                    problems.Add(new ConfigProblem(section.Path + ":" + nameof(SessionTimeout), $"longer than IdleTimeout ({options.IdleTimeout.TotalMilliseconds} ms)", options.SessionTimeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)));
                }
            }

            return problems;
        }
    }
}
