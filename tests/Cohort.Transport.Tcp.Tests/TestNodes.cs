using System.Collections.Concurrent;
using Cohort.Membership;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cohort.Transport.Tcp.Tests;

/// <summary>What a transport told its handler, in order.</summary>
public sealed class RecordingHandler : ITransportHandler
{
    private readonly ConcurrentQueue<string> _events = new();

    public ConcurrentDictionary<NodeIncarnation, bool> Open { get; } = new();

    public ConcurrentQueue<(NodeIncarnation Peer, TransportLane Lane, byte[] Frame)> Frames { get; } = new();

    public IReadOnlyCollection<string> Events => _events;

    public int Resets => _events.Count(e => e.StartsWith("reset", StringComparison.Ordinal));

    public void SessionOpened(NodeIncarnation peer)
    {
        Open[peer] = true;
        _events.Enqueue($"open {peer}");
    }

    public void FrameReceived(NodeIncarnation peer, TransportLane lane, ReadOnlyMemory<byte> frame) =>
        Frames.Enqueue((peer, lane, frame.ToArray()));

    public void SessionReset(NodeIncarnation peer, string reason)
    {
        Open.TryRemove(peer, out _);
        _events.Enqueue($"reset {peer}: {reason}");
    }

    public IEnumerable<byte[]> FramesFrom(NodeId node, TransportLane lane) =>
        Frames.Where(f => f.Peer.Node == node && f.Lane == lane).Select(f => f.Frame);
}

/// <summary>A transport under test with its handler.</summary>
public sealed class TestNode : IAsyncDisposable
{
    private TestNode(NodeIncarnation self, TcpTransport transport, RecordingHandler handler)
    {
        Self = self;
        Transport = transport;
        Handler = handler;
    }

    public NodeIncarnation Self { get; }

    internal TcpTransport Transport { get; }

    public RecordingHandler Handler { get; }

    public string Address => Transport.GetStatus().ListenAddress;

    public static readonly byte[] Key = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();

    /// <summary>Starts node <paramref name="id"/> of a cluster of nodes 1..<paramref name="clusterSize"/>
    /// on a free loopback port, dialing <paramref name="seeds"/>.</summary>
    public static async Task<TestNode> StartAsync(int id, int clusterSize, IEnumerable<string> seeds, long incarnation = 1, byte[]? key = null, TcpTransportOptions? options = null, IReadOnlyDictionary<int, string>? addresses = null, ITransportHandler? handler = null, bool admitUnlisted = false)
    {
        var self = new NodeIncarnation(new NodeId(id), incarnation);
        var transport = new TcpTransport(options ?? new TcpTransportOptions(), TimeProvider.System, NullLogger<TcpTransport>.Instance);
        var recorder = new RecordingHandler();
        var peers = Enumerable.Range(1, clusterSize).Where(n => n != id)
            .Select(n => new TransportPeer(new NodeId(n), addresses?.GetValueOrDefault(n))).ToList();
        await transport.StartAsync(new TransportStartInfo(self, "127.0.0.1:0", peers, [.. seeds], key ?? Key, admitUnlisted), handler ?? recorder, CancellationToken.None);
        return new TestNode(self, transport, recorder);
    }

    /// <summary>Starts nodes 1 and 2 of a two-node cluster (2 dials 1) and waits until both hold a
    /// session and both connections are up (a session opens with the first of them; a test that cuts a
    /// link one way must not catch the second still in its handshake).</summary>
    public static async Task<TestPair> StartPairAsync(TcpTransportOptions? options = null)
    {
        var a = await StartAsync(1, 2, [], options: options);
        var b = await StartAsync(2, 2, [a.Address], options: options);
        await Cohort.TestSupport.Poll.UntilAsync("sessions open and connected at both ends", () =>
            a.HasSession(b.Self) && b.HasSession(a.Self) && a.StatusOf(2).Connected && b.StatusOf(1).Connected);
        return new TestPair(a, b);
    }

    public TransportPeerStatus StatusOf(int node) => Transport.GetStatus().Peers.Single(p => p.Node.Value == node);

    public bool HasSession(NodeIncarnation peer) => Handler.Open.ContainsKey(peer);

    public ValueTask DisposeAsync() => Transport.DisposeAsync();
}

/// <summary>Two nodes with sessions open, stopped together.</summary>
public sealed class TestPair(TestNode a, TestNode b) : IAsyncDisposable
{
    public void Deconstruct(out TestNode first, out TestNode second) => (first, second) = (a, b);

    public async ValueTask DisposeAsync()
    {
        await b.DisposeAsync();
        await a.DisposeAsync();
    }
}
