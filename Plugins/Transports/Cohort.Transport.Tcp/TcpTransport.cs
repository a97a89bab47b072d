using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Cohort.Membership;
using Microsoft.Extensions.Logging;

namespace Cohort.Transport.Tcp;

/// <summary>
/// The <c>tcp</c> transport: one session per peer incarnation, carried by two TCP connections, one
/// dialed by each end. A node's frames travel on the connection it dialed, and the peer's
/// acknowledgements come back on it; so each direction of a session has exactly one owner, which
/// redials it when it breaks, and no two ends ever race to pick a connection.
/// </summary>
/// <remarks>
/// docs/transport.md describes the protocol: the handshake, the record layer, resumption, epochs,
/// timeouts and fault injection.
/// </remarks>
public sealed partial class TcpTransport : ITransport, ITransportFaults
{
    private const int MaxConcurrentHandshakes = 64;
    private const int MaxRefusalKeys = 1024;

    private readonly TcpTransportOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<TcpTransport> _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _sync = new();
    private readonly HashSet<Task> _tasks = [];
    private readonly HashSet<string> _refusalsLogged = new(StringComparer.Ordinal);
    /// <summary>The peers by node id; replaced as a whole (under <see cref="_sync"/>) when a peer is added
    /// or dropped, so readers need no lock.</summary>
    private volatile Dictionary<int, PeerLink> _links = [];
    private ITransportHandler? _handler;
    private bool _admitUnlisted;
    private NodeIncarnation _self;
    private byte[] _key = [];
    private Socket? _listener;
    private string _listenAddress = "";
    private int _handshaking;
    private long _refused;
    private string? _lastRefusal;

    /// <summary>Creates the transport; nothing happens until <see cref="StartAsync"/>.</summary>
    public TcpTransport(TcpTransportOptions options, TimeProvider time, ILogger<TcpTransport> logger)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <inheritdoc />
    /// <remarks>A listen port of 0 binds a free port; <see cref="GetStatus"/> shows which.</remarks>
    public async ValueTask StartAsync(TransportStartInfo start, ITransportHandler handler, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(handler);
        if (start.ClusterKey.Length < 16)
        {
            throw new ArgumentException("the cluster key must be at least 16 bytes", nameof(start));
        }

        _self = start.Local;
        _key = start.ClusterKey.ToArray();
        _handler = handler;
        _admitUnlisted = start.AdmitUnlisted;
        _links = start.Peers
            .Where(p => p.Node != start.Local.Node)
            .DistinctBy(p => p.Node)
            .ToDictionary(p => p.Node.Value, p => new PeerLink(p.Node, p.Address, handler, _options, _time, _logger));
        _listener = await BindAsync(start.ListenAddress, cancellationToken).ConfigureAwait(false);
        var bound = (IPEndPoint)_listener.LocalEndPoint!;
        _listenAddress = Endpoints.Format(bound.Address, bound.Port);
        LogListening(_logger, _self, _listenAddress, _links.Count, start.Seeds.Count);

        Track(AcceptLoopAsync());
        Track(MaintainLoopAsync());
        foreach (var link in _links.Values)
        {
            Track(DialLoopAsync(link));
        }

        foreach (var seed in start.Seeds.Distinct(StringComparer.Ordinal))
        {
            Track(SeedLoopAsync(seed));
        }
    }

    /// <inheritdoc />
    public bool TrySend(NodeIncarnation peer, TransportLane lane, ReadOnlyMemory<byte> frame)
    {
        if (frame.Length > TransportLimits.MaxFrameBytes)
        {
            throw new ArgumentException($"a frame is at most {TransportLimits.MaxFrameBytes} bytes, this one {frame.Length}", nameof(frame));
        }

        if (lane is not (TransportLane.Membership or TransportLane.Data))
        {
            throw new ArgumentOutOfRangeException(nameof(lane), lane, "unknown lane");
        }

        if (!_links.TryGetValue(peer.Node.Value, out var link))
        {
            return false;
        }

        Connection? connection;
        lock (link.Sync)
        {
            if (!link.TrySend(peer.Incarnation, lane, frame.Span))
            {
                return false;
            }

            connection = link.Out;
        }

        if (connection is not null && !WriteInline(link, connection))
        {
            connection.Wake.Set();
        }

        return true;
    }

    /// <inheritdoc />
    public void UpdatePeers(IReadOnlyList<TransportPeer> peers)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var wanted = peers.Where(p => p.Node != _self.Node).DistinctBy(p => p.Node).ToDictionary(p => p.Node.Value);
        lock (_sync)
        {
            if (Stopping || _handler is null)
            {
                return;
            }

            var links = new Dictionary<int, PeerLink>(_links);
            foreach (var (node, link) in _links)
            {
                if (wanted.ContainsKey(node) || _admitUnlisted)
                {
                    continue;
                }

                links.Remove(node);
                lock (link.Sync)
                {
                    link.Removed = true;
                    link.Reset($"node {node} is no longer in the node list");
                    link.CloseConnections();
                }

                LogPeerDropped(_logger, link.Node);
            }

            foreach (var (node, peer) in wanted)
            {
                if (links.TryGetValue(node, out var link))
                {
                    lock (link.Sync)
                    {
                        if (peer.Address is not null && peer.Address != link.ConfiguredAddress)
                        {
                            link.ConfiguredAddress = peer.Address;
                            link.DialWake.Set();
                        }
                    }

                    continue;
                }

                links[node] = AddLink(peer.Node, peer.Address);
                LogPeerAdded(_logger, peer.Node, peer.Address ?? "(no address: it dials in)");
            }

            _links = links;
        }
    }

    /// <summary>A link to a node not listed yet, dialed from now on; the caller holds <see cref="_sync"/>
    /// and publishes it in <see cref="_links"/>.</summary>
    private PeerLink AddLink(NodeId node, string? address)
    {
        var link = new PeerLink(node, address, _handler!, _options, _time, _logger);
        _tasks.Add(Task.Run(() => DialLoopAsync(link)));
        return link;
    }

    /// <summary>How many peers a transport that admits unlisted nodes takes on: a handshake asks for a
    /// link before its proof is checked, so unauthenticated hellos must not grow the table without bound.</summary>
    internal const int MaxUnlistedPeers = 256;

    /// <summary>The link of a node that proved nothing yet: a listed one, else (when unlisted nodes are
    /// admitted) a new one; null when the node is not admitted.</summary>
    private PeerLink? LinkFor(int node)
    {
        if (_links.TryGetValue(node, out var link) || !_admitUnlisted)
        {
            return link;
        }

        lock (_sync)
        {
            if (Stopping || _links.Count >= MaxUnlistedPeers)
            {
                return null;
            }

            if (!_links.TryGetValue(node, out link))
            {
                link = AddLink(new NodeId(node), null);
                _links = new Dictionary<int, PeerLink>(_links) { [node] = link };
            }

            return link;
        }
    }

    /// <inheritdoc />
    public TransportStatus GetStatus()
    {
        var peers = new List<TransportPeerStatus>(_links.Count);
        foreach (var link in _links.Values.OrderBy(l => l.Node.Value))
        {
            lock (link.Sync)
            {
                peers.Add(link.Status());
            }
        }

        lock (_sync)
        {
            return new TransportStatus(_listenAddress, peers, _refused, _lastRefusal);
        }
    }

    /// <inheritdoc />
    public void Cut(NodeId peer, TransportCut directions)
    {
        var link = LinkOf(peer);
        lock (link.Sync)
        {
            link.SetCut(link.Cut | directions);
        }

        LogCut(_logger, peer, link.Cut);
    }

    /// <inheritdoc />
    public void Heal(NodeId peer)
    {
        var link = LinkOf(peer);
        lock (link.Sync)
        {
            link.SetCut(TransportCut.None);
        }

        LogCut(_logger, peer, TransportCut.None);
    }

    /// <summary>Closes the connections to and from a peer, keeping the session, as a network glitch would (tests).</summary>
    internal void DropConnections(NodeId peer)
    {
        var link = LinkOf(peer);
        lock (link.Sync)
        {
            link.CloseConnections();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        foreach (var link in _links.Values)
        {
            lock (link.Sync)
            {
                link.CloseConnections();
                link.SetCut(TransportCut.None);
            }
        }

        Task[] tasks;
        lock (_sync)
        {
            tasks = [.. _tasks];
        }

        try
        {
            await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            LogStopSlow(_logger);
        }

        _stop.Dispose();
    }

    private PeerLink LinkOf(NodeId peer) =>
        _links.TryGetValue(peer.Value, out var link) ? link : throw new ArgumentException($"node {peer} is not a configured peer of node {_self.Node}", nameof(peer));

    private static async Task<Socket> BindAsync(string address, CancellationToken cancellationToken)
    {
        IPEndPoint endpoint;
        try
        {
            endpoint = await Endpoints.ResolveAsync(address, cancellationToken, allowAnyPort: true).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or FormatException)
        {
            throw new InvalidOperationException($"cannot listen on {address}: {ex.Message}", ex);
        }

        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(128);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new InvalidOperationException($"cannot listen on {address}: {ex.Message}", ex);
        }
    }

    private void Track(Task task)
    {
        lock (_sync)
        {
            _tasks.RemoveWhere(t => t.IsCompleted);
            _tasks.Add(task);
        }
    }

    private long Now => _time.GetTimestamp();

    private bool Stopping => _stop.IsCancellationRequested;

    // ---- accepting ----

    private async Task AcceptLoopAsync()
    {
        while (!Stopping)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // the peer gave up before accept: nothing to do
            }

            if (Interlocked.Increment(ref _handshaking) > MaxConcurrentHandshakes)
            {
                Interlocked.Decrement(ref _handshaking);
                Refused(RemoteOf(socket), null, $"more than {MaxConcurrentHandshakes} handshakes at once", counted: true);
                socket.Dispose();
                continue;
            }

            Track(AcceptOneAsync(socket));
        }
    }

    private async Task AcceptOneAsync(Socket socket)
    {
        var remote = RemoteOf(socket);
        socket.NoDelay = true;
        var stream = new NetworkStream(socket, ownsSocket: true);
        Connection? connection = null;
        PeerLink? link = null;
        var attached = false;
        var handshaking = true;
        using var timer = new CancellationTokenSource(_options.HandshakeTimeout, _time);
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timer.Token);
        var ct = handshake.Token;
        try
        {
            var helloBody = await HandshakeIo.ReadAsync(stream, ct).ConfigureAwait(false);
            var hello = Handshake.DecodeClientHello(helloBody)
                ?? throw new RefusedException("bytes that are not a Cohort handshake", malformed: true);
            if (hello.Node == _self.Node.Value)
            {
                await RefuseAsync(stream, $"node {hello.Node} is this node's own id", ct).ConfigureAwait(false);
            }

            if ((link = LinkFor(hello.Node)) is null)
            {
                await RefuseAsync(stream, $"node {hello.Node} is not in the node list of node {_self.Node}", ct).ConfigureAwait(false);
            }

            if (hello.Target != 0 && hello.Target != _self.Node.Value)
            {
                await RefuseAsync(stream, $"this is node {_self.Node}, not node {hello.Target}", ct).ConfigureAwait(false);
            }

            await link!.OutGate.WaitAsync(ct).ConfigureAwait(false);
            var nonce = RandomNumberGenerator.GetBytes(Handshake.NonceBytes);
            var transcript = Handshake.Transcript(helloBody, _self.Node.Value, _self.Incarnation, nonce);
            var acceptorProof = Handshake.AcceptorProof(_key, transcript);
            await HandshakeIo.WriteAsync(stream, Handshake.Encode(new ServerHello(_self.Node.Value, _self.Incarnation, nonce, acceptorProof)), ct).ConfigureAwait(false);

            await link.InGate.WaitAsync(ct).ConfigureAwait(false);
            var proofBody = await HandshakeIo.ReadAsync(stream, ct).ConfigureAwait(false);
            var proof = Handshake.DecodeClientProof(proofBody)
                ?? throw (Handshake.DecodeRefusal(proofBody) is { } refusal
                    ? new RefusedException($"node {hello.Node} refused the handshake: {refusal.Reason}")
                    : new RefusedException($"node {hello.Node} sent a malformed proof", malformed: true));
            if (!Handshake.ProofMatches(Handshake.DialerProof(_key, transcript, acceptorProof), proof.Proof))
            {
                await RefuseAsync(stream, $"the proof of the cluster key from node {hello.Node} is wrong (the keys differ)", ct).ConfigureAwait(false);
            }

            await HandshakeIo.WriteAsync(stream, Handshake.EncodeAccepted(), ct).ConfigureAwait(false);
            var (dialerToAcceptor, acceptorToDialer) = Handshake.DeriveKeys(_key, transcript, hello.Nonce, nonce);
            connection = new Connection(socket, stream, acceptorToDialer, dialerToAcceptor, remote, outbound: false, Now);
            var resume = await connection.ReadFirstAsync(RecordKind.Resume, ct).ConfigureAwait(false);
            var epoch = BinaryPrimitives.ReadInt64LittleEndian(resume);
            if (epoch < 1)
            {
                throw new RefusedException($"node {hello.Node} resumed epoch {epoch}", malformed: true);
            }

            var resumed = new byte[24];
            lock (link.Sync)
            {
                if (link.Removed)
                {
                    throw new RefusedException($"node {hello.Node} was dropped from the node list during the handshake");
                }

                if (!link.Observe(hello.Incarnation))
                {
                    throw new RefusedException($"node {hello.Node} incarnation {hello.Incarnation} is excluded: incarnation {link.Incarnation} is newer");
                }

                var agreed = link.Reconcile(epoch);
                connection.Epoch = agreed;
                BinaryPrimitives.WriteInt64LittleEndian(resumed, agreed);
                Records.WriteLanePair(resumed.AsSpan(8), link.Session!.Delivered[0], link.Session.Delivered[1]);
                link.Attach(connection);
                attached = true;
                LearnAdvertised(link, hello.ListenAddress, socket);
            }

            await link.OutGate.WaitAsync(ct).ConfigureAwait(false);
            await connection.WriteRecordAsync(RecordKind.Resumed, resumed, ct).ConfigureAwait(false);
            Interlocked.Decrement(ref _handshaking);
            handshaking = false;
        }
        catch (RefusedException ex)
        {
            Refused(remote, link?.Node, ex.Message, counted: true);
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !Stopping)
        {
            var cut = link is not null && link.Cut != TransportCut.None;
            Refused(remote, link?.Node, $"no handshake within {_options.HandshakeTimeout.TotalMilliseconds} ms", counted: !cut);
        }
        catch (Exception ex) when (ex is IOException or SocketException or EndOfStreamException or OperationCanceledException or ObjectDisposedException)
        {
            LogHandshakeLost(_logger, remote, ex.Message);
        }

        if (!handshaking)
        {
            await RunAsync(link!, connection!, inbound: true).ConfigureAwait(false);
            return;
        }

        Interlocked.Decrement(ref _handshaking);
        if (attached && link is not null)
        {
            lock (link.Sync)
            {
                link.Detach(connection!);
            }
        }

        if (connection is not null)
        {
            connection.Dispose();
        }
        else
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Tells the other end why, then ends the handshake.</summary>
    private static async Task RefuseAsync(NetworkStream stream, string reason, CancellationToken ct, string? locally = null)
    {
        try
        {
            await HandshakeIo.WriteAsync(stream, Handshake.Encode(new Refusal(reason)), ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
            // It is gone already; the refusal stands.
        }

        throw new RefusedException(locally ?? reason);
    }

    /// <summary>Remembers where a peer that dialed in listens, for peers this node has no address for.</summary>
    private static void LearnAdvertised(PeerLink link, string advertised, Socket socket)
    {
        if (!Endpoints.TryParse(advertised, out var host, out var port, out _))
        {
            return;
        }

        // A peer listening on every interface announces 0.0.0.0 or ::; it is reachable where it came from.
        if (IPAddress.TryParse(host, out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)) && socket.RemoteEndPoint is IPEndPoint from)
        {
            advertised = Endpoints.Format(from.Address, port);
        }

        if (link.AdvertisedAddress != advertised)
        {
            link.AdvertisedAddress = advertised;
            link.DialWake.Set();
        }
    }

    // ---- dialing ----

    private async Task DialLoopAsync(PeerLink link)
    {
        var backoff = TcpTransportOptions.ReconnectDelayMin;
        while (!Stopping && !link.Removed)
        {
            string? address;
            lock (link.Sync)
            {
                address = link.Out is null ? link.DialAddress : null;
            }

            if (address is null)
            {
                try
                {
                    await link.DialWake.WaitAsync(TimeSpan.FromSeconds(1), _time, _stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            var established = await DialAndRunAsync(address, link).ConfigureAwait(false) == DialResult.Established;
            backoff = established ? TcpTransportOptions.ReconnectDelayMin : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.ReconnectDelayMax.Ticks));
            if (!await DelayAsync(backoff).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    /// <summary>Dials a seed until it answers; a seed that is this node is dropped.</summary>
    private async Task SeedLoopAsync(string seed)
    {
        var backoff = TcpTransportOptions.ReconnectDelayMin;
        while (!Stopping)
        {
            if (await DialAndRunAsync(seed, expected: null).ConfigureAwait(false) != DialResult.Failed)
            {
                return; // resolved: the peer's own dial loop keeps its connection from now on
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.ReconnectDelayMax.Ticks));
            if (!await DelayAsync(backoff).ConfigureAwait(false))
            {
                return;
            }
        }
    }

    private enum DialResult
    {
        Failed,
        Established,
        Self,
    }

    /// <summary>Dials once; on success runs the connection until it ends.</summary>
    private async Task<DialResult> DialAndRunAsync(string address, PeerLink? expected)
    {
        Connection? connection = null;
        PeerLink? link = expected;
        try
        {
            (link, connection) = await DialAsync(address, expected).ConfigureAwait(false);
        }
        catch (SelfSeedException)
        {
            LogSelfSeed(_logger, address);
            return DialResult.Self;
        }
        catch (RefusedException ex)
        {
            Refused(address, link?.Node, ex.Message, counted: true);
            return DialResult.Failed;
        }
        catch (Exception ex) when (ex is IOException or SocketException or EndOfStreamException or OperationCanceledException or FormatException or ObjectDisposedException)
        {
            LogDialFailed(_logger, address, expected?.Node.Value ?? 0, ex.Message);
            return DialResult.Failed;
        }

        await RunAsync(link, connection, inbound: false).ConfigureAwait(false);
        return DialResult.Established;
    }

    private async Task<(PeerLink Link, Connection Connection)> DialAsync(string address, PeerLink? expected)
    {
        using var timer = new CancellationTokenSource(_options.HandshakeTimeout, _time);
        using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, timer.Token);
        var ct = handshake.Token;
        var endpoint = await Endpoints.ResolveAsync(address, ct).ConfigureAwait(false);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        NetworkStream? stream = null;
        Connection? connection = null;
        try
        {
            await socket.ConnectAsync(endpoint, ct).ConfigureAwait(false);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (expected is not null)
            {
                await expected.OutGate.WaitAsync(ct).ConfigureAwait(false);
            }

            var nonce = RandomNumberGenerator.GetBytes(Handshake.NonceBytes);
            var helloBody = Handshake.Encode(new ClientHello(_self.Node.Value, _self.Incarnation, expected?.Node.Value ?? 0, nonce, _listenAddress));
            await HandshakeIo.WriteAsync(stream, helloBody, ct).ConfigureAwait(false);
            if (expected is not null)
            {
                await expected.InGate.WaitAsync(ct).ConfigureAwait(false);
            }

            var server = Handshake.DecodeServerReply(await HandshakeIo.ReadAsync(stream, ct).ConfigureAwait(false)) switch
            {
                ServerHello hello => hello,
                Refusal refusal => throw new RefusedException($"{address} refused the handshake: {refusal.Reason}"),
                _ => throw new RefusedException($"{address} answered with bytes that are not a Cohort handshake", malformed: true),
            };
            if (server.Node == _self.Node.Value)
            {
                throw new SelfSeedException();
            }

            if (LinkFor(server.Node) is not { } link)
            {
                throw new RefusedException($"{address} is node {server.Node}, which is not in the node list");
            }

            if (expected is not null && link != expected)
            {
                throw new RefusedException($"{address} is node {server.Node}, not node {expected.Node}");
            }

            var transcript = Handshake.Transcript(helloBody, server.Node, server.Incarnation, server.Nonce);
            if (!Handshake.ProofMatches(Handshake.AcceptorProof(_key, transcript), server.Proof))
            {
                await RefuseAsync(stream, $"the proof of the cluster key from node {server.Node} is wrong (the keys differ)", ct, $"node {server.Node} at {address} did not prove the cluster key (the keys differ)").ConfigureAwait(false);
            }

            await link.OutGate.WaitAsync(ct).ConfigureAwait(false);
            await HandshakeIo.WriteAsync(stream, Handshake.Encode(new ClientProof(Handshake.DialerProof(_key, transcript, server.Proof))), ct).ConfigureAwait(false);
            await link.InGate.WaitAsync(ct).ConfigureAwait(false);
            switch (Handshake.DecodeVerdict(await HandshakeIo.ReadAsync(stream, ct).ConfigureAwait(false)))
            {
                case Accepted:
                    break;
                case Refusal refusal:
                    throw new RefusedException($"{address} refused the handshake: {refusal.Reason}");
                default:
                    throw new RefusedException($"{address} answered the proof with bytes that are not a Cohort handshake", malformed: true);
            }

            var (dialerToAcceptor, acceptorToDialer) = Handshake.DeriveKeys(_key, transcript, nonce, server.Nonce);
            connection = new Connection(socket, stream, dialerToAcceptor, acceptorToDialer, address, outbound: true, Now);
            long epoch;
            lock (link.Sync)
            {
                if (link.Removed)
                {
                    throw new RefusedException($"{address} is node {server.Node}, dropped from the node list during the handshake");
                }

                if (!link.Observe(server.Incarnation))
                {
                    throw new RefusedException($"{address} is node {server.Node} incarnation {server.Incarnation}, excluded: incarnation {link.Incarnation} is newer");
                }

                epoch = link.Epoch;
            }

            var resume = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(resume, epoch);
            await connection.WriteRecordAsync(RecordKind.Resume, resume, ct).ConfigureAwait(false);
            var resumed = await connection.ReadFirstAsync(RecordKind.Resumed, ct).ConfigureAwait(false);
            var agreed = BinaryPrimitives.ReadInt64LittleEndian(resumed);
            var (membership, data) = Records.ReadLanePair(resumed.AsSpan(8));
            lock (link.Sync)
            {
                if (agreed < epoch)
                {
                    throw new RefusedException($"node {server.Node} agreed on epoch {agreed} below {epoch}", malformed: true);
                }

                if (link.Incarnation != server.Incarnation || agreed < link.Epoch)
                {
                    throw new IOException("the session moved on during the handshake"); // redial
                }

                connection.Epoch = link.Reconcile(agreed);
                var session = link.Session!;
                var now = Now;
                if (!session.Acknowledge(0, membership, now) || !session.Acknowledge(1, data, now))
                {
                    throw new RefusedException($"node {server.Node} resumed at frames never sent ({membership}, {data})", malformed: true);
                }

                for (var lane = 0; lane < Records.LaneCount; lane++)
                {
                    connection.NextSeq[lane] = session.Out[lane].Acked + 1;
                }

                link.Attach(connection);
                if (expected is null && link.SeedAddress is null)
                {
                    link.SeedAddress = address;
                }
            }

            return (link, connection);
        }
        catch
        {
            if (connection is not null)
            {
                connection.Dispose();
            }
            else if (stream is not null)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }
    }

    // ---- running a connection ----

    private async Task RunAsync(PeerLink link, Connection connection, bool inbound)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, connection.Closing.Token);
        var ct = linked.Token;
        IRecordSink sink = inbound ? new InboundSink(link, connection) : new OutboundSink(link, connection);
        var reader = Task.Factory.StartNew(() => ReadLoop(link, connection, sink, ct), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        var writer = inbound ? AckLoopAsync(link, connection, ct) : SendLoopAsync(link, connection, ct);
        var first = await Task.WhenAny(reader, writer).ConfigureAwait(false);
        connection.Close();
        await Task.WhenAll(reader, writer).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        if (first.Exception?.GetBaseException() is MalformedException malformed)
        {
            lock (link.Sync)
            {
                link.CountMalformed(connection.Remote, malformed.Message);
            }
        }

        lock (link.Sync)
        {
            link.Detach(connection);
        }

        connection.Dispose();
    }

    /// <summary>The connection's reader, on a thread of its own (<see cref="Connection.Fill"/>): the handler's work
    /// for a frame (<see cref="ITransportHandler.FramesDelivered"/>) starts as soon as the kernel has the bytes.</summary>
    private void ReadLoop(PeerLink link, Connection connection, IRecordSink sink, CancellationToken ct)
    {
        Thread.CurrentThread.Name = $"cohort tcp {(connection.Outbound ? "to" : "from")} node {link.Node.Value}";
        try
        {
            while (true)
            {
                if (!connection.Fill(ct))
                {
                    return;
                }

                // Between reading and handling: a cut that began while the read waited holds what it read.
                link.InGate.WaitAsync(ct).GetAwaiter().GetResult(); // a completed task while the gate is open

                try
                {
                    lock (link.Sync)
                    {
                        connection.LastRead = Now;
                        connection.ProcessBuffered(sink);
                    }
                }
                finally
                {
                    _handler!.FramesDelivered();
                }

                if (connection.AckOverdue)
                {
                    connection.Wake.Set(); // else the acknowledgement waits for the next ping (delayed, as TCP's)
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection is gone; the session stays.
        }
    }

    /// <summary>The dialer's writer: this node's frames, membership lane first, chunk by chunk — those no sender
    /// wrote inline (<see cref="WriteInline"/>), and what an inline write left over.</summary>
    private async Task SendLoopAsync(PeerLink link, Connection connection, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await connection.Writing.WaitAsync(ct).ConfigureAwait(false);
                bool idle;
                try
                {
                    var range = connection.Unwritten;
                    if (range.Start.Value == range.End.Value)
                    {
                        var filled = SealChunks(link, connection);
                        if (filled < 0)
                        {
                            return;
                        }

                        if (filled == 0 && _time.GetElapsedTime(connection.LastWrite) >= _options.PingInterval)
                        {
                            filled = connection.Sealer.Seal(connection.WriteBuffer, RecordKind.Ping, 0, ChunkFlags.None, 0, []);
                        }

                        range = 0..filled;
                    }

                    idle = range.Start.Value == range.End.Value;
                    if (!idle)
                    {
                        await link.OutGate.WaitAsync(ct).ConfigureAwait(false);
                        await connection.Stream.WriteAsync(connection.WriteBuffer.AsMemory(range), ct).ConfigureAwait(false);
                        connection.Unwritten = default;
                        connection.LastWrite = Now;
                    }
                }
                finally
                {
                    connection.Writing.Release();
                }

                if (idle)
                {
                    var untilPing = _options.PingInterval - _time.GetElapsedTime(connection.LastWrite);
                    await connection.Wake.WaitAsync(untilPing > TimeSpan.Zero ? untilPing : TimeSpan.Zero, _time, ct).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection is gone; what it did not deliver is resent on the next one.
        }
    }

    /// <summary>
    /// Writes what is queued on <paramref name="connection"/> from the sender's thread, without waiting: only when
    /// no one else is writing it, its direction is not cut, and only as much as the socket takes at once (the
    /// socket does not block, see <see cref="Connection"/>). It saves the sender's frame a hand-off to the send loop.
    /// </summary>
    /// <returns>False if the send loop must go on: it was busy, the direction is cut, or the socket took only
    /// part of the records (they are left in <see cref="Connection.Unwritten"/>).</returns>
    private bool WriteInline(PeerLink link, Connection connection)
    {
        if (!link.OutGate.IsOpen || !connection.Writing.Wait(0))
        {
            return false;
        }

        try
        {
            if (connection.Unwritten.Start.Value != connection.Unwritten.End.Value)
            {
                return false;
            }

            var filled = SealChunks(link, connection);
            if (filled <= 0)
            {
                return true; // nothing queued (another sender wrote it), or the connection no longer serves
            }

            var sent = connection.Socket.Send(connection.WriteBuffer.AsSpan(0, filled), SocketFlags.None, out var error);
            if (error is not (SocketError.Success or SocketError.WouldBlock))
            {
                connection.Close(); // its loops end; the next connection resends what was not acknowledged
                return true;
            }

            connection.LastWrite = Now;
            if (sent == filled)
            {
                return true;
            }

            connection.Unwritten = sent..filled;
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true; // closed meanwhile
        }
        finally
        {
            connection.Writing.Release();
        }
    }

    /// <summary>Seals the next chunks (<see cref="PeerLink.TakeChunks"/>) into <see cref="Connection.WriteBuffer"/>;
    /// called holding <see cref="Connection.Writing"/>.</summary>
    /// <returns>The bytes sealed; -1 if the connection no longer serves the session.</returns>
    private static int SealChunks(PeerLink link, Connection connection)
    {
        var chunks = connection.Chunks;
        chunks.Clear();
        lock (link.Sync)
        {
            if (!link.TakeChunks(connection, chunks, Connection.WriteBudgetBytes))
            {
                return -1;
            }
        }

        var filled = 0;
        foreach (var chunk in chunks)
        {
            filled += connection.Sealer.Seal(connection.WriteBuffer.AsSpan(filled), RecordKind.Data, chunk.Lane, chunk.Flags, chunk.Seq, chunk.Frame.AsSpan(chunk.Offset, chunk.Length));
        }

        return filled;
    }

    /// <summary>The acceptor's writer: acknowledgements of the peer's frames, and pings.</summary>
    private async Task AckLoopAsync(PeerLink link, Connection connection, CancellationToken ct)
    {
        var payload = new byte[16];
        var buffer = new byte[Records.Size(payload.Length)];
        try
        {
            while (true)
            {
                var idle = _time.GetElapsedTime(connection.LastWrite);
                if (!connection.AckOverdue && idle < _options.PingInterval)
                {
                    await connection.Wake.WaitAsync(_options.PingInterval - idle, _time, ct).ConfigureAwait(false);
                    continue;
                }

                int size;
                lock (link.Sync)
                {
                    if (!link.Serves(connection))
                    {
                        return;
                    }

                    if (connection.AckDue)
                    {
                        connection.Acknowledged();
                        Records.WriteLanePair(payload, link.Session!.Delivered[0], link.Session.Delivered[1]);
                        size = connection.Sealer.Seal(buffer, RecordKind.Ack, 0, ChunkFlags.None, 0, payload);
                    }
                    else
                    {
                        size = connection.Sealer.Seal(buffer, RecordKind.Ping, 0, ChunkFlags.None, 0, []);
                    }
                }

                await link.OutGate.WaitAsync(ct).ConfigureAwait(false);
                await connection.Stream.WriteAsync(buffer.AsMemory(0, size), ct).ConfigureAwait(false);
                connection.LastWrite = Now;
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The connection is gone; the peer resends what it did not see acknowledged.
        }
    }

    private async Task MaintainLoopAsync()
    {
        while (await DelayAsync(_options.PingInterval).ConfigureAwait(false))
        {
            var now = Now;
            foreach (var link in _links.Values)
            {
                lock (link.Sync)
                {
                    link.Maintain(now);
                }
            }
        }
    }

    /// <summary>Waits, with ±25% jitter; false when the transport is stopping.</summary>
    private async Task<bool> DelayAsync(TimeSpan delay)
    {
        var jittered = delay * (0.75 + (Random.Shared.NextDouble() * 0.5));
        try
        {
            await Task.Delay(jittered, _time, _stop.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Refused(string remote, NodeId? node, string reason, bool counted)
    {
        var key = node?.ToString() ?? HostOf(remote);
        bool first;
        lock (_sync)
        {
            if (counted)
            {
                _refused++;
                _lastRefusal = $"{remote}: {reason}";
            }

            first = _refusalsLogged.Count < MaxRefusalKeys && _refusalsLogged.Add(key + "\n" + reason);
        }

        if (first && counted)
        {
            LogRefused(_logger, remote, reason);
        }
        else
        {
            LogRefusedAgain(_logger, remote, reason);
        }
    }

    private static string RemoteOf(Socket socket) =>
        socket.RemoteEndPoint is IPEndPoint ip ? Endpoints.Format(ip.Address, ip.Port) : "?";

    private static string HostOf(string remote)
    {
        var colon = remote.LastIndexOf(':');
        return colon > 0 ? remote[..colon] : remote;
    }

    private sealed class SelfSeedException : Exception;

    /// <summary>Records on a connection this node dialed: acknowledgements and pings only.</summary>
    private sealed class OutboundSink(PeerLink link, Connection connection) : IRecordSink
    {
        public void OnRecord(Record record)
        {
            switch (record.Kind)
            {
                case RecordKind.Ack:
                    var (membership, data) = Records.ReadLanePair(record.Payload);
                    link.Acknowledge(connection, membership, data);
                    break;
                case RecordKind.Ping:
                    break;
                default:
                    throw new MalformedException($"a {record.Kind} record on the connection this node dialed");
            }
        }
    }

    /// <summary>Records on a connection the peer dialed: its frames, and pings.</summary>
    private sealed class InboundSink(PeerLink link, Connection connection) : IRecordSink
    {
        public void OnRecord(Record record)
        {
            switch (record.Kind)
            {
                case RecordKind.Data:
                    if (!connection.Assembler.Accept(record, out var frame))
                    {
                        throw new MalformedException(connection.Assembler.Error);
                    }

                    if (frame is not null)
                    {
                        link.Deliver(connection, record.Lane, record.Seq, frame);
                    }

                    break;
                case RecordKind.Ping:
                    break;
                default:
                    throw new MalformedException($"a {record.Kind} record on the connection the peer dialed");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "tcp transport of {Self} listening on {Address}; {Peers} peers configured, {Seeds} seeds")]
    private static partial void LogListening(ILogger logger, NodeIncarnation self, string address, int peers, int seeds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "refused a connection with {Remote}: {Reason} (repeats are counted in status, not logged)")]
    private static partial void LogRefused(ILogger logger, string remote, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "refused a connection with {Remote}: {Reason}")]
    private static partial void LogRefusedAgain(ILogger logger, string remote, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "a handshake with {Remote} ended: {Reason}")]
    private static partial void LogHandshakeLost(ILogger logger, string remote, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "dialing {Address} (node {Node}; 0 for a seed) failed: {Reason}")]
    private static partial void LogDialFailed(ILogger logger, string address, int node, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Peer} added to the node list, at {Address}")]
    private static partial void LogPeerAdded(ILogger logger, NodeId peer, string address);

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Peer} dropped from the node list: its session ends and it is refused from now on")]
    private static partial void LogPeerDropped(ILogger logger, NodeId peer);

    [LoggerMessage(Level = LogLevel.Information, Message = "seed {Address} is this node: dropped")]
    private static partial void LogSelfSeed(ILogger logger, string address);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fault injection: the link to node {Peer} is now cut {Cut}")]
    private static partial void LogCut(ILogger logger, NodeId peer, TransportCut cut);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the tcp transport took more than 5 s to stop")]
    private static partial void LogStopSlow(ILogger logger);
}
