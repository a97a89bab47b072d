using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Cohort.TestSupport;

/// <summary>
/// A real process group for a fence agent to kill: <c>setsid sleep 300</c>, which leads its own group. Disposing
/// kills it, whether or not a test fenced it, and waits until it is gone.
/// </summary>
public sealed partial class VictimGroup : IDisposable
{
    private readonly Process _process;

    private VictimGroup(Process process, long startTime)
    {
        _process = process;
        StartTime = startTime;
    }

    /// <summary>The leader's pid, which is also the group's id.</summary>
    public int Pid => _process.Id;

    /// <summary>The group's id.</summary>
    public int Pgid => _process.Id;

    /// <summary>The leader's start time (<c>/proc/PID/stat</c> field 22).</summary>
    public long StartTime { get; }

    /// <summary>True when no live process is left in the group (<see cref="IsGroupGone"/>).</summary>
    public bool IsGone => IsGroupGone(Pgid);

    /// <summary>The JSON record a fence agent reads: <c>{"pid","pgid","startTime"}</c>, plus the incarnation when given.</summary>
    public string Record(long? incarnation = null, long? startTime = null) =>
        "{" + (incarnation is { } n ? $"\"incarnation\":{n}," : "") +
        $"\"pid\":{Pid},\"pgid\":{Pgid},\"startTime\":{(startTime ?? StartTime).ToString(CultureInfo.InvariantCulture)}}}";

    /// <summary>Starts a group and waits until it leads its own group.</summary>
    public static async Task<VictimGroup> StartAsync()
    {
        var start = new ProcessStartInfo("/usr/bin/setsid") { UseShellExecute = false };
        start.ArgumentList.Add("sleep");
        start.ArgumentList.Add("300");
        var process = Process.Start(start)!;
        try
        {
            // setsid has run once the process's group is its own pid (field 5 of /proc/PID/stat).
            await Poll.UntilAsync($"pid {process.Id} to lead its own process group", () => Stat(process.Id) is { } f && f[2] == process.Id.ToString(CultureInfo.InvariantCulture));
            return new VictimGroup(process, ReadStartTime(process.Id) ?? throw new InvalidOperationException($"pid {process.Id} vanished"));
        }
        catch
        {
            process.Kill();
            process.Dispose();
            throw;
        }
    }

    /// <summary>Field 22 of <c>/proc/PID/stat</c>, or null when the process is gone.</summary>
    public static long? ReadStartTime(int pid) => Stat(pid) is { } fields ? long.Parse(fields[19], CultureInfo.InvariantCulture) : null;

    /// <summary>True when no live process is in group <paramref name="pgid"/>: <c>kill(-pgid, 0)</c> gives ESRCH, or
    /// /proc shows only zombies in it (killed, not yet reaped: they run nothing, but <c>kill</c> still finds them).</summary>
    public static bool IsGroupGone(int pgid) => (kill(-pgid, 0) != 0 && Marshal.GetLastPInvokeError() == Esrch) || OnlyZombies(pgid);

    private static bool OnlyZombies(int pgid)
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), CultureInfo.InvariantCulture, out var pid)
                && Stat(pid) is { } fields && int.Parse(fields[2], CultureInfo.InvariantCulture) == pgid && fields[0] is not ("Z" or "X"))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Kills group <paramref name="pgid"/> with SIGKILL (nothing if it is gone).</summary>
    public static void KillGroup(int pgid) => _ = kill(-pgid, SigKill);

    /// <summary>Sends SIGKILL to process <paramref name="pid"/>.</summary>
    internal static void KillProcess(int pid) => _ = kill(pid, SigKill);

    /// <summary>Kills the group and waits for it to be gone.</summary>
    public void Dispose()
    {
        KillGroup(Pgid);
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // already gone
        }

        _process.WaitForExit();
        _process.Dispose();
    }

    // The fields after the command name: fields[0] is field 3 (state), fields[2] field 5 (pgrp), fields[19] field 22.
    internal static string[]? Stat(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }

    private const int SigKill = 9;
    private const int Esrch = 3;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
