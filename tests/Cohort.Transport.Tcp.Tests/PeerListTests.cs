using Cohort.Membership;
using Cohort.TestSupport;

namespace Cohort.Transport.Tcp.Tests;

/// <summary>The peer list while running: nodes added and dropped by a committed cluster document, and a
/// joining node that knows its peers only through seeds.</summary>
public sealed class PeerListTests
{
    private static TransportPeer Peer(int node, string? address = null) => new(new NodeId(node), address);

    [Test]
    public async Task A_node_added_to_the_peer_list_is_admitted_and_dialed_without_a_restart()
    {
        await using var a = await TestNode.StartAsync(1, 2, []);
        await using var c = await TestNode.StartAsync(3, 3, [a.Address]);
        await Poll.UntilAsync("node1 to refuse node3, which its list lacks", () =>
            a.Transport.GetStatus() is { RefusedConnections: > 0, LastRefusal: { } why } && why.Contains("node 3 is not in the node list", StringComparison.Ordinal));
        Assert.That(a.HasSession(c.Self), Is.False);

        a.Transport.UpdatePeers([Peer(2), Peer(3, c.Address), Peer(1)]);
        await Poll.UntilAsync("sessions between node1 and node3 at both ends", () => a.HasSession(c.Self) && c.HasSession(a.Self));
        Assert.That(a.StatusOf(3).Address, Is.EqualTo(c.Address), "node1 dials the address the list gives");
        Assert.That(a.Transport.GetStatus().Peers.Select(p => p.Node.Value), Is.EqualTo(new[] { 2, 3 }), "the local node's own entry is ignored");
    }

    [Test]
    public async Task A_node_dropped_from_the_peer_list_has_its_session_reset_and_is_refused_from_then_on()
    {
        await using var pair = await TestNode.StartPairAsync();
        var (a, b) = pair;
        var refusedBefore = a.Transport.GetStatus().RefusedConnections;

        a.Transport.UpdatePeers([]);
        await Poll.UntilAsync("node1 to report node2's session reset", () => a.Handler.Events.Any(e => e.StartsWith($"reset {b.Self}: node 2 is no longer in the node list", StringComparison.Ordinal)));
        await Poll.UntilAsync("node2, redialing, to be refused", () => a.Transport.GetStatus().RefusedConnections > refusedBefore);
        Assert.That(a.HasSession(b.Self), Is.False);
        Assert.That(a.Transport.GetStatus().Peers, Is.Empty);
        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, new byte[] { 1 }), Is.False);
    }

    [Test]
    public async Task A_peer_whose_address_changes_is_dialed_there_and_keeps_its_session()
    {
        await using var a = await TestNode.StartAsync(1, 2, []);
        await using var b = await TestNode.StartAsync(2, 2, [], addresses: new Dictionary<int, string> { [1] = "127.0.0.1:9" });
        Assert.That(b.StatusOf(1).Address, Is.EqualTo("127.0.0.1:9"));

        b.Transport.UpdatePeers([Peer(1, a.Address)]);
        await Poll.UntilAsync("a session, once node2 dials node1 where it now is", () => a.HasSession(b.Self) && b.HasSession(a.Self));
        var opened = b.Handler.Events.Count(e => e.StartsWith("open", StringComparison.Ordinal));
        b.Transport.UpdatePeers([Peer(1, a.Address)]);
        Assert.That(b.Handler.Resets, Is.Zero, "an unchanged entry disturbs nothing");
        Assert.That(b.Handler.Events.Count(e => e.StartsWith("open", StringComparison.Ordinal)), Is.EqualTo(opened));
    }

    [Test]
    public async Task A_joining_node_that_admits_unlisted_nodes_reaches_its_seed_and_one_that_does_not_is_refused()
    {
        await using var a = await TestNode.StartAsync(1, 3, []);
        await using var strict = await TestNode.StartAsync(3, 0, [a.Address]);
        await Poll.UntilAsync("node3 without admission to refuse node1, found through its seed", () =>
            strict.Transport.GetStatus() is { LastRefusal: { } why } && why.Contains("node 1, which is not in the node list", StringComparison.Ordinal));
        await strict.DisposeAsync();

        await using var joining = await TestNode.StartAsync(3, 0, [a.Address], incarnation: 2, admitUnlisted: true);
        await Poll.UntilAsync("sessions between node1 and the joining node3", () => a.HasSession(joining.Self) && joining.HasSession(a.Self));
        Assert.That(joining.Transport.GetStatus().Peers.Select(p => p.Node.Value), Is.EqualTo(new[] { 1 }), "the seed's node became a peer");
        Assert.That(joining.StatusOf(1).Address, Is.EqualTo(a.Address));
    }

    [Test]
    public async Task Unauthenticated_hellos_cannot_grow_the_peer_table_of_a_joining_node_without_bound()
    {
        await using var joining = await TestNode.StartAsync(3, 0, [], admitUnlisted: true);
        var endpoint = System.Net.IPEndPoint.Parse(joining.Address);
        object? last = null;
        for (var i = 0; i < TcpTransport.MaxUnlistedPeers + 10; i++)
        {
            using var socket = new System.Net.Sockets.Socket(endpoint.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            await socket.ConnectAsync(endpoint);
            await using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
            var hello = Handshake.Encode(new ClientHello(1000 + i, 1, 0, new byte[Handshake.NonceBytes], "127.0.0.1:9"));
            await HandshakeIo.WriteAsync(stream, hello, CancellationToken.None);
            last = Handshake.DecodeServerReply(await HandshakeIo.ReadAsync(stream, CancellationToken.None));
        }

        Assert.That(joining.Transport.GetStatus().Peers, Has.Count.EqualTo(TcpTransport.MaxUnlistedPeers));
        Assert.That(last, Is.InstanceOf<Refusal>(), "past the bound, a node that proved nothing is refused");
    }
}
