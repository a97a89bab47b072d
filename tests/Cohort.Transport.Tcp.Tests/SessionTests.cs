using System.Buffers.Binary;
using Cohort.TestSupport;

namespace Cohort.Transport.Tcp.Tests;

public sealed class SessionTests
{
    [Test]
    public async Task Sessions_open_both_ways_and_frames_arrive_in_order_once_on_each_lane()
    {
        await using var a = await TestNode.StartAsync(1, 2, []);
        await using var b = await TestNode.StartAsync(2, 2, [a.Address]);
        await Poll.UntilAsync("sessions open at both ends", () => a.HasSession(b.Self) && b.HasSession(a.Self));

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
                var numbers = node.Handler.FramesFrom(peer.Self.Node, lane).Select(f => BinaryPrimitives.ReadInt32LittleEndian(f)).ToList();
                Assert.That(numbers, Is.EqualTo(Enumerable.Range(0, count).Where(i => i % 2 == (int)lane)), $"{node.Self} from {peer.Self} on {lane}");
            }
        }

        Assert.That(a.Handler.Resets + b.Handler.Resets, Is.Zero);
    }

    internal static byte[] Numbered(int i, int size = 64)
    {
        var frame = new byte[size];
        BinaryPrimitives.WriteInt32LittleEndian(frame, i);
        return frame;
    }
}
