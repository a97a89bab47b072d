using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Cohort.Locking;

namespace Cohort.Dlm.Client;

/// <summary>
/// The node's lock manager from any process on it: an <see cref="IDistributedLockManager"/> that talks to the local
/// agent over its admin socket, as libdlm talks to the kernel over <c>/dev/dlm</c>. Semantics are the agent's
/// (docs/dlm.md); completions and blocking notifications run on this client's reader thread.
/// </summary>
/// <remarks>
/// <para>Every lock of a client dies with its connection: when it ends other than by <see cref="DisposeAsync"/> with
/// nothing held (this process died, say), the agent first kills the process groups the client registered and then
/// releases its locks, so no process that relied on a lock outlives it. A client must register at least one group (<see cref="ConnectAsync"/>
/// registers this process's own unless told otherwise) before the agent grants it anything; the agent fsyncs the
/// groups to <c>&lt;state&gt;/fence-groups</c> first, so that fencing the node kills them too.</para>
/// <para>When the connection is lost, <see cref="Disconnected"/> completes and every operation in flight fails with
/// <see cref="IOException"/>; what the client held is gone.</para>
/// </remarks>
public sealed class DlmClient : IDistributedLockManager, IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<LockClientMessage>> _replies = new();
    private readonly ConcurrentDictionary<long, ClientLock> _locks = new();
    private readonly ConcurrentDictionary<string, Task<ILockspace>> _lockspaces = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<Exception> _lost = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(5);

    private readonly Thread _reader;
    private long _nextId;

    private DlmClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "cohort-dlm-client" };
    }

    /// <summary>The agent's admin socket this client is connected to.</summary>
    public string SocketPath { get; private init; } = "";

    /// <summary>Completes, with the reason, when the connection to the agent is lost or closed.</summary>
    public Task<Exception> Disconnected => _lost.Task;

    /// <summary>Connects to the agent whose admin socket is <paramref name="socketPath"/> and opens a lock session.</summary>
    /// <param name="socketPath">The agent's admin socket (<c>Node:AdminSocket</c>, by default <c>&lt;state&gt;/admin.sock</c>).</param>
    /// <param name="registerOwnGroup">Registers this process's own process group (the common case: the locks protect
    /// what this process does). Pass false to register others with <see cref="RegisterProcessGroupAsync"/> instead.</param>
    /// <param name="cancellationToken">Stops connecting.</param>
    /// <exception cref="IOException">No agent answers there, or it refused the session.</exception>
    public static async Task<DlmClient> ConnectAsync(string socketPath, bool registerOwnGroup = true, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
            await socket.SendAsync(Encoding.UTF8.GetBytes($"{{\"verb\":\"{LockClientProtocol.Verb}\"}}\n"), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var reply = await ReadAdminReplyAsync(socket, cancellationToken).ConfigureAwait(false);
            using (var document = JsonDocument.Parse(reply))
            {
                if (!document.RootElement.TryGetProperty("ok", out var ok) || !ok.GetBoolean())
                {
                    var error = document.RootElement.TryGetProperty("error", out var e) ? e.GetString() : reply;
                    throw new IOException($"the agent on {socketPath} refused a lock session: {error}");
                }
            }
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"no agent answers on {socketPath} ({ex.Message}); is `cohort agent` running?", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new DlmClient(socket) { SocketPath = socketPath };
        client._reader.Start();
        if (registerOwnGroup)
        {
            try
            {
                await client.RegisterProcessGroupAsync(Environment.ProcessId, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await client.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }

        return client;
    }

    /// <summary>Registers the process group of <paramref name="pid"/>: fencing this node kills it, and so does the agent
    /// before it releases this client's locks when the connection goes while they are held. Returns once the agent has
    /// fsynced the record.</summary>
    /// <exception cref="InvalidOperationException">The agent refused: no such process, or it is in the agent's own group.</exception>
    public async Task RegisterProcessGroupAsync(int pid, CancellationToken cancellationToken = default)
    {
        var reply = await AskAsync(new LockClientMessage { Op = LockOps.Register, Pid = pid }, cancellationToken).ConfigureAwait(false);
        if (reply.Error is { } error)
        {
            throw new InvalidOperationException(error);
        }
    }

    /// <inheritdoc />
    public async Task<ILockspace> JoinAsync(string name, int valueBlockLength = 32, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var joining = _lockspaces.GetOrAdd(name, n => JoinOnceAsync(n, valueBlockLength, CancellationToken.None));
        try
        {
            return await joining.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch when (joining.IsFaulted)
        {
            _lockspaces.TryRemove(KeyValuePair.Create(name, joining)); // a later call tries again
            throw;
        }
    }

    private async Task<ILockspace> JoinOnceAsync(string name, int valueBlockLength, CancellationToken cancellationToken)
    {
        var reply = await AskAsync(new LockClientMessage { Op = LockOps.Join, Lockspace = name, ValueBlockLength = valueBlockLength }, cancellationToken).ConfigureAwait(false);
        return reply.Error is { } error ? throw new LockspaceJoinException(error) : new ClientLockspace(this, name, reply.ValueBlockLength);
    }

    /// <summary>Closes the session. Holding nothing, the client tells the agent first that its registered groups rely
    /// on nothing any more; otherwise (or if that fails) the agent kills those groups and then releases the locks.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_lost.Task.IsCompleted && _locks.Values.All(l => l.GrantedMode is null && !l.Busy))
        {
            try
            {
                using var timeout = new CancellationTokenSource(CloseTimeout);
                await AskAsync(new LockClientMessage { Op = LockOps.Close }, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException)
            {
                // The agent is gone or slow: it treats the session as ended uncleanly.
            }
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }

        _socket.Dispose();
        _lost.TrySetResult(new IOException("the lock session was closed"));
        if (_reader.IsAlive && Thread.CurrentThread != _reader)
        {
            _reader.Join(TimeSpan.FromSeconds(5));
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
        _writing.Dispose();
    }

    /// <summary>Sends a request answered by a message with its id.</summary>
    private async Task<LockClientMessage> AskAsync(LockClientMessage request, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextId);
        var reply = new TaskCompletionSource<LockClientMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        _replies[id] = reply;
        try
        {
            await SendAsync(request with { Id = id }).ConfigureAwait(false);
            return await reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _replies.TryRemove(id, out _);
        }
    }

    internal long NextLockId() => Interlocked.Increment(ref _nextId);

    /// <summary>Routes the agent's messages about <paramref name="l"/> to it, while it holds or asks for something.</summary>
    internal void Track(ClientLock l) => _locks[l.Id] = l;

    /// <summary>Forgets <paramref name="l"/>, which holds nothing now (a new operation tracks it again).</summary>
    internal void Untrack(ClientLock l) => _locks.TryRemove(l.Id, out _);

    internal async Task SendAsync(LockClientMessage message)
    {
        if (_lost.Task.IsCompleted)
        {
            throw new IOException($"the lock session with the agent on {SocketPath} is closed: {_lost.Task.Result.Message}");
        }

        var bytes = LockClientProtocol.Encode(message);
        await _writing.WaitAsync().ConfigureAwait(false);
        try
        {
            await _stream.WriteAsync(bytes).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            throw new IOException($"the lock session with the agent on {SocketPath} is closed: {ex.Message}", ex);
        }
        finally
        {
            _writing.Release();
        }
    }

    private void ReadLoop()
    {
        var buffer = new byte[LockClientProtocol.MaxLineBytes];
        var filled = 0;
        Exception reason;
        try
        {
            while (true)
            {
                var newline = Array.IndexOf(buffer, (byte)'\n', 0, filled);
                if (newline < 0)
                {
                    if (filled == buffer.Length)
                    {
                        throw new IOException($"the agent sent a line longer than {LockClientProtocol.MaxLineBytes} bytes");
                    }

                    var read = _socket.Receive(buffer, filled, buffer.Length - filled, SocketFlags.None);
                    if (read == 0)
                    {
                        throw new IOException($"the agent on {SocketPath} closed the lock session");
                    }

                    filled += read;
                    continue;
                }

                Dispatch(LockClientProtocol.Decode(buffer.AsSpan(0, newline)));
                buffer.AsSpan(newline + 1, filled - newline - 1).CopyTo(buffer);
                filled -= newline + 1;
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or FormatException)
        {
            reason = ex is IOException ? ex : new IOException($"the lock session with the agent on {SocketPath} ended: {ex.Message}", ex);
        }

        _lost.TrySetResult(reason);
        foreach (var reply in _replies.Values)
        {
            reply.TrySetException(reason);
        }

        foreach (var l in _locks.Values)
        {
            l.Lost(reason);
        }
    }

    private void Dispatch(LockClientMessage message)
    {
        switch (message.Op)
        {
            case LockOps.Registered or LockOps.Joined or LockOps.Closed:
                if (_replies.TryGetValue(message.Id, out var reply))
                {
                    reply.TrySetResult(message);
                }

                break;
            case LockOps.Done or LockOps.Refused or LockOps.Blocking:
                if (_locks.TryGetValue(message.Id, out var l))
                {
                    l.Received(message);
                }

                break;
        }
    }

    private static async Task<string> ReadAdminReplyAsync(Socket socket, CancellationToken cancellationToken)
    {
        // Byte by byte: nothing past the reply's newline may be read here (the session's lines follow it).
        var line = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            var n = await socket.ReceiveAsync(one, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException("the agent closed the connection without answering");
            }

            if (one[0] == '\n')
            {
                return Encoding.UTF8.GetString([.. line]);
            }

            line.Add(one[0]);
            if (line.Count > LockClientProtocol.MaxLineBytes)
            {
                throw new IOException("the agent's answer is too long");
            }
        }
    }
}
