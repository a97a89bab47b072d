using Cohort.TestSupport;

namespace Cohort.Transport.Tcp.Tests;

public sealed class FaultTests
{
    [Test]
    public async Task A_one_way_cut_stops_what_this_node_sends_not_what_it_receives_and_heal_delivers_what_waited()
    {
        await using var pair = await TestNode.StartPairAsync();
        var (a, b) = pair;

        a.Transport.Cut(b.Self.Node, TransportCut.Outbound);
        Assert.That(a.StatusOf(2).Cut, Is.EqualTo(TransportCut.Outbound));
        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Membership, new byte[] { 1 }), Is.True);
        Assert.That(b.Transport.TrySend(a.Self, TransportLane.Membership, new byte[] { 2 }), Is.True);

        await Poll.UntilAsync("b's frame reaches a", () => a.Handler.Frames.Any(f => f.Frame is [2]));
        Assert.That(b.Handler.Frames, Is.Empty, "nothing a sends arrives while cut");
        Assert.That(a.StatusOf(2).QueuedBytes, Is.EqualTo(1), "a's frame waits, unacknowledged");

        a.Transport.Heal(b.Self.Node);
        await Poll.UntilAsync("a's frame arrives after the heal", () => b.Handler.Frames.Any(f => f.Frame is [1]));
        Assert.That(a.Handler.Resets + b.Handler.Resets, Is.Zero, "a cut shorter than the session timeout loses nothing");
    }

    [Test]
    public async Task An_inbound_cut_stops_what_this_node_receives()
    {
        await using var pair = await TestNode.StartPairAsync();
        var (a, b) = pair;

        a.Transport.Cut(b.Self.Node, TransportCut.Inbound);
        Assert.That(b.Transport.TrySend(a.Self, TransportLane.Membership, new byte[] { 2 }), Is.True);
        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Membership, new byte[] { 1 }), Is.True);

        await Poll.UntilAsync("a's frame reaches b", () => b.Handler.Frames.Any(f => f.Frame is [1]));
        Assert.That(a.Handler.Frames, Is.Empty, "nothing from b arrives while cut");
        a.Transport.Heal(b.Self.Node);
        await Poll.UntilAsync("b's frame arrives after the heal", () => a.Handler.Frames.Any(f => f.Frame is [2]));
    }

    [Test]
    public void Cutting_a_node_that_is_not_a_peer_is_refused()
    {
        var transport = new TcpTransport(new TcpTransportOptions(), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<TcpTransport>.Instance);

        Assert.Throws<ArgumentException>(() => transport.Cut(new Membership.NodeId(3), TransportCut.Both));
    }
}
