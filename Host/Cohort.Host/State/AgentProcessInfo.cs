using System.Globalization;
using Cohort.Host.Native;

namespace Cohort.Host.State;

/// <summary>
/// The contents of <c>&lt;state&gt;/agent.pid</c>. A fence device kills process group
/// <see cref="Pgid"/> after checking that <see cref="Pid"/> still has <see cref="StartTime"/>, so a
/// recycled pid never gets another process killed.
/// </summary>
/// <param name="Incarnation">The agent's incarnation.</param>
/// <param name="Pid">The agent's process id.</param>
/// <param name="Pgid">Its process group id (the agent leads its group, so equal to <see cref="Pid"/>).</param>
/// <param name="StartTime">The process start time in clock ticks since boot (<c>/proc/PID/stat</c> field 22).</param>
internal sealed record AgentProcessInfo(long Incarnation, int Pid, int Pgid, long StartTime)
{
    /// <summary>Describes the calling process.</summary>
    public static AgentProcessInfo Current(long incarnation)
    {
        var pid = Libc.getpid();
        return new AgentProcessInfo(incarnation, pid, Libc.getpgrp(), ReadStartTime(pid) ?? 0);
    }

    /// <summary>Describes process <paramref name="pid"/> and its group, or null when there is no such process.</summary>
    public static AgentProcessInfo? Of(int pid, long incarnation) =>
        Stat(pid) is { } fields
            ? new AgentProcessInfo(incarnation, pid, int.Parse(fields[2], CultureInfo.InvariantCulture), long.Parse(fields[19], CultureInfo.InvariantCulture))
            : null;

    /// <summary>The state letter (<c>R</c>, <c>S</c>, <c>T</c>, <c>Z</c>...) and the group of process
    /// <paramref name="pid"/>, or (null, 0) when there is no such process.</summary>
    public static (char? State, int Group) StateAndGroup(int pid) =>
        Stat(pid) is { } fields ? (fields[0][0], int.Parse(fields[2], CultureInfo.InvariantCulture)) : (null, 0);

    /// <summary>Reads field 22 of <c>/proc/PID/stat</c>, or null when the process is gone.</summary>
    public static long? ReadStartTime(int pid) => Stat(pid) is { } fields ? long.Parse(fields[19], CultureInfo.InvariantCulture) : null;

    /// <summary>The fields of <c>/proc/PID/stat</c> from the third on (state, ppid, pgrp, ...), or null when the
    /// process is gone.</summary>
    private static string[]? Stat(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }

        // The command name (field 2) is parenthesised and may hold spaces: count fields after the last ')'.
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
    }
}
