using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Cohort.Host.Native;
using Cohort.Host.State;

namespace Cohort.Host.Agent;

/// <summary>What <c>cohort watchdog</c> guards.</summary>
/// <param name="Timeout">How long it waits for a pet.</param>
/// <param name="Agent">The agent's record: the group to kill, and the pid and start time that prove it is the agent's.</param>
/// <param name="StateDirectory">Where the agent's lock clients record their groups (<c>fence-groups</c>), or null.</param>
internal sealed record WatchdogArguments(TimeSpan Timeout, AgentProcessInfo Agent, string? StateDirectory);

/// <summary>
/// The watchdog process (<c>cohort watchdog</c>): a small process, in a session of its own, that kills an agent's
/// process group with SIGKILL unless the agent keeps petting it through the pipe on its standard input.
/// </summary>
/// <remarks>
/// <para>The protocol, one byte at a time: <see cref="Disarm"/> (<c>V</c>) disarms it and it exits without killing
/// (the agent stops normally); <see cref="Fire"/> (<c>F</c>) kills now (the agent read a poison); end of file without
/// <c>V</c> kills now (the agent died: its group's leftovers die too); any other byte is a pet. No pet within the
/// timeout kills. Once it is set up it writes <see cref="ReadyLine"/> on its standard output.</para>
/// <para>It leads a session of its own (<c>setsid</c>), so that it is stopped neither with the agent's group (a
/// SIGSTOP or SIGTSTP of the group) nor killed with it. So that it can never kill a later incarnation's group it is
/// given the agent's pid, group and start time, and kills only with <see cref="AgentPower"/>'s care: a pid whose
/// start time differs while the group lives is not the agent's, and is left alone. Lock clients' groups in
/// <c>fence-groups</c> are read when it kills, and killed with the same care.</para>
/// </remarks>
internal static class Watchdog
{
    public const byte Pet = (byte)'P';
    public const byte Disarm = (byte)'V';
    public const byte Fire = (byte)'F';

    /// <summary>What it prints on stdout once it leads its session and checked the agent's record.</summary>
    public const string ReadyLine = "armed";

    /// <summary>How long a killed group may take to empty.</summary>
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(10);

    /// <summary>Runs until disarmed or until it killed; the exit code says which (0: disarmed, or killed and the
    /// groups are gone; 1: a kill that did not empty a group; 2: bad arguments).</summary>
    public static int Run(WatchdogArguments arguments, Stream input, TextWriter ready, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var agent = arguments.Agent;
        var name = $"watchdog of pid {agent.Pid} (incarnation {agent.Incarnation})";
        if (Libc.setsid() < 0 && Libc.getpgrp() != Libc.getpid())
        {
            log.WriteLine($"{name}: cannot lead a session of its own (setsid): {Marshal.GetLastPInvokeErrorMessage()}");
            return 2;
        }

        if (AgentProcessInfo.ReadStartTime(agent.Pid) != agent.StartTime)
        {
            log.WriteLine($"{name}: pid {agent.Pid} does not have start time {agent.StartTime}: not the agent it was given; not arming");
            return 2;
        }

        var bytes = new BlockingCollection<int>();
        var reader = new Thread(() => ReadInput(input, bytes)) { IsBackground = true, Name = "watchdog-input" };
        reader.Start();
        ready.WriteLine(ReadyLine);
        ready.Flush();
        log.WriteLine($"{name}: armed, timeout {Seconds(arguments.Timeout)} s, group {agent.Pgid}");

        var time = TimeProvider.System;
        var lastPet = time.GetTimestamp();
        while (true)
        {
            var left = arguments.Timeout - time.GetElapsedTime(lastPet);
            if (left <= TimeSpan.Zero || !bytes.TryTake(out var next, left))
            {
                return Kill(arguments, $"no pet within {Seconds(arguments.Timeout)} s (the agent is paused or hung)", name, log);
            }

            switch (next)
            {
                case -1:
                    return Kill(arguments, "the agent's pipe closed without a disarm (the agent died)", name, log);
                case Disarm:
                    log.WriteLine($"{name}: disarmed; exiting without killing");
                    return 0;
                case Fire:
                    return Kill(arguments, "the agent fired it (it read a poison pill for itself)", name, log);
                default:
                    lastPet = time.GetTimestamp();
                    break;
            }
        }
    }

    private static void ReadInput(Stream input, BlockingCollection<int> bytes)
    {
        var buffer = new byte[64];
        try
        {
            int read;
            while ((read = input.Read(buffer)) > 0)
            {
                for (var i = 0; i < read; i++)
                {
                    bytes.Add(buffer[i]);
                }
            }
        }
        catch (IOException)
        {
            // A broken pipe is an end of file.
        }

        bytes.Add(-1);
    }

    private static int Kill(WatchdogArguments arguments, string why, string name, TextWriter log)
    {
        var time = TimeProvider.System;
        List<AgentProcessInfo> groups = [arguments.Agent];
        if (arguments.StateDirectory is { } state)
        {
            try
            {
                groups.AddRange(AgentPower.ReadClients(state));
            }
            catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
            {
                log.WriteLine($"{name}: cannot read the lock clients' groups: {ex.Message}; killing the agent's group only");
            }
        }

        var failed = false;
        foreach (var group in groups)
        {
            var off = AgentPower.OffAsync(group, KillWait, time).GetAwaiter().GetResult();
            failed |= !off.Off;
            var gone = off.GoneAt is { } at ? $"; gone at monotonic {(at / (double)time.TimestampFrequency).ToString("F6", CultureInfo.InvariantCulture)}" : "";
            log.WriteLine($"{name}: {why}: {off.Detail}{gone}");
        }

        log.Flush();
        return failed ? 1 : 0;
    }

    private static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
}
