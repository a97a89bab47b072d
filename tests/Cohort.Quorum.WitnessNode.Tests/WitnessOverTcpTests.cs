using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Cohort.Membership;
using Cohort.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cohort.Quorum.WitnessNode.Tests;

/// <summary>The witness-node device against a real witness server over TCP on 127.0.0.1.</summary>
public sealed class WitnessOverTcpTests
{
    private static readonly TimeSpan MaxLease = TimeSpan.FromMilliseconds(200);
    private static readonly NodeId Node1 = new(1);
    private static readonly View Alone = new(new ViewId(3, Node1), [new NodeIncarnation(Node1, 1)]);
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    [Test]
    public async Task A_device_gets_the_vote_for_its_view_counted_from_its_request()
    {
        await using var server = StartServer();
        var (device, grants) = StartDevice(server, _key);
        using var _ = device;
        device.ViewChanged(Alone);

        var grant = await Poll.UntilAsync("a grant for the view", () => Task.FromResult(grants.LastOrDefault(g => g.View == Alone.Id)));
        Assert.That(grant.Detail, Is.EqualTo($"granted by witness 127.0.0.1:{server.LocalEndpoint.Port}"));
        Assert.That(grant.Until - _clock.Elapsed, Is.LessThanOrEqualTo(TimeSpan.FromMilliseconds(200 * 0.99)), "counted from the send time, shortened by ρ");
        await device.StopAsync(CancellationToken.None);
    }

    [Test]
    public async Task A_device_with_another_key_gets_nothing_and_says_why()
    {
        await using var server = StartServer();
        var (device, grants) = StartDevice(server, RandomNumberGenerator.GetBytes(32));
        using var _ = device;
        device.ViewChanged(Alone);

        var refused = await Poll.UntilAsync("the device to report it cannot reach the witness", () => Task.FromResult(grants.FirstOrDefault(g => g.Detail.Contains("unreachable", StringComparison.Ordinal))));
        Assert.That(refused.View, Is.Null);
        Assert.That(grants.Any(g => g.View is not null), Is.False);
        await device.StopAsync(CancellationToken.None);
    }

    [Test]
    public async Task A_malformed_frame_closes_that_connection_and_nothing_else()
    {
        await using var server = StartServer();
        var (device, grants) = StartDevice(server, _key);
        using var _ = device;
        device.ViewChanged(Alone);
        await Poll.UntilAsync("a first grant", () => Task.FromResult(grants.LastOrDefault(g => g.View == Alone.Id)));

        using var rogue = new TcpClient();
        await rogue.ConnectAsync(server.LocalEndpoint);
        var stream = rogue.GetStream();
        var nonce = new byte[WitnessProtocol.NonceBytes];
        await stream.ReadExactlyAsync(nonce);
        await stream.WriteAsync((byte[])[0, 0, 0, 8, .. "garbage!"u8, .. new byte[WitnessProtocol.MacBytes]]);
        var buffer = new byte[16];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(read, Is.Zero, "the witness closed the rogue connection");

        var count = grants.Count;
        await Poll.UntilAsync("the device to go on being granted", () => grants.Skip(count).Count(g => g.View == Alone.Id) >= 3);
        await device.StopAsync(CancellationToken.None);
    }

    private WitnessServer StartServer() =>
        WitnessServer.Start(new WitnessServerOptions("127.0.0.1:0", _key, MaxLease), TimeProvider.System, NullLogger.Instance);

    private (WitnessNodeDevice Device, ConcurrentQueue<QuorumDeviceGrant> Grants) StartDevice(WitnessServer server, byte[] key)
    {
        var options = new WitnessNodeOptions
        {
            Address = $"127.0.0.1:{server.LocalEndpoint.Port}",
            PingInterval = TimeSpan.FromMilliseconds(50),
            Lease = MaxLease,
        };
        var grants = new ConcurrentQueue<QuorumDeviceGrant>();
        var device = new WitnessNodeDevice(options, NullLogger.Instance);
        var session = new QuorumDeviceSession(
            new NodeIncarnation(Node1, 1), "c", [new ClusterNode(Node1, "node1", 1)], () => _clock.Elapsed, grants.Enqueue, key, 0.01);
        device.StartAsync(session, CancellationToken.None).GetAwaiter().GetResult();
        return (device, grants);
    }
}
