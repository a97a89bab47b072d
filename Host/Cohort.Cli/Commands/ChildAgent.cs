using System.Diagnostics;

namespace Cohort.Cli.Commands;

/// <summary>
/// An agent this command started as a child process (it leads its own process group). Its output goes
/// to a log file; stopping it is SIGTERM, then SIGKILL of its group past the deadline.
/// </summary>
internal sealed class ChildAgent : IDisposable
{
    private readonly StreamWriter _log;
    private bool _stopped;

    private ChildAgent(Process process, StreamWriter log, string logPath)
    {
        Process = process;
        _log = log;
        LogPath = logPath;
    }

    public Process Process { get; }

    public string LogPath { get; }

    public static ChildAgent Start(string nodeFile, string logPath)
    {
        var (program, prefix) = Self();
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in prefix.Concat(["agent", "--config", nodeFile]))
        {
            start.ArgumentList.Add(argument);
        }

        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildAgent(process, log, logPath);
    }

    /// <summary>SIGTERM, wait, then SIGKILL the agent's process group. True if it stopped cleanly (exit 0).</summary>
    public async Task<bool> StopAsync(TimeSpan deadline)
    {
        if (_stopped)
        {
            return Process.ExitCode == 0;
        }

        _stopped = true;
        if (!Process.HasExited)
        {
            _ = Host.Native.Signals.Send(Process.Id, Host.Native.Signals.Terminate);
            using var timeout = new CancellationTokenSource(deadline);
            try
            {
                await Process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _ = Host.Native.Signals.SendToGroup(Process.Id, Host.Native.Signals.Kill);
                await Process.WaitForExitAsync(CancellationToken.None);
                return false;
            }
        }

        await Process.WaitForExitAsync(CancellationToken.None);
        return Process.ExitCode == 0;
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            _ = Host.Native.Signals.SendToGroup(Process.Id, Host.Native.Signals.Kill);
            Process.WaitForExit();
        }

        Process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }

    /// <summary>How to run this same program again: the apphost, or <c>dotnet cohort.dll</c>.</summary>
    private static (string Program, string[] Prefix) Self()
    {
        var path = Environment.ProcessPath!;
        return Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? (path, [typeof(ChildAgent).Assembly.Location])
            : (path, []);
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            if (log.BaseStream.CanWrite)
            {
                log.WriteLine(line);
            }
        }
    }
}
