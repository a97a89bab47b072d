using System.Globalization;

namespace Cohort.Host.Configuration;

/// <summary>The <c>host:port</c> syntax of <c>Node:Listen</c>, <c>Node:Seeds</c> and node addresses.</summary>
internal static class HostPort
{
    /// <summary>Whether <paramref name="text"/> is <c>host:port</c> (IPv6 hosts in brackets).</summary>
    /// <param name="text">The address.</param>
    /// <param name="allowAnyPort">Accept port 0: listen on any free port.</param>
    public static bool IsValid(string text, bool allowAnyPort)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0)
        {
            return false;
        }

        var host = text[..colon];
        var bracketed = host.StartsWith('[') && host.EndsWith(']') && host.Length > 2;
        if (!bracketed && host.Contains(':', StringComparison.Ordinal))
        {
            return false;
        }

        return int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            && port <= 65535
            && (port > 0 || allowAnyPort);
    }
}
