using System.Buffers.Binary;
using System.Net.Sockets;

namespace Cohort.Transport.Tcp;

/// <summary>A record handler for <see cref="Connection.ProcessBuffered"/>.</summary>
internal interface IRecordSink
{
    /// <summary>Handles one authenticated record; throws <see cref="MalformedException"/> to close the connection.</summary>
    void OnRecord(Record record);
}

/// <summary>The peer broke the protocol on a connection: it is closed, and counted.</summary>
internal sealed class MalformedException(string message) : Exception(message);

/// <summary>A handshake was refused (by this node or by the peer); the connection is closed.</summary>
internal sealed class RefusedException(string message, bool malformed = false) : Exception(message)
{
    /// <summary>Whether the peer sent bytes that are not the protocol at all.</summary>
    public bool Malformed { get; } = malformed;
}

/// <summary>
/// One TCP connection after its handshake: the record layer in both directions, the read buffer, and
/// the per-connection state of whichever side uses it (send cursors for a dialer, reassembly and
/// acknowledgements for an acceptor).
/// </summary>
internal sealed class Connection : IDisposable
{
    private readonly byte[] _readBuffer = new byte[Records.MaxRecordBytes * 2];
    private int _start;
    private int _end;

    public Connection(Socket socket, NetworkStream stream, byte[] sendKey, byte[] receiveKey, string remote, bool outbound, long now)
    {
        socket.Blocking = false; // for the reader (Fill) and inline writes; asynchronous reads and writes do not mind
        Socket = socket;
        Stream = stream;
        Sealer = new RecordSealer(sendKey);
        Parser = new RecordParser(receiveKey);
        Remote = remote;
        Outbound = outbound;
        LastRead = now;
        LastWrite = now;
        WriteBuffer = outbound ? new byte[WriteBudgetBytes + Records.MaxRecordBytes] : [];
    }

    /// <summary>Dialer: at most this many bytes of chunks are picked for one write.</summary>
    public const int WriteBudgetBytes = 128 * 1024;

    public Socket Socket { get; }

    public NetworkStream Stream { get; }

    public RecordSealer Sealer { get; }

    public RecordParser Parser { get; }

    public string Remote { get; }

    /// <summary>True for a connection this node dialed (it carries this node's frames); false for one it
    /// accepted (it carries the peer's frames, and this node's acknowledgements back).</summary>
    public bool Outbound { get; }

    /// <summary>The session epoch the connection serves; a reset closes it.</summary>
    public long Epoch { get; set; }

    /// <summary>When a record last arrived (the transport's clock).</summary>
    public long LastRead { get; set; }

    public AsyncSignal Wake { get; } = new();

    public CancellationTokenSource Closing { get; } = new();

    /// <summary>Dialer: the next sequence number to send, per lane.</summary>
    public long[] NextSeq { get; } = new long[Records.LaneCount];

    /// <summary>Dialer: how much of the frame <see cref="NextSeq"/> has been sent, per lane.</summary>
    public int[] Offset { get; } = new int[Records.LaneCount];

    /// <summary>Acceptor: reassembles the peer's frames.</summary>
    public FrameAssembler Assembler { get; } = new();

    /// <summary>An acceptor acknowledges at once after this many frames or bytes delivered (<see cref="AckOverdue"/>);
    /// fewer wait for the next ping, so a request and its answer cost no acknowledgement of their own.</summary>
    public const int AckFrames = 64;

    /// <inheritdoc cref="AckFrames"/>
    public const int AckBytes = 256 * 1024;

    /// <summary>Acceptor: frames delivered since the last acknowledgement went out.</summary>
    public int FramesUnacknowledged { get; private set; }

    /// <summary>Acceptor: bytes of frames delivered since the last acknowledgement went out.</summary>
    public long BytesUnacknowledged { get; private set; }

    /// <summary>Acceptor: frames were delivered since the last acknowledgement went out.</summary>
    public bool AckDue => FramesUnacknowledged > 0;

    /// <summary>Acceptor: so much is unacknowledged that the acknowledgement should not wait for the next ping.</summary>
    public bool AckOverdue => FramesUnacknowledged >= AckFrames || BytesUnacknowledged >= AckBytes;

    /// <summary>Acceptor: counts a frame delivered.</summary>
    public void Delivered(int bytes)
    {
        FramesUnacknowledged++;
        BytesUnacknowledged += bytes;
    }

    /// <summary>Acceptor: an acknowledgement of everything delivered is going out.</summary>
    public void Acknowledged()
    {
        FramesUnacknowledged = 0;
        BytesUnacknowledged = 0;
    }

    /// <summary>Dialer: held by whoever seals records and writes them, the send loop or a sender writing inline
    /// (<see cref="WriteBuffer"/>, <see cref="Unwritten"/> and <see cref="Sealer"/> are used only under it).</summary>
    public SemaphoreSlim Writing { get; } = new(1, 1);

    /// <summary>Dialer: the chunks picked for one write.</summary>
    public List<Chunk> Chunks { get; } = [];

    /// <summary>Dialer: the records sealed for one write.</summary>
    public byte[] WriteBuffer { get; }

    /// <summary>Dialer: sealed records in <see cref="WriteBuffer"/> an inline write left unwritten (the socket
    /// took only part of them); the send loop writes them before anything else.</summary>
    public Range Unwritten { get; set; }

    /// <summary>When a record was last written (the transport's clock).</summary>
    public long LastWrite { get; set; }

    /// <summary>Reads more bytes into the buffer; false at end of stream.</summary>
    public async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        MakeRoom();
        var read = await Stream.ReadAsync(_readBuffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        _end += read;
        return read > 0;
    }

    /// <summary>
    /// Reads more bytes into the buffer on the calling thread, which waits for them in poll(2): the kernel wakes
    /// this thread itself when bytes arrive, where an asynchronous read would wake the socket engine's thread,
    /// which wakes a pool thread — one context switch fewer for every frame (the connection's reader has a thread
    /// of its own, <see cref="TcpTransport"/>). The socket must not block (<see cref="Socket.Blocking"/> false).
    /// </summary>
    /// <returns>False at end of stream.</returns>
    /// <exception cref="SocketException">The connection failed.</exception>
    /// <exception cref="OperationCanceledException">The connection is closing (seen within <see cref="ReadWaitMicroseconds"/>).</exception>
    public bool Fill(CancellationToken cancellationToken)
    {
        MakeRoom();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var read = Socket.Receive(_readBuffer.AsSpan(_end), SocketFlags.None, out var error);
            switch (error)
            {
                case SocketError.Success:
                    _end += read;
                    return read > 0;
                case SocketError.WouldBlock:
                    Socket.Poll(ReadWaitMicroseconds, SelectMode.SelectRead);
                    break;
                default:
                    throw new SocketException((int)error);
            }
        }
    }

    /// <summary>The longest one wait of <see cref="Fill"/> for bytes: a closing connection that did not wake it
    /// (<see cref="Close"/> shuts the socket down, which does) is seen this late at most.</summary>
    public const int ReadWaitMicroseconds = 250_000;

    private void MakeRoom()
    {
        if (_start > 0 && _end == _start)
        {
            _start = _end = 0;
        }
        else if (_end > _readBuffer.Length - Records.MaxRecordBytes)
        {
            _readBuffer.AsSpan(_start, _end - _start).CopyTo(_readBuffer);
            _end -= _start;
            _start = 0;
        }
    }

    /// <summary>Parses and hands every whole record in the buffer to <paramref name="sink"/>.</summary>
    /// <exception cref="MalformedException">A record is malformed or fails authentication.</exception>
    public void ProcessBuffered(IRecordSink sink)
    {
        while (true)
        {
            switch (Parser.Parse(_readBuffer.AsSpan(_start, _end - _start), out var record, out var consumed))
            {
                case ParseStatus.NeedMore:
                    return;
                case ParseStatus.Malformed:
                    throw new MalformedException(Parser.Error);
                default:
                    _start += consumed;
                    sink.OnRecord(record);
                    break;
            }
        }
    }

    /// <summary>Reads exactly one record of the expected kind (the first of a connection).</summary>
    public async Task<byte[]> ReadFirstAsync(RecordKind expected, CancellationToken cancellationToken)
    {
        var sink = new FirstRecord(expected);
        while (sink.Payload is null)
        {
            if (!await FillAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new RefusedException("the peer closed the connection during the handshake");
            }

            ProcessFirst(sink);
        }

        return sink.Payload;
    }

    public async Task WriteRecordAsync(RecordKind kind, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var buffer = new byte[Records.Size(payload.Length)];
        Sealer.Seal(buffer, kind, 0, ChunkFlags.None, 0, payload.Span);
        await Stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public void Close()
    {
        if (Closing.IsCancellationRequested)
        {
            return;
        }

        try
        {
            Closing.Cancel();
        }
        catch (AggregateException)
        {
            // A continuation of the token threw; the connection is closed regardless.
        }

        try
        {
            Socket.Shutdown(SocketShutdown.Both); // wakes a reader waiting in Fill; closing alone does not
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Not connected any more, or disposed already: nothing waits on it.
        }

        Socket.Dispose();
    }

    public void Dispose()
    {
        Close();
        Stream.Dispose();
        Sealer.Dispose();
        Parser.Dispose();
        Closing.Dispose();
    }

    private void ProcessFirst(FirstRecord sink)
    {
        switch (Parser.Parse(_readBuffer.AsSpan(_start, _end - _start), out var record, out var consumed))
        {
            case ParseStatus.NeedMore:
                return;
            case ParseStatus.Malformed:
                throw new RefusedException(Parser.Error, malformed: true);
            default:
                _start += consumed;
                sink.OnRecord(record);
                break;
        }
    }

    private sealed class FirstRecord(RecordKind expected) : IRecordSink
    {
        public byte[]? Payload { get; private set; }

        public void OnRecord(Record record)
        {
            if (record.Kind != expected)
            {
                throw new RefusedException($"a {record.Kind} record where {expected} belongs", malformed: true);
            }

            Payload = record.Payload.ToArray();
        }
    }
}

/// <summary>Handshake messages on the wire: a 2-byte little-endian length, then the body.</summary>
internal static class HandshakeIo
{
    public static async Task<byte[]> ReadAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var prefix = new byte[2];
        await stream.ReadExactlyAsync(prefix, cancellationToken).ConfigureAwait(false);
        var length = BinaryPrimitives.ReadUInt16LittleEndian(prefix);
        if (length is 0 or > Handshake.MaxMessageBytes)
        {
            throw new RefusedException($"a handshake message of {length} bytes (at most {Handshake.MaxMessageBytes})", malformed: true);
        }

        var body = new byte[length];
        await stream.ReadExactlyAsync(body, cancellationToken).ConfigureAwait(false);
        return body;
    }

    public static async Task WriteAsync(NetworkStream stream, byte[] body, CancellationToken cancellationToken)
    {
        var message = new byte[2 + body.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(message, (ushort)body.Length);
        body.CopyTo(message, 2);
        await stream.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }
}
