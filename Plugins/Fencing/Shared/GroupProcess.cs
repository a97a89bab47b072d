using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace Cohort.Fencing.Agents;

/// <summary>How a program run by <see cref="GroupProcess"/> ended.</summary>
/// <param name="ExitCode">Its exit code (128 + N when signal N killed it); null when it never started or was
/// cancelled.</param>
/// <param name="Stdout">The end of what it wrote to stdout (at most <see cref="GroupProcess.OutputLimit"/> characters).</param>
/// <param name="Stderr">The end of what it wrote to stderr, bounded alike.</param>
/// <param name="Error">Why it could not be started or was cut short; null when it ran to its end.</param>
internal sealed record ProgramRun(int? ExitCode, string Stdout, string Stderr, string? Error)
{
    /// <summary>The last few non-empty lines of stderr (else stdout), on one line, for an outcome's detail.</summary>
    public string LastLines(int count = 3)
    {
        var text = Stderr.Trim().Length > 0 ? Stderr : Stdout;
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "no output" : string.Join(" | ", lines[^Math.Min(count, lines.Length)..]);
    }
}

/// <summary>
/// Runs a program as the leader of a new session (through util-linux <c>setsid</c>), so that everything it starts
/// is in one process group that can be killed as a whole: when the operation is cancelled (the device's timeout),
/// and after the program exits, so that nothing it left behind outlives the operation or holds its pipes open.
/// </summary>
internal static class GroupProcess
{
    /// <summary>How much of each output stream is kept (the end of it).</summary>
    public const int OutputLimit = 16 * 1024;

    /// <summary>How long a killed group may take to disappear before the run gives up waiting for it.</summary>
    private static readonly TimeSpan KillGrace = TimeSpan.FromSeconds(10);

    private static readonly string[] SetsidPaths = ["/usr/bin/setsid", "/bin/setsid"];

    /// <summary>Runs <paramref name="program"/> to its end, or until <paramref name="cancellationToken"/> is
    /// cancelled; then its process group is killed and gone before this returns (or
    /// <see cref="KillGrace"/> passed).</summary>
    /// <param name="program">The program's path.</param>
    /// <param name="arguments">Its arguments.</param>
    /// <param name="environment">Variables added to the environment it inherits.</param>
    /// <param name="stdin">What to write on its stdin before closing it; null gives it an empty stdin.</param>
    /// <param name="cancellationToken">Cancels the run: the group is killed and the result says so.</param>
    public static async Task<ProgramRun> RunAsync(
        string program,
        IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string>? environment,
        string? stdin,
        CancellationToken cancellationToken)
    {
        var setsid = SetsidPaths.FirstOrDefault(File.Exists);
        if (setsid is null)
        {
            return new ProgramRun(null, "", "", "setsid (util-linux) not found in /usr/bin or /bin: cannot run a program in a group of its own");
        }

        var start = new ProcessStartInfo(setsid)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // setsid forks only when it already leads a group, which a child .NET starts never does; so the pid .NET
        // reports is setsid's, then (after exec) the program's, and the new session's group id equals it.
        start.ArgumentList.Add("--wait");
        start.ArgumentList.Add(program);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        if (cancellationToken.IsCancellationRequested)
        {
            return new ProgramRun(null, "", "", "cancelled before the program started");
        }

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            return new ProgramRun(null, "", "", $"cannot start {program}: {ex.Message}");
        }

        var pid = process.Id;
        var stdout = ReadTailAsync(process.StandardOutput);
        var stderr = ReadTailAsync(process.StandardError);
        var cancelled = false;
        using (cancellationToken.Register(() =>
        {
            cancelled = true;
            // The process first (before setsid() runs it leads no group yet), unless it is already reaped and its pid
            // free for reuse; then its group.
            if (!process.HasExited)
            {
                _ = Libc.kill(pid, Libc.SIGKILL);
            }

            _ = Libc.KillGroup(pid);
        }))
        {
            await WriteStdinAsync(process.StandardInput, stdin);
            await process.WaitForExitAsync(CancellationToken.None);
        }

        // Whatever the program left in its group dies with it, so that the pipes close and nothing outlives the run.
        // Only the group: the pid itself is reaped and may be reused. While the group has members its id cannot be
        // reused, so this kills the program's own leftovers; an empty group is left alone.
        if (!Libc.GroupIsGone(pid))
        {
            _ = Libc.KillGroup(pid);
        }

        var gone = await WaitGoneAsync(pid);
        var run = new ProgramRun(cancelled ? null : process.ExitCode, await stdout, await stderr, null);
        return cancelled || !gone
            ? run with
            {
                Error = (cancelled ? "cancelled (the device's timeout): killed its process group " + pid : "it exited") +
                        (gone ? "" : $", but group {pid} still had processes {KillGrace.TotalSeconds:0} s after SIGKILL"),
            }
            : run;
    }

    private static async Task<bool> WaitGoneAsync(int pgid)
    {
        var clock = Stopwatch.StartNew();
        while (!Libc.GroupIsGone(pgid))
        {
            if (clock.Elapsed > KillGrace)
            {
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10));
        }

        return true;
    }

    private static async Task WriteStdinAsync(StreamWriter writer, string? text)
    {
        try
        {
            if (text is not null)
            {
                await writer.WriteAsync(text);
            }

            writer.Close();
        }
        catch (IOException)
        {
            // The program exited or closed its stdin without reading it all: its exit code says what happened.
        }
    }

    private static async Task<string> ReadTailAsync(StreamReader reader)
    {
        var kept = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            kept.Append(buffer, 0, read);
            if (kept.Length > OutputLimit)
            {
                kept.Remove(0, kept.Length - OutputLimit);
            }
        }

        return kept.ToString();
    }
}
