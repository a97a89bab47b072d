using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading.Channels;
using Cohort.Dlm.Client;
using Cohort.Host.Native;
using Cohort.Host.State;
using Cohort.Locking;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// The lock manager's clients in other processes (<see cref="DlmClient"/>, <c>cohort lock</c>): serves their lock
/// sessions on the admin socket, and keeps the process groups they registered in <c>&lt;state&gt;/fence-groups</c>,
/// fsynced before any of their requests is made, so that fencing the node kills them with the agent.
/// </summary>
/// <remarks>
/// A session that ends without a close the agent accepted (the client crashed, or closed its connection holding
/// locks) has its registered groups killed and gone before its locks are released: nothing that relied on them
/// outlives them. At start-up, groups a previous incarnation left in the file are killed the same way — that
/// incarnation's locks are gone, so its clients must be too.
/// </remarks>
internal sealed partial class LockClients : IHostedService
{
    /// <summary>How long killing a client's groups may take (SIGKILL is asynchronous, but quick).</summary>
    private static readonly TimeSpan KillDeadline = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private readonly Dictionary<Session, List<AgentProcessInfo>> _groups = [];
    private readonly HashSet<Session> _sessions = [];
    private readonly DistributedLockManager _manager;
    private readonly AgentState _state;
    private readonly TimeProvider _time;
    private readonly ILogger<LockClients> _logger;
    private readonly string _file;

    /// <param name="dlm">The lock manager; a clean leave kills the clients holding locks before it releases them.</param>
    /// <param name="state">The agent.</param>
    /// <param name="time">The clock of the kills' deadlines.</param>
    /// <param name="logger">Where kills are reported.</param>
    public LockClients(DlmService dlm, AgentState state, TimeProvider time, ILogger<LockClients> logger)
    {
        _manager = dlm.Manager;
        _state = state;
        _time = time;
        _logger = logger;
        _file = Path.Combine(state.StateDirectory, AgentPower.ClientsFileName);
        dlm.BeforeDrain = KillHoldersAsync;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<AgentProcessInfo> left;
        try
        {
            left = AgentPower.ReadClients(_state.StateDirectory);
        }
        catch (FormatException ex)
        {
            LogUnreadable(_logger, ex.Message);
            left = [];
        }

        foreach (var group in left)
        {
            var off = await AgentPower.OffAsync(group, KillDeadline, _time, cancellationToken).ConfigureAwait(false);
            LogLeftOver(_logger, group.Pgid, off.Detail);
        }

        lock (_lock)
        {
            Write();
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Serves one lock session on <paramref name="socket"/>, whose admin request has been answered, until
    /// the client goes or the agent stops; then releases what it held.</summary>
    public async Task ServeAsync(Socket socket, CancellationToken cancellationToken)
    {
        var session = new Session(this, socket);
        lock (_lock)
        {
            _sessions.Add(session);
        }

        try
        {
            await session.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await session.EndAsync().ConfigureAwait(false);
            lock (_lock)
            {
                _sessions.Remove(session);
                Forget(session);
            }
        }
    }

    /// <summary>The sessions whose locks hold or ask for something now, described for an operator (their groups).</summary>
    public IReadOnlyList<string> Holding()
    {
        lock (_lock)
        {
            return [.. _sessions.Where(s => s.Holds).Select(s => $"groups {(_groups.TryGetValue(s, out var g) ? string.Join(", ", g.Select(x => x.Pgid)) : "none")}")];
        }
    }

    /// <summary>A clean leave is about to release every lock: first kill the groups of the sessions that hold one.</summary>
    private async Task KillHoldersAsync(CancellationToken cancellationToken)
    {
        List<Session> holders;
        lock (_lock)
        {
            holders = [.. _sessions.Where(s => s.Holds)];
        }

        foreach (var session in holders)
        {
            await KillAsync(session, "the node leaves").ConfigureAwait(false);
        }
    }

    /// <summary>The groups of every session, as a fence device reads them.</summary>
    private void Write()
    {
        var all = _groups.Values.SelectMany(g => g).Distinct().ToArray();
        var json = JsonSerializer.SerializeToUtf8Bytes(all, HostJsonContext.Default.AgentProcessInfoArray);
        DurableFile.WriteAtomically(_file, [.. json, (byte)'\n']);
    }

    /// <summary>Records the group of <paramref name="pid"/> for <paramref name="session"/>; returns why not, or null.</summary>
    private string? Register(Session session, int pid)
    {
        if (pid <= 1 || AgentProcessInfo.Of(pid, _state.Self.Incarnation) is not { } group)
        {
            return $"no process {pid.ToString(CultureInfo.InvariantCulture)} to register";
        }

        if (group.Pgid <= 1 || group.Pgid == Libc.getpgrp())
        {
            return $"process {pid.ToString(CultureInfo.InvariantCulture)} is in the agent's own process group {group.Pgid.ToString(CultureInfo.InvariantCulture)}: start it in a group of its own (setsid)";
        }

        lock (_lock)
        {
            var groups = _groups.TryGetValue(session, out var list) ? list : _groups[session] = [];
            if (!groups.Any(g => g.Pgid == group.Pgid))
            {
                groups.Add(group);
                Write();
            }
        }

        return null;
    }

    /// <summary>The client is done: holding nothing, its groups rely on nothing any more and are forgotten (the
    /// session's end kills none). Returns why not, or null.</summary>
    private string? Close(Session session)
    {
        if (session.Holds)
        {
            return "the session still holds or asks for locks: its groups stay registered, and are killed when it ends";
        }

        lock (_lock)
        {
            Forget(session);
        }

        return null;
    }

    /// <summary>Drops the session's groups from the file (under <see cref="_lock"/>).</summary>
    private void Forget(Session session)
    {
        if (_groups.Remove(session))
        {
            Write();
        }
    }

    /// <summary>Kills the session's groups and waits until they are gone; returns whether all are.</summary>
    private async Task<bool> KillAsync(Session session, string why)
    {
        List<AgentProcessInfo> groups;
        lock (_lock)
        {
            groups = _groups.TryGetValue(session, out var list) ? [.. list] : [];
        }

        var gone = true;
        foreach (var group in groups)
        {
            var off = await AgentPower.OffAsync(group, KillDeadline, _time).ConfigureAwait(false);
            LogKilled(_logger, group.Pgid, why, off.Detail);
            gone &= off.Off;
        }

        return gone;
    }

    private void KeptHeld() => LogKeptHeld(_logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "lock client group {Pgid}, left by an earlier incarnation: {Detail}")]
    private static partial void LogLeftOver(ILogger logger, int pgid, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fence-groups could not be read ({Reason}); starting with none")]
    private static partial void LogUnreadable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "lock client group {Pgid} ({Why}): {Detail}")]
    private static partial void LogKilled(ILogger logger, int pgid, string why, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "a lock client's group did not die: its locks stay held until the agent stops")]
    private static partial void LogKeptHeld(ILogger logger);

    /// <summary>One client connection: its lockspaces and locks, by the client's ids.</summary>
    private sealed class Session(LockClients owner, Socket socket)
    {
        private readonly Dictionary<string, ILockspace> _lockspaces = new(StringComparer.Ordinal);
        private readonly Dictionary<long, ServedLock> _locks = [];
        private readonly Channel<LockClientMessage> _outbox = Channel.CreateUnbounded<LockClientMessage>(new UnboundedChannelOptions { SingleReader = true });
        private bool _registered;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var writer = WriteLoopAsync(cancellationToken);
            var buffer = new byte[LockClientProtocol.MaxLineBytes];
            var filled = 0;
            try
            {
                while (true)
                {
                    var newline = Array.IndexOf(buffer, (byte)'\n', 0, filled);
                    if (newline < 0)
                    {
                        if (filled == buffer.Length)
                        {
                            return; // a line that long is no message: close this session, nothing else
                        }

                        var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                        if (read == 0)
                        {
                            return;
                        }

                        filled += read;
                        continue;
                    }

                    Handle(LockClientProtocol.Decode(buffer.AsSpan(0, newline)), cancellationToken);
                    buffer.AsSpan(newline + 1, filled - newline - 1).CopyTo(buffer);
                    filled -= newline + 1;
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or FormatException)
            {
                // The client went, sent something that is not a message, or the agent stops: the session ends.
            }
            finally
            {
                _outbox.Writer.TryComplete();
                await writer.ConfigureAwait(false);
            }
        }

        private async Task WriteLoopAsync(CancellationToken cancellationToken)
        {
            try
            {
                await foreach (var message in _outbox.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                {
                    await socket.SendAsync(LockClientProtocol.Encode(message), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                socket.Dispose(); // the reader stops too
            }
        }

        private void Reply(LockClientMessage message) => _outbox.Writer.TryWrite(message);

        private void Handle(LockClientMessage message, CancellationToken cancellationToken)
        {
            switch (message.Op)
            {
                case LockOps.Register:
                    var problem = owner.Register(this, message.Pid);
                    _registered |= problem is null;
                    Reply(new LockClientMessage { Op = LockOps.Registered, Id = message.Id, Pid = message.Pid, Error = problem });
                    break;
                case LockOps.Close:
                    Reply(new LockClientMessage { Op = LockOps.Closed, Id = message.Id, Error = owner.Close(this) });
                    break;
                case LockOps.Join:
                    // Joining may take a recovery: not on this loop, which must keep reading (cancels, other locks).
                    _ = JoinAsync(message, cancellationToken);
                    break;
                case LockOps.Lock or LockOps.Convert or LockOps.Unlock or LockOps.Cancel:
                    Operate(message);
                    break;
                default:
                    throw new FormatException($"unknown op \"{message.Op}\"");
            }
        }

        private async Task JoinAsync(LockClientMessage message, CancellationToken cancellationToken)
        {
            var name = message.Lockspace ?? "";
            try
            {
                var lockspace = await owner.Join(name, message.ValueBlockLength, cancellationToken).ConfigureAwait(false);
                lock (_lockspaces)
                {
                    _lockspaces[name] = lockspace;
                }

                Reply(new LockClientMessage { Op = LockOps.Joined, Id = message.Id, Lockspace = name, ValueBlockLength = lockspace.ValueBlockLength });
            }
            catch (Exception ex) when (ex is LockspaceJoinException or ArgumentException or InvalidOperationException or OperationCanceledException)
            {
                Reply(new LockClientMessage { Op = LockOps.Joined, Id = message.Id, Lockspace = name, Error = ex.Message });
            }
        }

        private void Operate(LockClientMessage message)
        {
            var id = message.Id;
            try
            {
                ServedLock? served;
                lock (_locks) // a completion may remove the entry, on the lock manager's thread
                {
                    served = _locks.GetValueOrDefault(id);
                }

                if (message.Op == LockOps.Cancel)
                {
                    served?.Handle.Cancel();
                    return;
                }

                if (served is null)
                {
                    if (message.Op != LockOps.Lock)
                    {
                        throw new InvalidOperationException($"no lock {id} in this session");
                    }

                    if (!_registered)
                    {
                        throw new InvalidOperationException("register a process group first (fencing this node must be able to kill what relies on the lock)");
                    }

                    ILockspace? lockspace;
                    lock (_lockspaces)
                    {
                        lockspace = _lockspaces.GetValueOrDefault(message.Lockspace ?? "");
                    }

                    if (lockspace is null)
                    {
                        throw new InvalidOperationException($"lockspace \"{message.Lockspace}\" is not joined in this session");
                    }

                    served = new ServedLock(lockspace.CreateLock(message.Resource, (_, mode) => Reply(new LockClientMessage { Op = LockOps.Blocking, Id = id, Mode = mode })));
                    lock (_locks)
                    {
                        _locks[id] = served;
                    }
                }

                var handle = served.Handle;
                message.Value?.AsSpan(0, Math.Min(message.Value.Length, handle.ValueBlock.Length)).CopyTo(handle.ValueBlock.Span);
                var operation = message.Op switch
                {
                    LockOps.Lock => handle.LockAsync(message.Mode, message.Flags),
                    LockOps.Convert => handle.ConvertAsync(message.Mode, message.Flags),
                    _ => handle.UnlockAsync(message.Flags),
                };
                served.Pending = CompleteAsync(id, handle, message.Flags, operation);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
            {
                Reply(new LockClientMessage { Op = LockOps.Refused, Id = id, Error = ex.Message });
            }
        }

        private async Task CompleteAsync(long id, LockHandle handle, LockFlags flags, ValueTask<LockResult> operation)
        {
            try
            {
                var result = await operation.ConfigureAwait(false);
                var value = (flags & LockFlags.ValueBlock) != 0 && result.Status == LockStatus.Granted ? handle.ValueBlock.ToArray() : null;
                if (handle.GrantedMode is null)
                {
                    lock (_locks)
                    {
                        _locks.Remove(id); // holds nothing: a later lock of this id makes a new one
                    }
                }

                Reply(new LockClientMessage { Op = LockOps.Done, Id = id, Result = result, Value = value });
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
            {
                Reply(new LockClientMessage { Op = LockOps.Refused, Id = id, Error = ex.Message });
            }
        }

        /// <summary>Whether a lock of the session holds or asks for something.</summary>
        public bool Holds
        {
            get
            {
                lock (_locks)
                {
                    return _locks.Values.Any(l => l.Handle.GrantedMode is not null || !l.Pending.IsCompleted);
                }
            }
        }

        /// <summary>The client is gone: kill the groups it did not close, then release what its locks hold.</summary>
        public async Task EndAsync()
        {
            socket.Dispose();
            if (!await owner.KillAsync(this, "its session ended without a close").ConfigureAwait(false))
            {
                owner.KeptHeld();
                return; // something that relied on them may still run: releasing would be unsafe
            }

            List<ServedLock> locks;
            lock (_locks)
            {
                locks = [.. _locks.Values];
            }

            foreach (var l in locks)
            {
                l.Handle.Cancel();
                await l.Pending.ConfigureAwait(false);
                if (l.Handle.GrantedMode is not null)
                {
                    try
                    {
                        await l.Handle.UnlockAsync().ConfigureAwait(false);
                    }
                    catch (InvalidOperationException)
                    {
                        // The agent stops: the locks die with it.
                    }
                }
            }
        }
    }

    private Task<ILockspace> Join(string name, int valueBlockLength, CancellationToken cancellationToken) =>
        _manager.JoinAsync(name, valueBlockLength <= 0 ? 32 : valueBlockLength, cancellationToken);

    /// <summary>A lock of a session and its operation in flight (or the last one).</summary>
    private sealed class ServedLock(LockHandle handle)
    {
        public LockHandle Handle { get; } = handle;

        public Task Pending { get; set; } = Task.CompletedTask;
    }
}
