using Cohort.Membership;
using Microsoft.Extensions.Logging;

namespace Cohort.Transport.Tcp;

/// <summary>One chunk of a queued frame, picked under the link's lock and sealed outside it.</summary>
internal readonly record struct Chunk(byte Lane, ChunkFlags Flags, long Seq, byte[] Frame, int Offset, int Length);

/// <summary>
/// Everything the transport knows of one configured peer: its newest incarnation, the session with it
/// (if open), the two connections (the one this node dialed carries this node's frames; the one the
/// peer dialed carries the peer's), the fault cut on the link, and counters.
/// </summary>
/// <remarks>
/// <para>All state is guarded by <see cref="Sync"/>, and every call into the
/// <see cref="ITransportHandler"/> for this peer is made while holding it: the handler sees one
/// session's events in order and never concurrently.</para>
/// <para><b>Epochs.</b> A session is one (peer incarnation, epoch). Both ends start each incarnation
/// pair at epoch 1. An end that resets the session on its own (frames unacknowledged too long, queue
/// overflow) reports the reset, moves to the next epoch and closes both connections; every handshake
/// carries the epoch, and an end that learns of a higher one resets its session too and adopts it. So
/// a reset at one end is always reported at the other, and a new session follows at both.</para>
/// </remarks>
internal sealed partial class PeerLink(NodeId node, string? configuredAddress, ITransportHandler handler, TcpTransportOptions options, TimeProvider time, ILogger logger)
{
    private bool _everOut;
    private bool _everIn;
    private bool _malformedLogged;

    public NodeId Node { get; } = node;

    public Lock Sync { get; } = new();

    /// <summary>The address the peer list gives (it may change with <see cref="TcpTransport.UpdatePeers"/>).</summary>
    public string? ConfiguredAddress { get; set; } = configuredAddress;

    /// <summary>Set once the peer is dropped from the peer list: its dial loop ends.</summary>
    public bool Removed { get; set; }

    /// <summary>A seed address that answered as this node.</summary>
    public string? SeedAddress { get; set; }

    /// <summary>The listen address the peer announced when it dialed this node.</summary>
    public string? AdvertisedAddress { get; set; }

    public string? DialAddress => ConfiguredAddress ?? SeedAddress ?? AdvertisedAddress;

    /// <summary>The newest incarnation of the peer heard from (0: none yet).</summary>
    public long Incarnation { get; private set; }

    /// <summary>The epoch of the current or next session with <see cref="Incarnation"/>.</summary>
    public long Epoch { get; private set; } = 1;

    public Session? Session { get; private set; }

    public Connection? Out { get; private set; }

    public Connection? In { get; private set; }

    /// <summary>Wakes the dialer: an address became known or the outbound connection went away.</summary>
    public AsyncSignal DialWake { get; } = new();

    public TransportCut Cut { get; private set; }

    /// <summary>Shut while the outbound direction is cut: every write toward the peer waits on it.</summary>
    public AsyncGate OutGate { get; } = new();

    /// <summary>Shut while the inbound direction is cut: every read from the peer waits on it.</summary>
    public AsyncGate InGate { get; } = new();

    public long FramesSent { get; private set; }

    public long FramesReceived { get; private set; }

    public long MalformedFrames { get; private set; }

    public long Reconnects { get; private set; }

    public long SessionResets { get; private set; }

    private NodeIncarnation Peer => new(Node, Incarnation);

    /// <summary>Takes note of the incarnation an authenticated handshake showed. A newer one ends the
    /// session with the old (reported as reset) and closes its connections.</summary>
    /// <returns>False if the incarnation is older than one already heard: it is excluded.</returns>
    public bool Observe(long incarnation)
    {
        if (incarnation < Incarnation)
        {
            return false;
        }

        if (incarnation > Incarnation)
        {
            if (Session is not null)
            {
                EndSession($"the peer restarted as incarnation {incarnation}");
            }

            CloseConnections();
            Incarnation = incarnation;
            Epoch = 1;
        }

        return true;
    }

    /// <summary>Agrees on an epoch with the peer (the higher one wins) and makes sure a session of that
    /// epoch is open, reporting a reset of an older one.</summary>
    /// <returns>The epoch agreed.</returns>
    public long Reconcile(long peerEpoch)
    {
        var epoch = Math.Max(peerEpoch, Epoch);
        if (Session is { } current && current.Epoch < epoch)
        {
            EndSession("the peer reset the session");
            CloseConnections();
        }

        Epoch = epoch;
        if (Session is null)
        {
            Session = new Session(Incarnation, epoch, time.GetTimestamp());
            LogSessionOpened(logger, Peer, epoch);
            handler.SessionOpened(Peer);
        }

        return epoch;
    }

    /// <summary>Resets the session on this end's own decision: reported, next epoch, connections closed.</summary>
    public void Reset(string reason)
    {
        if (Session is null)
        {
            return;
        }

        EndSession(reason);
        Epoch++;
        CloseConnections();
    }

    public bool TrySend(long incarnation, TransportLane lane, ReadOnlySpan<byte> frame)
    {
        if (Session is not { } session || incarnation != Incarnation)
        {
            return false;
        }

        session.Enqueue((int)lane, frame.ToArray(), time.GetTimestamp());
        FramesSent++;
        if (session.QueuedBytes > options.MaxQueuedBytes)
        {
            Reset($"more than {options.MaxQueuedMegabytes} MiB queued to the peer and not acknowledged");
            return false;
        }

        return true; // the caller writes it or wakes the send loop
    }

    /// <summary>Makes <paramref name="connection"/> the outbound or inbound connection (as it is),
    /// closing the one it replaces.</summary>
    public void Attach(Connection connection)
    {
        var old = connection.Outbound ? Out : In;
        if (connection.Outbound)
        {
            Out = connection;
            Reconnects += _everOut ? 1 : 0;
            _everOut = true;
        }
        else
        {
            In = connection;
            Reconnects += _everIn ? 1 : 0;
            _everIn = true;
        }

        old?.Close();
    }

    /// <summary>Forgets a connection that closed; the dialer redials an outbound one.</summary>
    public void Detach(Connection connection)
    {
        connection.Close();
        if (Out == connection)
        {
            Out = null;
            DialWake.Set();
        }

        if (In == connection)
        {
            In = null;
        }
    }

    /// <summary>Whether <paramref name="connection"/> still serves the current session.</summary>
    public bool Serves(Connection connection) =>
        (connection.Outbound ? Out : In) == connection && Session is { } s && s.Epoch == connection.Epoch;

    /// <summary>Picks the next chunks to send on the outbound connection: membership frames first, then
    /// data, one chunk at a time so membership can overtake a long data frame between its chunks.</summary>
    /// <returns>False if the connection no longer serves the session.</returns>
    public bool TakeChunks(Connection connection, List<Chunk> chunks, int budget)
    {
        if (!Serves(connection))
        {
            return false;
        }

        var session = Session!;
        while (budget > 0)
        {
            var lane = -1;
            for (var l = 0; l < Records.LaneCount; l++)
            {
                if (connection.NextSeq[l] <= session.Out[l].Acked)
                {
                    connection.NextSeq[l] = session.Out[l].Acked + 1;
                    connection.Offset[l] = 0;
                }

                if (connection.NextSeq[l] <= session.Out[l].LastSeq)
                {
                    lane = l;
                    break;
                }
            }

            if (lane < 0)
            {
                break;
            }

            var seq = connection.NextSeq[lane];
            var frame = session.Out[lane].Get(seq)!;
            var offset = connection.Offset[lane];
            var length = Math.Min(Records.MaxPayloadBytes, frame.Length - offset);
            var last = offset + length == frame.Length;
            var flags = (offset == 0 ? ChunkFlags.First : ChunkFlags.None) | (last ? ChunkFlags.Last : ChunkFlags.None);
            chunks.Add(new Chunk((byte)lane, flags, seq, frame, offset, length));
            budget -= Records.Size(length);
            if (last)
            {
                connection.NextSeq[lane]++;
                connection.Offset[lane] = 0;
            }
            else
            {
                connection.Offset[lane] += length;
            }
        }

        return true;
    }

    /// <summary>Applies the peer's acknowledgement on the outbound connection.</summary>
    /// <exception cref="MalformedException">It acknowledges frames never sent.</exception>
    public void Acknowledge(Connection connection, long membership, long data)
    {
        if (!Serves(connection))
        {
            return;
        }

        var now = time.GetTimestamp();
        if (!Session!.Acknowledge(0, membership, now) || !Session.Acknowledge(1, data, now))
        {
            throw new MalformedException($"an acknowledgement of frames never sent ({membership}, {data})");
        }
    }

    /// <summary>Delivers a frame that arrived on the inbound connection, once and in order.</summary>
    /// <exception cref="MalformedException">A frame is missing before it.</exception>
    public void Deliver(Connection connection, int lane, long seq, byte[] frame)
    {
        if (!Serves(connection))
        {
            return;
        }

        var delivered = Session!.Delivered;
        if (seq <= delivered[lane])
        {
            return; // resent after a reconnect, and delivered already
        }

        if (seq != delivered[lane] + 1)
        {
            throw new MalformedException($"frame {seq} on lane {lane} where {delivered[lane] + 1} was due");
        }

        delivered[lane] = seq;
        FramesReceived++;
        connection.Delivered(frame.Length);
        handler.FrameReceived(Peer, (TransportLane)lane, frame);
    }

    /// <summary>Counts a malformed record from the peer; logs the first one.</summary>
    public void CountMalformed(string remote, string what)
    {
        MalformedFrames++;
        if (!_malformedLogged)
        {
            _malformedLogged = true;
            LogMalformed(logger, Node, remote, what);
        }
    }

    /// <summary>Applies the periodic checks: session timeout and idle connections.</summary>
    public void Maintain(long now)
    {
        if (Session is { HasPending: true } session && time.GetElapsedTime(session.LastProgress, now) > options.SessionTimeout)
        {
            Reset($"no acknowledgement from the peer for {options.SessionTimeout.TotalSeconds:0.#} s");
        }

        foreach (var connection in new[] { Out, In })
        {
            if (connection is not null && time.GetElapsedTime(connection.LastRead, now) > options.IdleTimeout)
            {
                LogIdle(logger, Node, connection.Outbound ? "outbound" : "inbound", options.IdleTimeout.TotalMilliseconds);
                Detach(connection);
            }
        }
    }

    public void SetCut(TransportCut cut)
    {
        Cut = cut;
        if ((cut & TransportCut.Outbound) != 0)
        {
            OutGate.Shut();
        }
        else
        {
            OutGate.Open();
        }

        if ((cut & TransportCut.Inbound) != 0)
        {
            InGate.Shut();
        }
        else
        {
            InGate.Open();
        }
    }

    public TransportPeerStatus Status() => new(
        Node,
        Incarnation,
        Session is not null,
        Out is not null && In is not null,
        DialAddress,
        FramesSent,
        FramesReceived,
        MalformedFrames,
        Reconnects,
        SessionResets,
        Session?.QueuedBytes ?? 0,
        Cut);

    /// <summary>Closes both connections (no detach: whoever ran them detaches when they end).</summary>
    public void CloseConnections()
    {
        Out?.Close();
        In?.Close();
        Out = null;
        In = null;
        DialWake.Set();
    }

    private void EndSession(string reason)
    {
        Session = null;
        SessionResets++;
        LogSessionReset(logger, Peer, reason);
        handler.SessionReset(Peer, reason);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "session with {Peer} open (epoch {Epoch})")]
    private static partial void LogSessionOpened(ILogger logger, NodeIncarnation peer, long epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "session with {Peer} reset: {Reason}")]
    private static partial void LogSessionReset(ILogger logger, NodeIncarnation peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node} ({Remote}) sent {What}: connection closed, session kept (further ones are counted in status, not logged)")]
    private static partial void LogMalformed(ILogger logger, NodeId node, string remote, string what);

    [LoggerMessage(Level = LogLevel.Debug, Message = "the {Direction} connection with node {Node} was silent for {Milliseconds} ms: closed, session kept")]
    private static partial void LogIdle(ILogger logger, NodeId node, string direction, double milliseconds);
}
