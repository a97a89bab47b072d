using System.Diagnostics;
using System.Text;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// A real <c>cohort</c> process started by a test, its output captured. Disposing kills it and, for an
/// agent, its whole process group, whatever state the test left it in.
/// </summary>
public sealed class CohortProcess : IDisposable
{
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly List<int> _extraGroups = [];

    private CohortProcess(Process process) => Process = process;

    public Process Process { get; }

    public int Pid => Process.Id;

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static CohortProcess Start(params string[] arguments)
    {
        // A shell running tests as a background job ignores SIGINT, and ignored signals are inherited:
        // start cohort with default dispositions, as from a terminal, so Ctrl-C can be tested.
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--default-signal=INT,QUIT");
        start.ArgumentList.Add(RepoPaths.Cohort);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("COHORT_SOCKET");
        var process = new Process { StartInfo = start };
        var result = new CohortProcess(process);
        process.OutputDataReceived += (_, e) => Append(result._stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(result._stderr, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>Runs a command to completion.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] arguments)
    {
        using var process = Start(arguments);
        var code = await process.WaitForExitAsync();
        return (code, process.Stdout, process.Stderr);
    }

    /// <summary>Also kill this process group on dispose (an agent a demo started, say).</summary>
    public void AlsoOwnGroup(int pgid) => _extraGroups.Add(pgid);

    public async Task<int> WaitForExitAsync(TimeSpan? deadline = null)
    {
        using var timeout = new CancellationTokenSource(deadline ?? Poll.DefaultDeadline);
        try
        {
            await Process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{string.Join(' ', Process.StartInfo.ArgumentList)} did not exit within {(deadline ?? Poll.DefaultDeadline).TotalSeconds:0} s; stderr:\n{Stderr}");
        }

        Process.WaitForExit();
        return Process.ExitCode;
    }

    public void Signal(int signal) => Signals.Send(Pid, signal);

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            // Agents lead their own group; anything else is killed by pid.
            if (!Signals.SendToGroup(Pid, Signals.Kill))
            {
                Signals.Send(Pid, Signals.Kill);
            }

            Process.WaitForExit();
        }

        foreach (var group in _extraGroups)
        {
            Signals.SendToGroup(group, Signals.Kill);
        }

        Process.Dispose();
    }

    private static void Append(StringBuilder buffer, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (buffer)
        {
            buffer.Append(line).Append('\n');
        }
    }
}
