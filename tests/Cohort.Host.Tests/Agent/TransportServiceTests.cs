using Cohort.Cores;
using Cohort.Host.Agent;
using Cohort.Host.Runtime;
using Cohort.Membership;
using Cohort.TestSupport;
using Cohort.Transport;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Cohort.Host.Tests.Agent;

/// <summary>
/// How the host hands a transport's frames to a core routed on the receiving thread
/// (<see cref="TransportService.RouteOnReceivingThread"/>): on the thread that delivered them, once the transport
/// calls <see cref="ITransportHandler.FramesDelivered"/>; posted to the core's own turn by a transport that never
/// does. The "transport" here is the test, calling the handler from a thread of its own as a reader would.
/// </summary>
public sealed class TransportServiceTests : TempDirectoryTest
{
    private const byte Tag = 7;
    private static readonly NodeIncarnation Peer = new(new NodeId(2), 1);

    [Test]
    public async Task A_transport_that_reports_its_batches_has_the_frames_handled_on_its_own_thread_when_the_core_is_idle()
    {
        var core = new FrameCore();
        await using var runtime = Started(core);
        var handler = await HandlerAsync(runtime);

        var reader = OwnThread.Run(() =>
        {
            handler.FramesDelivered(); // an empty batch: the transport is one that reports them
            handler.FrameReceived(Peer, TransportLane.Data, new byte[] { Tag, 1 });
            var whileDelivering = core.ThreadOf(1);
            handler.FramesDelivered();
            return (WhileDelivering: whileDelivering, AfterBatch: core.ThreadOf(1));
        });

        Assert.That(reader.Result.WhileDelivering, Is.Null, "nothing is handled while the transport is still delivering");
        Assert.That(reader.Result.AfterBatch, Is.EqualTo(reader.Thread), "handled by FramesDelivered, on the reader's thread");
    }

    [Test]
    public async Task A_transport_that_never_reports_its_batches_has_every_frame_handled_all_the_same()
    {
        var core = new FrameCore();
        await using var runtime = Started(core);
        var handler = await HandlerAsync(runtime);

        var reader = OwnThread.Run(() =>
        {
            for (byte i = 1; i <= 3; i++)
            {
                handler.FrameReceived(Peer, TransportLane.Data, new byte[] { Tag, i });
            }

            return 0;
        });

        await Poll.UntilAsync("the three frames", () => core.ThreadOf(3) is not null);
        Assert.That(core.Frames, Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(core.ThreadOf(1), Is.Not.EqualTo(reader.Thread), "posted to a turn of the core's own");
    }

    [Test]
    public async Task Frames_on_the_reader_thread_wait_for_a_core_in_recovery_on_a_turn_of_its_own()
    {
        var core = new FrameCore();
        await using var runtime = Started(core);
        var handler = await HandlerAsync(runtime);
        runtime.InlineTurns = false;

        var reader = OwnThread.Run(() =>
        {
            handler.FramesDelivered();
            handler.FrameReceived(Peer, TransportLane.Data, new byte[] { Tag, 1 });
            handler.FramesDelivered();
            return 0;
        });

        await Poll.UntilAsync("the frame", () => core.ThreadOf(1) is not null);
        Assert.That(core.ThreadOf(1), Is.Not.EqualTo(reader.Thread));
    }

    private CoreRuntime Started(FrameCore core)
    {
        var runtime = new CoreRuntime("test", core, Dir.Combine("records"), new FakeTimeProvider(), (_, _, _) => { }, _ => { }, () => { }, NullLogger.Instance);
        runtime.Start(new NodeIncarnation(new NodeId(1), 1));
        return runtime;
    }

    /// <summary>A service routing <see cref="Tag"/> to <paramref name="runtime"/>, once the runtime is idle (its start
    /// handled), so that a frame delivered next finds the core idle.</summary>
    private static async Task<ITransportHandler> HandlerAsync(CoreRuntime runtime)
    {
        var service = new TransportService(new NoTransport(), new TransportStartInfo(new NodeIncarnation(new NodeId(1), 1), "127.0.0.1:0", [], [], new byte[32]),
            "test", NullLogger<TransportService>.Instance);
        service.RouteOnReceivingThread(Tag, runtime);
        await Poll.UntilAsync("the runtime idle after its start", () => runtime.Idle);
        return service;
    }

    /// <summary>Records, for each data frame, its second byte and the thread that handled it.</summary>
    private sealed class FrameCore : IProtocolCore
    {
        private readonly Dictionary<byte, int> _threads = [];
        private readonly List<byte> _frames = [];

        public List<byte> Frames
        {
            get
            {
                lock (_threads)
                {
                    return [.. _frames];
                }
            }
        }

        public int? ThreadOf(byte frame)
        {
            lock (_threads)
            {
                return _threads.TryGetValue(frame, out var thread) ? thread : null;
            }
        }

        public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
        {
            if (input is FrameReceived received)
            {
                lock (_threads)
                {
                    var frame = received.Frame.Span[1];
                    _frames.Add(frame);
                    _threads[frame] = Environment.CurrentManagedThreadId;
                }
            }
        }
    }

    /// <summary>A transport that is never started: the test calls the handler itself.</summary>
    private sealed class NoTransport : ITransport
    {
        public ValueTask StartAsync(TransportStartInfo start, ITransportHandler handler, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public bool TrySend(NodeIncarnation peer, TransportLane lane, ReadOnlyMemory<byte> frame) => false;

        public void UpdatePeers(IReadOnlyList<TransportPeer> peers)
        {
        }

        public TransportStatus GetStatus() => throw new NotSupportedException();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
