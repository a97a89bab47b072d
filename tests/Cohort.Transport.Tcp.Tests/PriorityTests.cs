using System.Collections.Concurrent;
using System.Diagnostics;
using Cohort.Membership;
using Cohort.TestSupport;

namespace Cohort.Transport.Tcp.Tests;

public sealed class PriorityTests
{
    [Test]
    public async Task Membership_frames_overtake_100_MB_of_queued_data()
    {
        var handler = new OrderRecorder();
        await using var b = await TestNode.StartAsync(2, 2, [], handler: handler);
        await using var a = await TestNode.StartAsync(1, 2, [b.Address]);
        await Poll.UntilAsync("sessions open", () => a.HasSession(b.Self));

        const int dataFrames = 100;
        var chunk = new byte[TransportLimits.MaxFrameBytes];
        for (var i = 0; i < dataFrames; i++)
        {
            Assert.That(a.Transport.TrySend(b.Self, TransportLane.Data, chunk), Is.True);
        }

        // A heartbeat every time another 10 MB have arrived, while the rest is still queued behind.
        var heartbeats = new List<(int Sent, Stopwatch Clock)>();
        for (var target = 10; target < dataFrames; target += 10)
        {
            await Poll.UntilAsync($"{target} data frames delivered", () => handler.DataDelivered >= target, TimeSpan.FromSeconds(120));
            // Count what was delivered once the heartbeat is queued, not before: on a loaded machine this
            // thread may be descheduled between the two, while data keeps flowing.
            Assert.That(a.Transport.TrySend(b.Self, TransportLane.Membership, new byte[] { (byte)(heartbeats.Count + 1) }), Is.True);
            heartbeats.Add((handler.DataDelivered, Stopwatch.StartNew()));
        }

        await Poll.UntilAsync("everything delivered", () => handler.DataDelivered == dataFrames && handler.Heartbeats.Count == heartbeats.Count, TimeSpan.FromSeconds(120));

        // What may still pass a heartbeat: what the kernel's socket buffers can hold (Linux grows them up to
        // tcp_wmem and tcp_rmem's maxima), the chunk being written and the one being read.
        var buffered = (int)Math.Ceiling((double)(KernelMaximum("tcp_wmem") + KernelMaximum("tcp_rmem")) / chunk.Length) + 2;
        Assume.That(buffered, Is.LessThan(dataFrames - 10), "socket buffers hold nearly all the data: nothing to overtake");
        for (var i = 0; i < heartbeats.Count; i++)
        {
            var (sent, _) = heartbeats[i];
            var (beat, deliveredBefore, latency) = handler.Heartbeats.ElementAt(i);
            TestContext.Out.WriteLine($"heartbeat {beat}: sent with {sent} MB delivered and {dataFrames - sent} MB queued; arrived after {deliveredBefore - sent} more MB, {latency.TotalMilliseconds:0.0} ms after the previous data frame");
            // Without the priority lane it would wait for every frame queued before it (up to 90 MB);
            // with it, only for what is already in socket buffers and the chunk being written.
            Assert.That(deliveredBefore - sent, Is.LessThanOrEqualTo(buffered), $"heartbeat {beat} did not overtake the queued data");
        }
    }

    /// <summary>The largest size, in bytes, Linux lets a TCP socket buffer grow to (the third number of
    /// /proc/sys/net/ipv4/<paramref name="name"/>).</summary>
    private static long KernelMaximum(string name) =>
        long.Parse(File.ReadAllText($"/proc/sys/net/ipv4/{name}").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[2]);

    /// <summary>Counts data frames and notes, for each membership frame, how many data frames came first.</summary>
    private sealed class OrderRecorder : ITransportHandler
    {
        private int _data;
        private long _lastData = Stopwatch.GetTimestamp();

        public int DataDelivered => Volatile.Read(ref _data);

        public ConcurrentQueue<(int Beat, int DataBefore, TimeSpan SinceData)> Heartbeats { get; } = new();

        public void SessionOpened(NodeIncarnation peer)
        {
        }

        public void FrameReceived(NodeIncarnation peer, TransportLane lane, ReadOnlyMemory<byte> frame)
        {
            if (lane == TransportLane.Data)
            {
                Interlocked.Increment(ref _data);
                _lastData = Stopwatch.GetTimestamp();
            }
            else
            {
                Heartbeats.Enqueue((frame.Span[0], DataDelivered, Stopwatch.GetElapsedTime(_lastData)));
            }
        }

        public void SessionReset(NodeIncarnation peer, string reason)
        {
        }
    }
}
