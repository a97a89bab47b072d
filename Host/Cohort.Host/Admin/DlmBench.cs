using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Cohort.Host.Configuration;
using Cohort.Locking;

namespace Cohort.Host.Admin;

/// <summary>
/// <c>cohort debug dlm-bench</c>, run inside the agent: N lock+unlock cycles of one resource through the node's
/// <see cref="IDistributedLockManager"/>, one after another, and — by the same harness, in the same process, taking
/// turns with them in blocks — the floors it is compared with: a raw TCP round trip to an echo responder, and Redis
/// <c>SET NX PX</c> + <c>DEL</c> on one connection with a minimal RESP client. Every wait is bounded by the bench's
/// deadline.
/// </summary>
internal static class DlmBench
{
    /// <summary>The echo frame's size: about a lock request's.</summary>
    public const int EchoBytes = 64;

    /// <summary>The most cycles one bench runs.</summary>
    public const int MaxCount = 1_000_000;

    /// <summary>The default deadline of the whole bench.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);


    /// <summary>Runs the bench.</summary>
    /// <exception cref="ArgumentException">The arguments are out of range.</exception>
    /// <exception cref="InvalidOperationException">A lock was refused, a floor misbehaved, or the deadline passed.</exception>
    public static async Task<DlmBenchReport> RunAsync(IDistributedLockManager manager, DlmBenchArguments arguments, CancellationToken cancellationToken)
    {
        if (arguments.Count is < 1 or > MaxCount)
        {
            throw new ArgumentException($"--count {arguments.Count}: expected 1 to {MaxCount}");
        }

        var modeName = arguments.Mode ?? "EX";
        if (!LockModeNames.ByName.TryGetValue(modeName, out var mode))
        {
            throw new ArgumentException($"--mode {modeName}: expected one of {string.Join(", ", LockModeNames.ByName.Keys)}");
        }

        var warmup = arguments.Warmup ?? Math.Min(100, arguments.Count / 10);
        if (warmup is < 0 or > MaxCount)
        {
            throw new ArgumentException($"--warmup {warmup}: expected 0 to {MaxCount}");
        }

        var echo = arguments.Echo is null ? null : Endpoint("--echo", arguments.Echo);
        var redis = arguments.Redis is null ? null : Endpoint("--redis", arguments.Redis);
        var resource = Encoding.UTF8.GetBytes(arguments.Resource ?? "");
        var timeout = arguments.TimeoutSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : DefaultTimeout;
        if (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromHours(1))
        {
            throw new ArgumentException($"--timeout {timeout.TotalSeconds}: expected seconds above 0, at most 3600");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var stage = "joining the lockspace";
        var probes = new List<Probe>();
        try
        {
            var lockspace = await manager.JoinAsync(arguments.Lockspace, cancellationToken: deadline.Token).ConfigureAwait(false);
            var handle = lockspace.CreateLock(resource);
            var cycles = new LockCycles(handle, mode, arguments.Count);
            probes.Add(cycles);
            EchoProbe? echoProbe = null;
            if (echo is not null)
            {
                stage = $"connecting to the echo responder at {arguments.Echo}";
                probes.Add(echoProbe = await EchoProbe.ConnectAsync(echo, arguments.Count, deadline.Token).ConfigureAwait(false));
            }

            RedisProbe? redisProbe = null;
            if (redis is not null)
            {
                stage = $"connecting to redis at {arguments.Redis}";
                probes.Add(redisProbe = await RedisProbe.ConnectAsync(redis, "cohort-dlm-bench:" + arguments.Resource, arguments.Count, deadline.Token).ConfigureAwait(false));
            }

            // Past the deadline, the request in flight is cancelled: a hung lock is reported, not waited for forever.
            using var cancelOnDeadline = deadline.Token.Register(() => handle.Cancel());

            // In turns of a block each, so that all three see the same machine: on a shared one, its load drifts
            // more between consecutive measurements of a few seconds than between the blocks of one.
            for (var from = -warmup; from < arguments.Count; from += Block)
            {
                var to = Math.Min(from + Block, arguments.Count);
                foreach (var probe in probes)
                {
                    stage = probe.Stage;
                    await probe.RunAsync(from, to, deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
                }
            }

            var latencies = Latencies(cycles.Samples);
            var echoed = echoProbe is null ? null : Latencies(echoProbe.Samples);
            var redisReport = redisProbe is null ? null : Latencies(redisProbe.Samples);
            return new DlmBenchReport(lockspace.Name, arguments.Resource ?? "", modeName.ToUpperInvariant(), arguments.Count, warmup, latencies, cycles.First.ToString(), cycles.Last.ToString(), cycles.Grew,
                echoed, redisReport, Ratio(latencies, echoed), Ratio(latencies, redisReport), EchoBytes);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new InvalidOperationException($"dlm-bench did not finish within {timeout.TotalSeconds:0.###} s: it was {stage}");
        }
        catch (SocketException ex)
        {
            throw new InvalidOperationException($"dlm-bench: {stage}: {ex.Message}");
        }
        finally
        {
            foreach (var probe in probes)
            {
                probe.Dispose();
            }
        }
    }

    /// <summary>How many operations each measurement runs before the next takes its turn.</summary>
    private const int Block = 100;

    /// <summary>One measured operation, run in blocks; sample <c>i</c> is the <c>i</c>-th (negative: warm-up, not kept).</summary>
    private abstract class Probe(int count, Socket? socket = null) : IDisposable
    {
        public double[] Samples { get; } = new double[count];

        /// <summary>What it does, for the message of a deadline that passed while it ran.</summary>
        public abstract string Stage { get; }

        public async Task RunAsync(int from, int to, CancellationToken cancellationToken)
        {
            for (var i = from; i < to; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var started = Stopwatch.GetTimestamp();
                await OnceAsync(i, cancellationToken).ConfigureAwait(false);
                if (i >= 0)
                {
                    Samples[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
                }
            }
        }

        protected abstract ValueTask OnceAsync(int i, CancellationToken cancellationToken);

        /// <summary>The connection it measures, for those that measure one.</summary>
        protected Socket Socket => socket ?? throw new InvalidOperationException("this probe has no connection");

        public void Dispose() => socket?.Dispose();
    }

    /// <summary>Lock then unlock the resource; the fencing tokens of the kept cycles must grow.</summary>
    private sealed class LockCycles(LockHandle handle, LockMode mode, int count) : Probe(count)
    {
        public FencingToken First { get; private set; }

        public FencingToken Last { get; private set; }

        public bool Grew { get; private set; } = true;

        public override string Stage => "locking";

        /// <summary>A cycle ends after its unlock, so that an abandoned bench holds nothing.</summary>
        protected override async ValueTask OnceAsync(int i, CancellationToken cancellationToken)
        {
            var locked = await handle.LockAsync(mode).ConfigureAwait(false);
            if (locked.Status == LockStatus.Cancelled)
            {
                cancellationToken.ThrowIfCancellationRequested(); // by the deadline
            }

            if (locked.Status != LockStatus.Granted)
            {
                throw new InvalidOperationException($"lock {i}: {mode} on the resource ended {locked.Status}, not granted");
            }

            var unlocked = await handle.UnlockAsync().ConfigureAwait(false);
            if (unlocked.Status != LockStatus.Unlocked)
            {
                throw new InvalidOperationException($"unlock {i} ended {unlocked.Status}, not unlocked");
            }

            if (i >= 0 && !locked.Token.IsNone)
            {
                Grew &= Last.IsNone || locked.Token > Last;
                First = First.IsNone ? locked.Token : First;
                Last = locked.Token;
            }
        }
    }

    /// <summary>Round trips of <see cref="EchoBytes"/> bytes, one at a time, on one connection (TCP_NODELAY).</summary>
    private sealed class EchoProbe(Socket connection, IPEndPoint at, int count) : Probe(count, connection)
    {
        private readonly byte[] _frame = Enumerable.Repeat((byte)'x', EchoBytes).ToArray();
        private readonly byte[] _back = new byte[EchoBytes];

        public override string Stage => $"round trips to the echo responder at {at}";

        public static async Task<EchoProbe> ConnectAsync(IPEndPoint at, int count, CancellationToken cancellationToken) =>
            new(await ConnectedAsync(at, cancellationToken).ConfigureAwait(false), at, count);

        protected override async ValueTask OnceAsync(int i, CancellationToken cancellationToken)
        {
            await Socket.SendAsync(_frame, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var read = 0;
            while (read < _back.Length)
            {
                var n = await Socket.ReceiveAsync(_back.AsMemory(read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                read += n > 0 ? n : throw new InvalidOperationException($"the echo responder at {at} closed the connection");
            }
        }
    }

    /// <summary><c>SET key val NX PX 30000</c> then <c>DEL key</c>, each awaited, on one connection: the usual Redis lock.</summary>
    private sealed class RedisProbe(Socket connection, IPEndPoint at, string key, int count) : Probe(count, connection)
    {
        private readonly byte[] _set = Resp("SET", key, "1", "NX", "PX", "30000");
        private readonly byte[] _del = Resp("DEL", key);
        private readonly byte[] _buffer = new byte[512];

        public override string Stage => $"SET NX PX + DEL on redis at {at}";

        public static async Task<RedisProbe> ConnectAsync(IPEndPoint at, string key, int count, CancellationToken cancellationToken)
        {
            var probe = new RedisProbe(await ConnectedAsync(at, cancellationToken).ConfigureAwait(false), at, key, count);
            try
            {
                await probe.DeleteAsync(cancellationToken).ConfigureAwait(false); // a key left by an earlier run
                return probe;
            }
            catch
            {
                probe.Dispose();
                throw;
            }
        }

        private Task<string> DeleteAsync(CancellationToken cancellationToken) => CommandAsync(Socket, _del, _buffer, cancellationToken);

        protected override async ValueTask OnceAsync(int i, CancellationToken cancellationToken)
        {
            var reply = await CommandAsync(Socket, _set, _buffer, cancellationToken).ConfigureAwait(false);
            if (reply != "+OK")
            {
                throw new InvalidOperationException($"redis at {at}: SET {key} NX PX answered {reply}, not +OK (is another client using the key?)");
            }

            reply = await DeleteAsync(cancellationToken).ConfigureAwait(false);
            if (reply != ":1")
            {
                throw new InvalidOperationException($"redis at {at}: DEL {key} answered {reply}, not :1");
            }
        }
    }

    private static async Task<Socket> ConnectedAsync(IPEndPoint at, CancellationToken cancellationToken)
    {
        var socket = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(at, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one command and reads its one-line reply (simple string, error or integer).</summary>
    private static async Task<string> CommandAsync(Socket socket, byte[] command, byte[] buffer, CancellationToken cancellationToken)
    {
        await socket.SendAsync(command, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        var read = 0;
        while (read < 2 || buffer[read - 2] != '\r' || buffer[read - 1] != '\n')
        {
            if (read == buffer.Length)
            {
                throw new InvalidOperationException("redis answered more than a one-line reply");
            }

            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            read += n > 0 ? n : throw new InvalidOperationException("redis closed the connection");
        }

        return Encoding.ASCII.GetString(buffer, 0, read - 2);
    }

    /// <summary>A command as a RESP array of bulk strings.</summary>
    private static byte[] Resp(params string[] parts)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"*{parts.Length}\r\n");
        foreach (var part in parts)
        {
            text.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(part)}\r\n{part}\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static IPEndPoint Endpoint(string option, string value)
    {
        if (!HostPort.IsValid(value, allowAnyPort: false) || !IPEndPoint.TryParse(value, out var endpoint) || !IPAddress.IsLoopback(endpoint.Address))
        {
            throw new ArgumentException($"{option} {value}: expected a loopback address and port, such as 127.0.0.1:6379");
        }

        return endpoint;
    }

    private static LatencyReport Latencies(double[] samples)
    {
        var sorted = (double[])samples.Clone();
        Array.Sort(sorted);
        return new LatencyReport(sorted.Length, Percentile(sorted, 0.50), Percentile(sorted, 0.99), Math.Round(sorted.Average(), 1), Math.Round(sorted[0], 1), Math.Round(sorted[^1], 1));
    }

    /// <summary>The nearest-rank percentile.</summary>
    private static double Percentile(double[] sorted, double p) => Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)], 1);

    private static double? Ratio(LatencyReport dlm, LatencyReport? floor) => floor is null || floor.P50Microseconds <= 0 ? null : Math.Round(dlm.P50Microseconds / floor.P50Microseconds, 3);
}
