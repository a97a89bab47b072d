using System.Net.Sockets;
using Cohort.TestSupport;

namespace Cohort.Transport.Tcp.Tests;

public sealed class SecurityTests
{
    [Test]
    public async Task A_peer_with_another_key_never_gets_a_session()
    {
        var otherKey = TestNode.Key.Select(b => (byte)(b ^ 0x5a)).ToArray();
        await using var a = await TestNode.StartAsync(1, 2, []);
        await using var b = await TestNode.StartAsync(2, 2, [a.Address], key: otherKey);

        await Poll.UntilAsync("both ends refuse", () => a.Transport.GetStatus().RefusedConnections > 0 && b.Transport.GetStatus().RefusedConnections > 0);

        Assert.That(b.Transport.GetStatus().LastRefusal, Does.Contain("did not prove the cluster key (the keys differ)"), "the dialer checks the acceptor's proof first");
        Assert.That(a.Transport.GetStatus().LastRefusal, Does.Contain("node 2 refused the handshake: the proof of the cluster key from node 1 is wrong (the keys differ)"), "and tells it");
        Assert.That(a.Handler.Events.Concat(b.Handler.Events), Is.Empty, "no session opened anywhere");
    }

    [Test]
    public async Task A_node_id_absent_from_the_node_list_never_gets_a_session()
    {
        await using var a = await TestNode.StartAsync(1, 2, []);
        await using var stranger = await TestNode.StartAsync(5, 5, [a.Address]);

        await Poll.UntilAsync("the stranger refused", () => stranger.Transport.GetStatus().LastRefusal is not null);

        Assert.That(a.Transport.GetStatus().LastRefusal, Does.EndWith("node 5 is not in the node list of node 1"));
        Assert.That(stranger.Transport.GetStatus().LastRefusal, Does.EndWith("refused the handshake: node 5 is not in the node list of node 1"), "the refused end is told why");
        Assert.That(a.Handler.Events.Concat(stranger.Handler.Events), Is.Empty);
    }

    [TestCase(new byte[] { 0xFF, 0xFF, 1, 2, 3 }, "a handshake message of 65535 bytes (at most 512)", TestName = "An oversized handshake length from a stranger is refused before anything is allocated")]
    [TestCase(new byte[] { 12, 0, 71, 69, 84, 32, 47, 32, 72, 84, 84, 80, 47, 49 }, "bytes that are not a Cohort handshake", TestName = "Garbage from a stranger is refused and leaves the sessions alone")]
    public async Task Bytes_from_a_stranger_are_refused_and_the_sessions_carry_on(byte[] garbage, string reason)
    {
        await using var pair = await TestNode.StartPairAsync();
        var (a, b) = pair;

        using (var stranger = new TcpClient())
        {
            await stranger.ConnectAsync(System.Net.IPAddress.Loopback, int.Parse(a.Address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture));
            await stranger.GetStream().WriteAsync(garbage);
            await Poll.UntilAsync("the stranger refused", () => a.Transport.GetStatus().RefusedConnections == 1);
        }

        Assert.That(a.Transport.GetStatus().LastRefusal, Does.EndWith(reason));
        Assert.That(b.Transport.TrySend(a.Self, TransportLane.Data, new byte[] { 42 }), Is.True);
        await Poll.UntilAsync("the session still carries frames", () => a.Handler.Frames.Any(f => f.Frame is [42]));
        Assert.That(a.Handler.Resets, Is.Zero);
    }

    [TestCase(Tamper.Replay, "a record that fails authentication (forged, corrupted, replayed or out of order)")]
    [TestCase(Tamper.FlipBit, "a record that fails authentication (forged, corrupted, replayed or out of order)")]
    [TestCase(Tamper.OversizedLength, "a record of 4294967295 bytes (at most 65536)")]
    [TestCase(Tamper.Garbage, null)]
    public async Task A_tampered_record_closes_its_connection_only_and_the_session_resumes_without_loss(Tamper tamper, string? reason)
    {
        await using var b = await TestNode.StartAsync(2, 2, []);
        await using var proxy = new TamperingProxy(b.Address, tamper, afterDataRecords: 50);
        await using var a = await TestNode.StartAsync(1, 2, [], addresses: new Dictionary<int, string> { [2] = proxy.Address });
        await Poll.UntilAsync("sessions open", () => a.HasSession(b.Self) && b.HasSession(a.Self));

        const int count = 500;
        for (var i = 0; i < count; i++)
        {
            Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, SessionTests.Numbered(i)), Is.True);
        }

        await Poll.UntilAsync("every frame delivered", () => b.Handler.Frames.Count >= count);
        Assert.Multiple(() =>
        {
            Assert.That(proxy.Tampered, Is.True);
            Assert.That(SessionTests.Numbers(b.Handler.FramesFrom(a.Self.Node, TransportLane.Data)), Is.EqualTo(Enumerable.Range(0, count)), "in order, once: the replayed record was not delivered twice");
            Assert.That(b.StatusOf(1).MalformedFrames, Is.EqualTo(1), "counted in status");
            Assert.That(proxy.Connections, Is.GreaterThanOrEqualTo(2), "the dialer reconnected");
            Assert.That(a.Handler.Resets + b.Handler.Resets, Is.Zero, "the session survived");
        });
        if (reason is not null)
        {
            Assert.That(b.Transport.GetStatus().Peers.Single().MalformedFrames, Is.EqualTo(1));
        }
    }
}
