using System.Buffers.Binary;
using Cohort.TestSupport;

namespace Cohort.Transport.Tcp.Tests;

public sealed class SessionTests
{
    /// <summary>Short timeouts, so tests of resets need not wait for the defaults.</summary>
    internal static readonly TcpTransportOptions Quick = new()
    {
        PingInterval = TimeSpan.FromMilliseconds(50),
        IdleTimeout = TimeSpan.FromMilliseconds(300),
        SessionTimeout = TimeSpan.FromMilliseconds(800),
        ReconnectDelayMax = TimeSpan.FromMilliseconds(100),
    };

    [Test]
    public async Task Sessions_open_both_ways_and_frames_arrive_in_order_once_on_each_lane()
    {
        await using var pair = await TestNode.StartPairAsync();
        var (a, b) = pair;

        const int count = 2000;
        for (var i = 0; i < count; i++)
        {
            Assert.That(a.Transport.TrySend(b.Self, (TransportLane)(i % 2), Numbered(i)), Is.True);
            Assert.That(b.Transport.TrySend(a.Self, (TransportLane)(i % 2), Numbered(i)), Is.True);
        }

        await Poll.UntilAsync("every frame delivered", () => a.Handler.Frames.Count == count && b.Handler.Frames.Count == count);
        foreach (var (node, peer) in new[] { (a, b), (b, a) })
        {
            foreach (var lane in new[] { TransportLane.Membership, TransportLane.Data })
            {
                Assert.That(Numbers(node.Handler.FramesFrom(peer.Self.Node, lane)), Is.EqualTo(Enumerable.Range(0, count).Where(i => i % 2 == (int)lane)), $"{node.Self} from {peer.Self} on {lane}");
            }
        }

        Assert.That(a.Handler.Resets + b.Handler.Resets, Is.Zero);
        await Poll.UntilAsync("everything acknowledged", () => a.StatusOf(2).QueuedBytes == 0 && b.StatusOf(1).QueuedBytes == 0);
    }

    [Test]
    public async Task A_frame_of_the_largest_size_arrives_whole_and_a_larger_one_is_refused()
    {
        await using var pair = await TestNode.StartPairAsync();
        var (a, b) = pair;
        var largest = Enumerable.Range(0, TransportLimits.MaxFrameBytes).Select(i => (byte)(i * 7)).ToArray();

        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, largest), Is.True);
        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, Array.Empty<byte>()), Is.True, "an empty frame is a frame");
        Assert.Throws<ArgumentException>(() => a.Transport.TrySend(b.Self, TransportLane.Data, new byte[TransportLimits.MaxFrameBytes + 1]));

        await Poll.UntilAsync("both frames delivered", () => b.Handler.Frames.Count == 2);
        var frames = b.Handler.FramesFrom(a.Self.Node, TransportLane.Data).ToList();
        Assert.That(frames[0], Is.EqualTo(largest));
        Assert.That(frames[1], Is.Empty);
    }

    [Test]
    public async Task Sending_to_an_incarnation_without_a_session_fails_instead_of_losing_the_frame()
    {
        await using var pair = await TestNode.StartPairAsync();
        var (a, b) = pair;

        Assert.That(a.Transport.TrySend(b.Self with { Incarnation = 2 }, TransportLane.Data, new byte[] { 1 }), Is.False, "not that incarnation");
        Assert.That(a.Transport.TrySend(new Membership.NodeIncarnation(new Membership.NodeId(9), 1), TransportLane.Data, new byte[] { 1 }), Is.False, "not a configured node");
    }

    [Test]
    public async Task The_session_survives_its_connections_being_dropped_while_frames_flow()
    {
        await using var pair = await TestNode.StartPairAsync();
        var (a, b) = pair;

        const int count = 20_000;
        const int drops = 10;
        for (var i = 0; i < count; i++)
        {
            Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, Numbered(i, 512)), Is.True);
            if (i % (count / drops) == 1000)
            {
                await Poll.UntilAsync("both connections up again", () => a.StatusOf(2).Connected);
                a.Transport.DropConnections(b.Self.Node);
            }
        }

        await Poll.UntilAsync("every frame delivered", () => b.Handler.Frames.Count >= count);
        await Poll.UntilAsync("the drops counted as reconnects", () => a.StatusOf(2).Reconnects >= drops);
        Assert.That(Numbers(b.Handler.FramesFrom(a.Self.Node, TransportLane.Data)), Is.EqualTo(Enumerable.Range(0, count)), "in order, once, none lost");
        Assert.That(a.Handler.Resets + b.Handler.Resets, Is.Zero, "reconnects are not resets");
    }

    [Test]
    public async Task A_peer_that_restarts_gets_a_new_session_and_the_old_one_is_reported_reset()
    {
        await using var a = await TestNode.StartAsync(1, 2, []);
        var b1 = await TestNode.StartAsync(2, 2, [a.Address]);
        await Poll.UntilAsync("session with 2#1", () => a.HasSession(b1.Self));
        await b1.DisposeAsync();

        await using var b2 = await TestNode.StartAsync(2, 2, [a.Address], incarnation: 2);
        await Poll.UntilAsync("session with 2#2", () => a.HasSession(b2.Self));

        Assert.That(a.Handler.Events.Where(e => e.Contains("2#", StringComparison.Ordinal)), Is.EqualTo(new[] { "open 2#1", "reset 2#1: the peer restarted as incarnation 2", "open 2#2" }));
        Assert.That(a.Transport.TrySend(b1.Self, TransportLane.Data, new byte[] { 1 }), Is.False, "the old incarnation is gone");
        Assert.That(a.Transport.TrySend(b2.Self, TransportLane.Data, new byte[] { 2 }), Is.True);
        await Poll.UntilAsync("the frame reaches the new incarnation", () => b2.Handler.Frames.Count == 1);
    }

    [Test]
    public async Task An_older_incarnation_is_refused_once_a_newer_one_was_heard()
    {
        await using var a = await TestNode.StartAsync(1, 2, []);
        await using var newer = await TestNode.StartAsync(2, 2, [a.Address], incarnation: 5);
        await Poll.UntilAsync("session with 2#5", () => a.HasSession(newer.Self));

        await using var older = await TestNode.StartAsync(2, 2, [a.Address], incarnation: 4);
        await Poll.UntilAsync("the older incarnation refused", () => a.Transport.GetStatus().LastRefusal?.Contains("incarnation 4 is excluded", StringComparison.Ordinal) == true);

        Assert.That(older.Handler.Events.Where(e => e.StartsWith("open", StringComparison.Ordinal)), Is.Empty);
        Assert.That(a.HasSession(newer.Self), Is.True);
    }

    [Test]
    public async Task Frames_a_dead_peer_never_acknowledges_reset_the_session_after_the_timeout()
    {
        await using var a = await TestNode.StartAsync(1, 2, [], options: Quick);
        var b = await TestNode.StartAsync(2, 2, [a.Address], options: Quick);
        await Poll.UntilAsync("sessions open", () => a.HasSession(b.Self));
        await b.DisposeAsync();

        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, new byte[] { 1 }), Is.True, "queued: the transport cannot know yet");

        await Poll.UntilAsync("the session reset", () => a.Handler.Resets == 1);
        Assert.That(a.Handler.Events.Last(), Does.StartWith("reset 2#1: no acknowledgement from the peer for 0.8 s"));
        Assert.That(a.StatusOf(2).SessionOpen, Is.False);
        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, new byte[] { 1 }), Is.False);
    }

    [Test]
    public async Task A_reset_at_one_end_is_reported_at_the_other_and_a_new_session_follows_at_both()
    {
        await using var pair = await TestNode.StartPairAsync(Quick);
        var (a, b) = pair;

        a.Transport.Cut(b.Self.Node, TransportCut.Outbound);
        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, new byte[] { 1 }), Is.True);
        await Poll.UntilAsync("a resets: its frame went unacknowledged", () => a.Handler.Resets == 1);
        a.Transport.Heal(b.Self.Node);

        await Poll.UntilAsync("b learns of the reset", () => b.Handler.Resets == 1);
        await Poll.UntilAsync("a new session at both ends", () => a.HasSession(b.Self) && b.HasSession(a.Self));
        Assert.That(b.Handler.Events, Is.EqualTo(new[] { "open 1#1", "reset 1#1: the peer reset the session", "open 1#1" }));
        Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, new byte[] { 7 }), Is.True);
        await Poll.UntilAsync("a frame on the new session", () => b.Handler.Frames.Any(f => f.Frame is [7]));
        Assert.That(b.Handler.Frames.Any(f => f.Frame is [1]), Is.False, "the frame of the reset session was not delivered after the reset");
    }

    [Test]
    public async Task More_queued_than_the_limit_resets_the_session_rather_than_growing_without_bound()
    {
        var options = Quick with { MaxQueuedMegabytes = 2, SessionTimeout = TimeSpan.FromSeconds(30) };
        await using var a = await TestNode.StartAsync(1, 2, [], options: options);
        await using var b = await TestNode.StartAsync(2, 2, [a.Address], options: options);
        await Poll.UntilAsync("sessions open", () => a.HasSession(b.Self));
        a.Transport.Cut(b.Self.Node, TransportCut.Outbound);

        var accepted = 0;
        while (accepted < 10 && a.Transport.TrySend(b.Self, TransportLane.Data, new byte[512 * 1024]))
        {
            accepted++;
        }

        Assert.That(accepted, Is.EqualTo(4), "2 MiB queued; the fifth half-MiB frame overflows");
        Assert.That(a.Handler.Events.Last(), Is.EqualTo("reset 2#1: more than 2 MiB queued to the peer and not acknowledged"));
    }

    internal static byte[] Numbered(int i, int size = 64)
    {
        var frame = new byte[size];
        BinaryPrimitives.WriteInt32LittleEndian(frame, i);
        return frame;
    }

    internal static List<int> Numbers(IEnumerable<byte[]> frames) => [.. frames.Select(f => BinaryPrimitives.ReadInt32LittleEndian(f))];
}
