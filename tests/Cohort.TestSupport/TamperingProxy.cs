using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Cohort.TestSupport;

/// <summary>What <see cref="TamperingProxy"/> does to the first connection once it has forwarded enough data records.</summary>
public enum Tamper
{
    /// <summary>Sends the last data record again, byte for byte: a replay.</summary>
    Replay,

    /// <summary>Flips one bit of a data record's payload.</summary>
    FlipBit,

    /// <summary>Sends a record header announcing 4 GiB.</summary>
    OversizedLength,

    /// <summary>Sends random bytes.</summary>
    Garbage,
}

/// <summary>
/// A TCP proxy between a dialer and an acceptor of the tcp transport (docs/transport.md) that understands the record layer of the dialer's
/// direction well enough to tamper with the first connection after a number of data records; later
/// connections pass untouched. It owns its sockets and closes them on dispose.
/// </summary>
public sealed class TamperingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly Tamper _tamper;
    private readonly int _after;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private readonly List<Socket> _sockets = [];
    private int _connections;

    public TamperingProxy(string target, Tamper tamper, int afterDataRecords)
    {
        var colon = target.LastIndexOf(':');
        _target = new IPEndPoint(IPAddress.Parse(target[..colon]), int.Parse(target[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        _tamper = tamper;
        _after = afterDataRecords;
        _listener.Start();
        _tasks.Add(AcceptAsync());
    }

    public string Address => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Whether the tampering happened.</summary>
    public bool Tampered { get; private set; }

    public int Connections => Volatile.Read(ref _connections);

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptSocketAsync(_stop.Token);
                var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await server.ConnectAsync(_target, _stop.Token);
                }
                catch (SocketException)
                {
                    // The target is not listening yet: refuse this one, as it would have been.
                    client.Dispose();
                    server.Dispose();
                    continue;
                }

                lock (_sockets)
                {
                    _sockets.Add(client);
                    _sockets.Add(server);
                }

                var first = Interlocked.Increment(ref _connections) == 1;
                _tasks.Add(PumpAsync(server, client, raw: true));
                _tasks.Add(PumpAsync(client, server, raw: !first));
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Copies <paramref name="from"/> to <paramref name="to"/>; unless raw, tampers with it.</summary>
    private async Task PumpAsync(Socket from, Socket to, bool raw)
    {
        try
        {
            await using var input = new NetworkStream(from, ownsSocket: false);
            await using var output = new NetworkStream(to, ownsSocket: false);
            if (raw)
            {
                await input.CopyToAsync(output, _stop.Token);
                return;
            }

            // The dialer's direction: two handshake messages, then records.
            for (var i = 0; i < 2; i++)
            {
                var prefix = await ReadAsync(input, 2);
                await output.WriteAsync(prefix, _stop.Token);
                await output.WriteAsync(await ReadAsync(input, BinaryPrimitives.ReadUInt16LittleEndian(prefix)), _stop.Token);
            }

            var data = 0;
            while (true)
            {
                var header = await ReadAsync(input, 16);
                var rest = await ReadAsync(input, BinaryPrimitives.ReadInt32LittleEndian(header) + 32);
                var record = header.Concat(rest).ToArray();
                var isData = header[4] == 1;
                if (isData && _tamper == Tamper.FlipBit && data == _after && !Tampered)
                {
                    record[16] ^= 0x01;
                    Tampered = true;
                }

                await output.WriteAsync(record, _stop.Token);
                if (isData && ++data == _after && !Tampered && _tamper != Tamper.FlipBit)
                {
                    Tampered = true;
                    byte[] injected = _tamper switch
                    {
                        Tamper.Replay => record,
                        Tamper.OversizedLength => [0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0],
                        _ => [.. Enumerable.Range(0, 100).Select(i => (byte)(i * 37))],
                    };
                    await output.WriteAsync(injected, _stop.Token);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or EndOfStreamException or ObjectDisposedException)
        {
        }
        finally
        {
            // One side closed: close both, as a real connection would end.
            from.Close();
            to.Close();
        }
    }

    private async Task<byte[]> ReadAsync(NetworkStream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer, _stop.Token);
        return buffer;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_sockets)
        {
            _sockets.ForEach(s => s.Dispose());
        }

        await Task.WhenAll(_tasks);
        _stop.Dispose();
    }
}
