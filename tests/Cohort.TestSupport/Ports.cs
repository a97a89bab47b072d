using System.Net;
using System.Net.Sockets;

namespace Cohort.TestSupport;

/// <summary>
/// Free ports on 127.0.0.1 for processes a test starts, taken from 20000-32767: below Linux's
/// ephemeral range, so no outgoing connection of another test takes one between the check and the bind.
/// A port is handed out only when it is free for both TCP and UDP (a simulated BMC listens on UDP).
/// </summary>
public static class Ports
{
    private static readonly object Sync = new();
    private static readonly HashSet<int> Handed = [];

    /// <summary>Returns <paramref name="count"/> distinct ports that were free a moment ago.</summary>
    public static int[] Free(int count)
    {
        var ports = new List<int>(count);
        lock (Sync)
        {
            for (var attempt = 0; ports.Count < count; attempt++)
            {
                if (attempt > 10_000)
                {
                    throw new InvalidOperationException("no free port found in 20000-32767");
                }

                var port = Random.Shared.Next(20000, 32768);
                if (Handed.Contains(port) || !IsFree(port))
                {
                    continue;
                }

                Handed.Add(port);
                ports.Add(port);
            }
        }

        return [.. ports];
    }

    private static bool IsFree(int port) =>
        IsFree(port, SocketType.Stream, ProtocolType.Tcp) && IsFree(port, SocketType.Dgram, ProtocolType.Udp);

    private static bool IsFree(int port, SocketType type, ProtocolType protocol)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
