using System.Globalization;
using System.Text.Json;
using Cohort.Host.Native;

namespace Cohort.Host.State;

/// <summary>Whether the agent an <c>agent.pid</c> record names is running.</summary>
internal enum AgentPowerState
{
    /// <summary>The recorded group still has processes, and they are the recorded agent's.</summary>
    On,

    /// <summary>The recorded group is empty.</summary>
    Off,

    /// <summary>The recorded pid has another start time and group <c>pgid</c> has processes: by the kernel's rules the
    /// agent is gone, but a wrong record would look the same, so nothing is claimed.</summary>
    Unknown,
}

/// <summary>What <see cref="AgentPower.OffAsync"/> did.</summary>
/// <param name="Off">True when the recorded group is gone (<see cref="AgentPower.IsGroupGone"/>: no live process).</param>
/// <param name="Detail">What happened, for a log or an operator.</param>
/// <param name="GoneAt">When that was seen, as a <see cref="TimeProvider.GetTimestamp"/> value of the given clock
/// (with <see cref="TimeProvider.System"/>, CLOCK_MONOTONIC in its ticks); null unless <paramref name="Off"/>.</param>
internal sealed record AgentPowerOff(bool Off, string Detail, long? GoneAt);

/// <summary>
/// "Power" for one node on one machine: the agent recorded in a state directory's <c>agent.pid</c> is the node,
/// its process group the machine. Switching it off kills the group with SIGKILL and waits until it is empty.
/// </summary>
/// <remarks>
/// <para>The record's pid may have been reused since it was written. Linux does not hand out a pid that is still
/// some group's id, so a pid with no process means any process left in group <c>pgid</c> is the agent's (its
/// children, after the leader died); a pid whose start time differs from the record belongs to another process now,
/// and the old group had already emptied before that happened — unless the record itself is wrong. So: a matching
/// start time, or no process at that pid, makes the group the agent's; a different start time with a live group may
/// be someone else's group, is never killed, and is neither on nor off.</para>
/// <para>The caller's own group (and the caller's pid) are refused too: a fencer must not kill itself.</para>
/// </remarks>
internal static class AgentPower
{
    /// <summary>The lock clients' records in a state directory.</summary>
    public const string ClientsFileName = "fence-groups";

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>Reads <c>&lt;state&gt;/agent.pid</c>.</summary>
    /// <exception cref="FileNotFoundException">There is no record: no agent ever ran there.</exception>
    /// <exception cref="FormatException">The file is not the record an agent writes.</exception>
    public static AgentProcessInfo Read(string stateDirectory)
    {
        var path = Path.Combine(stateDirectory, StateDirectory.PidFileName);
        AgentProcessInfo? info;
        try
        {
            info = JsonSerializer.Deserialize(File.ReadAllText(path), HostJsonContext.Default.AgentProcessInfo);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"{path}: no such file: no agent ran in {stateDirectory}", path, ex);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}: not the JSON record an agent writes ({ex.Message})", ex);
        }

        // 0 and 1 would make kill(-pgid) mean "my own group" or "every process": never a record's.
        return info is { Pid: > 1, Pgid: > 1 }
            ? info
            : throw new FormatException($"{path}: expected {{\"incarnation\",\"pid\",\"pgid\",\"startTime\"}} with pid and pgid above 1");
    }

    /// <summary>The lock clients' groups a state directory records in <c>fence-groups</c> (a JSON array of
    /// <c>{"pid","pgid","startTime"}</c>); empty when there is no such file.</summary>
    /// <exception cref="FormatException">The file is not such an array, or names a pid or pgid of 0 or 1.</exception>
    public static IReadOnlyList<AgentProcessInfo> ReadClients(string stateDirectory)
    {
        var path = Path.Combine(stateDirectory, ClientsFileName);
        AgentProcessInfo[]? clients;
        try
        {
            clients = JsonSerializer.Deserialize(File.ReadAllText(path), HostJsonContext.Default.AgentProcessInfoArray);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}: not a JSON array of {{\"pid\",\"pgid\",\"startTime\"}} ({ex.Message})", ex);
        }

        return clients is not null && clients.All(c => c is { Pid: > 1, Pgid: > 1 })
            ? clients
            : throw new FormatException($"{path}: expected an array of {{\"pid\",\"pgid\",\"startTime\"}} with pid and pgid above 1");
    }

    /// <summary>Whether the recorded agent runs: <see cref="AgentPowerState.On"/> while its group has processes
    /// that are the agent's, <see cref="AgentPowerState.Off"/> once the group is empty, and
    /// <see cref="AgentPowerState.Unknown"/> when the pid was reused and the group has processes (see the remarks of
    /// <see cref="AgentPower"/>).</summary>
    /// <remarks>Off is claimed only when no live process is left (ESRCH, or zombies only): a power device that answers
    /// "off" wrongly makes a fence succeed without killing anything.</remarks>
    public static AgentPowerState Status(AgentProcessInfo record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (IsGroupGone(record.Pgid))
        {
            return AgentPowerState.Off;
        }

        return IsReused(record) ? AgentPowerState.Unknown : AgentPowerState.On;
    }

    /// <summary>Kills the recorded agent's process group with SIGKILL and waits until it is empty.</summary>
    /// <param name="record">The agent's record.</param>
    /// <param name="deadline">How long to wait for the group to empty (SIGKILL is asynchronous).</param>
    /// <param name="time">The clock of the wait and of <see cref="AgentPowerOff.GoneAt"/>.</param>
    /// <param name="cancellationToken">Stops the wait; the result then says the group was not seen gone.</param>
    /// <returns>Off only once no live process is left in the group (<see cref="IsGroupGone"/>); a refusal (the group is the caller's, or the pid
    /// was reused and the group is someone else's) or a group that outlived the deadline is not off.</returns>
    public static async Task<AgentPowerOff> OffAsync(AgentProcessInfo record, TimeSpan deadline, TimeProvider time, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(time);
        int ownGroup = Libc.getpgrp(), ownPid = Libc.getpid();
        if (record.Pgid == ownGroup || record.Pgid == ownPid || record.Pid == ownPid)
        {
            return new AgentPowerOff(false, $"refusing to kill process group {record.Pgid} (pid {record.Pid}): it holds this process (pid {ownPid}, group {ownGroup})", null);
        }

        if (IsGroupGone(record.Pgid))
        {
            return new AgentPowerOff(true, $"group {record.Pgid} of incarnation {record.Incarnation} was already empty", time.GetTimestamp());
        }

        if (IsReused(record))
        {
            return new AgentPowerOff(false, $"pid reused: pid {record.Pid} no longer has start time {record.StartTime}, and group {record.Pgid} has processes; refusing to kill a group that is not the agent's", null);
        }

        if (Libc.kill(-record.Pgid, Libc.SIGKILL) != 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() is var errno && errno != Libc.ESRCH)
        {
            return new AgentPowerOff(false, $"kill(-{record.Pgid}, SIGKILL) failed with errno {errno} (not permitted?)", null);
        }

        var started = time.GetTimestamp();
        while (!IsGroupGone(record.Pgid))
        {
            if (time.GetElapsedTime(started) > deadline)
            {
                return new AgentPowerOff(false, $"sent SIGKILL to group {record.Pgid}, but it still had processes after {deadline.TotalSeconds:0.###} s", null);
            }

            try
            {
                await Task.Delay(PollInterval, time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return new AgentPowerOff(false, $"sent SIGKILL to group {record.Pgid}, but it still had processes when the wait was cancelled", null);
            }
        }

        return new AgentPowerOff(true, $"killed group {record.Pgid} of incarnation {record.Incarnation}", time.GetTimestamp());
    }

    /// <summary>True when no live process is left in the group: <c>kill(-pgid, 0)</c> answers ESRCH, or every member
    /// left is a zombie (dead, not yet reaped by a parent that may itself be stopped; <c>kill</c> still finds it).</summary>
    public static bool IsGroupGone(int pgid) =>
        (Libc.kill(-pgid, 0) != 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Libc.ESRCH) || OnlyZombies(pgid);

    /// <summary>Whether /proc shows no member of group <paramref name="pgid"/> but zombies.</summary>
    private static bool OnlyZombies(int pgid)
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(directory);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]) || !int.TryParse(name, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            if (AgentProcessInfo.StateAndGroup(pid) is ({ } state, var group) && group == pgid && state is not ('Z' or 'X'))
            {
                return false;
            }
        }

        return true;
    }

    // A live process at the pid with another start time: the pid is someone else's now.
    private static bool IsReused(AgentProcessInfo record) =>
        AgentProcessInfo.ReadStartTime(record.Pid) is { } startTime && startTime != record.StartTime;
}
