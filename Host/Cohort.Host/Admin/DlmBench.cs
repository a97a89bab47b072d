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
/// <see cref="IDistributedLockManager"/>, one after another, and — by the same harness, in the same process — the
/// floors it is compared with: a raw TCP round trip to an echo responder, and Redis <c>SET NX PX</c> + <c>DEL</c>
/// on one connection with a minimal RESP client. Every wait is bounded by the bench's deadline.
/// </summary>
internal static class DlmBench
{
    /// <summary>The echo frame's size: about a lock request's.</summary>
    public const int EchoBytes = 64;

    /// <summary>The most cycles one bench runs.</summary>
    public const int MaxCount = 1_000_000;

    /// <summary>The default deadline of the whole bench.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private static readonly Dictionary<string, LockMode> Modes = new(StringComparer.OrdinalIgnoreCase)
    {
        ["NL"] = LockMode.Null,
        ["CR"] = LockMode.ConcurrentRead,
        ["CW"] = LockMode.ConcurrentWrite,
        ["PR"] = LockMode.ProtectedRead,
        ["PW"] = LockMode.ProtectedWrite,
        ["EX"] = LockMode.Exclusive,
    };

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
        if (!Modes.TryGetValue(modeName, out var mode))
        {
            throw new ArgumentException($"--mode {modeName}: expected one of {string.Join(", ", Modes.Keys)}");
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
        try
        {
            var lockspace = await manager.JoinAsync(arguments.Lockspace, cancellationToken: deadline.Token).ConfigureAwait(false);
            var handle = lockspace.CreateLock(resource);
            stage = "locking";
            var (dlm, first, last, grew) = await WithDeadline(LockCyclesAsync(handle, mode, arguments.Count, warmup, deadline.Token), handle, deadline.Token).ConfigureAwait(false);

            LatencyReport? echoed = null, redisReport = null;
            if (echo is not null)
            {
                stage = $"round trips to the echo responder at {arguments.Echo}";
                echoed = Latencies(await EchoAsync(echo, arguments.Count, warmup, deadline.Token).ConfigureAwait(false));
            }

            if (redis is not null)
            {
                stage = $"SET NX PX + DEL on redis at {arguments.Redis}";
                redisReport = Latencies(await RedisAsync(redis, "cohort-dlm-bench:" + arguments.Resource, arguments.Count, warmup, deadline.Token).ConfigureAwait(false));
            }

            var latencies = Latencies(dlm);
            return new DlmBenchReport(lockspace.Name, arguments.Resource ?? "", modeName.ToUpperInvariant(), arguments.Count, warmup, latencies, first.ToString(), last.ToString(), grew,
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
    }

    /// <summary>Awaits the lock cycles until the deadline; past it, cancels the request in flight (a hung lock is
    /// reported, not waited for forever).</summary>
    private static async Task<T> WithDeadline<T>(Task<T> cycles, LockHandle handle, CancellationToken deadline)
    {
        try
        {
            return await cycles.WaitAsync(deadline).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            handle.Cancel();
            throw;
        }
    }

    /// <summary>The cycles; past the deadline the loop ends after its unlock, so that an abandoned bench holds nothing.</summary>
    private static async Task<(double[] Samples, FencingToken First, FencingToken Last, bool Grew)> LockCyclesAsync(LockHandle handle, LockMode mode, int count, int warmup, CancellationToken deadline)
    {
        var samples = new double[count];
        FencingToken first = default, last = default;
        var grew = true;
        for (var i = -warmup; i < count; i++)
        {
            deadline.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            var locked = await handle.LockAsync(mode).ConfigureAwait(false);
            if (locked.Status != LockStatus.Granted)
            {
                throw new InvalidOperationException($"lock {i + warmup + 1}: {mode} on the resource ended {locked.Status}, not granted");
            }

            var unlocked = await handle.UnlockAsync().ConfigureAwait(false);
            if (unlocked.Status != LockStatus.Unlocked)
            {
                throw new InvalidOperationException($"unlock {i + warmup + 1} ended {unlocked.Status}, not unlocked");
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            if (i < 0)
            {
                continue;
            }

            samples[i] = elapsed.TotalMicroseconds;
            if (!locked.Token.IsNone)
            {
                grew &= last.IsNone || locked.Token > last;
                first = first.IsNone ? locked.Token : first;
                last = locked.Token;
            }
        }

        return (samples, first, last, grew);
    }

    /// <summary>Round trips of <see cref="EchoBytes"/> bytes, one at a time, on one connection (TCP_NODELAY).</summary>
    private static async Task<double[]> EchoAsync(IPEndPoint at, int count, int warmup, CancellationToken cancellationToken)
    {
        using var socket = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(at, cancellationToken).ConfigureAwait(false);
        var frame = new byte[EchoBytes];
        frame.AsSpan().Fill((byte)'x');
        var back = new byte[EchoBytes];
        var samples = new double[count];
        for (var i = -warmup; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await socket.SendAsync(frame, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            var read = 0;
            while (read < back.Length)
            {
                var n = await socket.ReceiveAsync(back.AsMemory(read), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                read += n > 0 ? n : throw new InvalidOperationException($"the echo responder at {at} closed the connection");
            }

            if (i >= 0)
            {
                samples[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            }
        }

        return samples;
    }

    /// <summary><c>SET key val NX PX 30000</c> then <c>DEL key</c>, each awaited, on one connection: the usual Redis lock.</summary>
    private static async Task<double[]> RedisAsync(IPEndPoint at, string key, int count, int warmup, CancellationToken cancellationToken)
    {
        using var socket = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(at, cancellationToken).ConfigureAwait(false);
        var set = Resp("SET", key, "1", "NX", "PX", "30000");
        var del = Resp("DEL", key);
        var buffer = new byte[512];
        await CommandAsync(socket, del, buffer, cancellationToken).ConfigureAwait(false); // a key left by an earlier run
        var samples = new double[count];
        for (var i = -warmup; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var reply = await CommandAsync(socket, set, buffer, cancellationToken).ConfigureAwait(false);
            if (reply != "+OK")
            {
                throw new InvalidOperationException($"redis at {at}: SET {key} NX PX answered {reply}, not +OK (is another client using the key?)");
            }

            reply = await CommandAsync(socket, del, buffer, cancellationToken).ConfigureAwait(false);
            if (reply != ":1")
            {
                throw new InvalidOperationException($"redis at {at}: DEL {key} answered {reply}, not :1");
            }

            if (i >= 0)
            {
                samples[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            }
        }

        return samples;
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
