using System.Diagnostics;
using System.Globalization;

namespace Cohort.TestSupport;

/// <summary>
/// A process group whose only member is a zombie: <c>sleep</c> leads a group of its own, is SIGKILLed, and stays
/// unreaped because its parent shell is stopped — as a lock client's command whose <c>cohort lock</c> was SIGSTOPped.
/// <c>kill(-pgid, 0)</c> still succeeds on it. Dispose kills the shell, whose parent (this process) reaps it.
/// </summary>
public sealed class ZombieGroup : IDisposable
{
    private readonly Process _parent;

    private ZombieGroup(Process parent, int pgid, long startTime)
    {
        _parent = parent;
        Pgid = pgid;
        StartTime = startTime;
    }

    /// <summary>The group's id, the zombie's pid.</summary>
    public int Pgid { get; }

    /// <summary>The zombie's start time (<c>/proc/PID/stat</c> field 22), taken while it lived.</summary>
    public long StartTime { get; }

    public static async Task<ZombieGroup> StartAsync(string directory)
    {
        var pidFile = Path.Combine(directory, $"zombie-{Guid.NewGuid():N}.pid");
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"setsid sleep 300 & echo $! > {pidFile}.tmp && mv {pidFile}.tmp {pidFile}; kill -STOP $$");
        var parent = Process.Start(start)!;
        try
        {
            await Poll.UntilAsync("the sleep to start", () => File.Exists(pidFile));
            var pid = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
            await Poll.UntilAsync($"pid {pid} to lead its own group, and its parent to stop", () =>
                VictimGroup.Stat(pid) is { } f && int.Parse(f[2], CultureInfo.InvariantCulture) == pid
                && VictimGroup.Stat(parent.Id) is { } p && p[0] == "T");
            var startTime = VictimGroup.ReadStartTime(pid) ?? throw new InvalidOperationException($"pid {pid} vanished");
            VictimGroup.KillProcess(pid);
            await Poll.UntilAsync($"pid {pid} to be a zombie", () => VictimGroup.Stat(pid) is { } f && f[0] == "Z");
            return new ZombieGroup(parent, pid, startTime);
        }
        catch
        {
            parent.Kill();
            parent.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _parent.Kill();
        _parent.WaitForExit();
        _parent.Dispose();
    }
}
