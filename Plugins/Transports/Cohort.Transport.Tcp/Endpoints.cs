using System.Globalization;
using System.Net;

namespace Cohort.Transport.Tcp;

/// <summary>Parses the <c>host:port</c> addresses the TCP transport uses.</summary>
internal static class Endpoints
{
    /// <summary>Parses <c>host:port</c> (<c>[v6]:port</c> for IPv6). The host is an IP address or a name.</summary>
    /// <param name="text">The address.</param>
    /// <param name="host">The host part.</param>
    /// <param name="port">The port.</param>
    /// <param name="problem">What was expected, when it is not an address.</param>
    /// <param name="allowAnyPort">Accept port 0 (a listen address: any free port).</param>
    /// <returns>False, with a reason, when it is not one.</returns>
    public static bool TryParse(string? text, out string host, out int port, out string problem, bool allowAnyPort = false)
    {
        host = "";
        port = 0;
        problem = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "an address host:port";
            return false;
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            problem = "host:port, such as 127.0.0.1:7401";
            return false;
        }

        host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            problem = "an IPv6 host in brackets, such as [::1]:7401";
            return false;
        }

        if (!int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535 || (port < 1 && !(allowAnyPort && port == 0)))
        {
            problem = "a port from 1 to 65535 after the colon";
            return false;
        }

        if (host.Length == 0)
        {
            problem = "a host before the colon";
            return false;
        }

        return true;
    }

    /// <summary>Resolves an address to one endpoint (the first address of a name).</summary>
    public static async Task<IPEndPoint> ResolveAsync(string text, CancellationToken cancellationToken, bool allowAnyPort = false)
    {
        if (!TryParse(text, out var host, out var port, out var problem, allowAnyPort))
        {
            throw new FormatException($"\"{text}\": expected {problem}");
        }

        if (IPAddress.TryParse(host, out var ip))
        {
            return new IPEndPoint(ip, port);
        }

        var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        return addresses.Length == 0
            ? throw new FormatException($"\"{text}\": {host} resolves to no address")
            : new IPEndPoint(addresses[0], port);
    }

    /// <summary>Formats an endpoint as this transport writes addresses.</summary>
    public static string Format(IPAddress address, int port) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? $"[{address}]:{port.ToString(CultureInfo.InvariantCulture)}"
            : $"{address}:{port.ToString(CultureInfo.InvariantCulture)}";
}
