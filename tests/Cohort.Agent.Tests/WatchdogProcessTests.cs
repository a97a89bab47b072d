using System.Diagnostics;
using System.Globalization;
using System.Text;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// The real <c>cohort watchdog</c> process against real process groups: it keeps a petted group alive, kills the
/// group when its petter is paused (SIGSTOP) or its pipe closes, exits without killing on <c>V</c>, and never kills
/// a group whose leader has another start time than it was given.
/// </summary>
[NonParallelizable]
public sealed class WatchdogProcessTests
{
    private readonly List<IDisposable> _owned = [];

    [TearDown]
    public void KillEverything()
    {
        foreach (var owned in Enumerable.Reverse(_owned))
        {
            owned.Dispose();
        }

        _owned.Clear();
    }

    /// <summary>A started <c>cohort watchdog</c>, its stdin ours, its stderr captured.</summary>
    private sealed class WatchdogRun(Process process, StringBuilder log) : IDisposable
    {
        public Process Process { get; } = process;

        public Stream Input { get; } = process.StandardInput.BaseStream;

        public string Log
        {
            get
            {
                lock (log)
                {
                    return log.ToString();
                }
            }
        }

        public void Send(byte value)
        {
            Input.WriteByte(value);
            Input.Flush();
        }

        public async Task<int> ExitAsync()
        {
            using var timeout = new CancellationTokenSource(Poll.DefaultDeadline);
            await Process.WaitForExitAsync(timeout.Token);
            Process.WaitForExit();
            return Process.ExitCode;
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill();
                Process.WaitForExit();
            }

            Process.Dispose();
        }
    }

    private WatchdogRun StartWatchdog(double timeout, int pid, long startTime, bool awaitArmed = true)
    {
        var start = new ProcessStartInfo(RepoPaths.Cohort) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])["watchdog", "--timeout", timeout.ToString(CultureInfo.InvariantCulture), "--pid", $"{pid}", "--pgid", $"{pid}", "--start-time", $"{startTime}", "--incarnation", "7"])
        {
            start.ArgumentList.Add(argument);
        }

        var log = new StringBuilder();
        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.Append(e.Data).Append('\n');
            }
        };
        process.BeginErrorReadLine();
        var run = new WatchdogRun(process, log);
        _owned.Add(run);
        if (awaitArmed)
        {
            var line = process.StandardOutput.ReadLineAsync().WaitAsync(Poll.DefaultDeadline).GetAwaiter().GetResult();
            Assert.That(line, Is.EqualTo("armed"), run.Log);
        }

        return run;
    }

    private async Task<VictimGroup> GroupAsync()
    {
        var group = await VictimGroup.StartAsync();
        _owned.Add(group);
        return group;
    }

    [Test]
    public async Task A_petted_group_lives_and_V_disarms_without_killing()
    {
        var group = await GroupAsync();
        var watchdog = StartWatchdog(0.5, group.Pid, group.StartTime);

        // Pet for several timeouts: every pet resets the deadline.
        var petting = Stopwatch.StartNew();
        while (petting.Elapsed < TimeSpan.FromSeconds(2))
        {
            watchdog.Send((byte)'P');
            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }

        Assert.That((group.IsGone, watchdog.Process.HasExited), Is.EqualTo((false, false)), watchdog.Log);
        watchdog.Send((byte)'V');
        Assert.That(await watchdog.ExitAsync(), Is.Zero, watchdog.Log);
        Assert.That(group.IsGone, Is.False, "disarmed: nothing killed");
        Assert.That(watchdog.Log, Does.Contain("disarmed; exiting without killing"));
    }

    [Test]
    public async Task A_paused_petter_is_killed_with_its_group()
    {
        // The petter is the guarded group itself: a shell that prints a pet every 100 ms, relayed to the watchdog.
        var start = new ProcessStartInfo("/usr/bin/setsid") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in (string[])["sh", "-c", "while :; do printf P; sleep 0.1; done"])
        {
            start.ArgumentList.Add(argument);
        }

        var petter = Process.Start(start)!;
        _owned.Add(new Owned(() =>
        {
            VictimGroup.KillGroup(petter.Id);
            petter.Kill();
            petter.WaitForExit();
            petter.Dispose();
        }));
        await Poll.UntilAsync("the petter to lead its group", () => VictimGroup.ReadStartTime(petter.Id) is not null && !VictimGroup.IsGroupGone(petter.Id) && Pgrp(petter.Id) == petter.Id);
        var watchdog = StartWatchdog(1, petter.Id, VictimGroup.ReadStartTime(petter.Id)!.Value);
        var relayed = 0;
        var relay = Task.Run(async () =>
        {
            var buffer = new byte[16];
            int read;
            try
            {
                while ((read = await petter.StandardOutput.BaseStream.ReadAsync(buffer)) > 0)
                {
                    await watchdog.Input.WriteAsync(buffer.AsMemory(0, read));
                    await watchdog.Input.FlushAsync();
                    Interlocked.Add(ref relayed, read);
                }
            }
            catch (IOException)
            {
                // The watchdog is gone.
            }
        });
        // 20 pets 100 ms apart outlast the 1 s timeout: the watchdog lets a petting group live.
        await Poll.UntilAsync("20 pets to be relayed", () => Volatile.Read(ref relayed) >= 20 || watchdog.Process.HasExited);
        Assert.That(VictimGroup.IsGroupGone(petter.Id), Is.False, $"a petting group lives: {watchdog.Log}");

        Assert.That(Signals.Send(petter.Id, Signals.Stop), Is.True);
        var stoppedAt = Stopwatch.GetTimestamp();

        Assert.That(await watchdog.ExitAsync(), Is.Zero, watchdog.Log);
        Assert.That(VictimGroup.IsGroupGone(petter.Id), Is.True, watchdog.Log);
        Assert.That(watchdog.Log, Does.Contain("no pet within 1 s").And.Contain($"killed group {petter.Id} of incarnation 7"));
        Assert.That(GoneAt(watchdog.Log), Is.GreaterThan(stoppedAt / (double)Stopwatch.Frequency), "killed after it was paused");
        await relay.WaitAsync(Poll.DefaultDeadline); // the killed petter's stdout ends
    }

    [TestCase(false, "pipe closed without a disarm", TestName = "The pipe closing without V kills the group")]
    [TestCase(true, "the agent fired it", TestName = "F fires at once")]
    public async Task An_end_of_file_or_F_kills_the_group_at_once(bool fire, string why)
    {
        var group = await GroupAsync();
        var watchdog = StartWatchdog(120, group.Pid, group.StartTime);
        watchdog.Send((byte)'P');

        if (fire)
        {
            watchdog.Send((byte)'F');
        }
        else
        {
            watchdog.Input.Close();
        }

        Assert.That(await watchdog.ExitAsync(), Is.Zero, watchdog.Log);
        Assert.That(group.IsGone, Is.True, "killed at once: the exit above is awaited for 30 s, well inside the 120 s timeout");
        Assert.That(watchdog.Log, Does.Contain(why));
    }

    [Test]
    public async Task A_group_whose_leader_has_another_start_time_is_never_killed()
    {
        var group = await GroupAsync();

        var watchdog = StartWatchdog(0.2, group.Pid, group.StartTime + 1, awaitArmed: false);

        Assert.That(await watchdog.ExitAsync(), Is.EqualTo(2), watchdog.Log);
        Assert.That(watchdog.Log, Does.Contain($"pid {group.Pid} does not have start time {group.StartTime + 1}: not the agent it was given; not arming"));
        Assert.That(group.IsGone, Is.False, "not petted, but not the group it was given: left alone");
    }

    [Test]
    public async Task A_guarded_group_that_is_already_gone_is_reported_not_killed_again()
    {
        var group = await GroupAsync();
        var watchdog = StartWatchdog(0.3, group.Pid, group.StartTime);
        VictimGroup.KillGroup(group.Pgid);
        await Poll.UntilAsync("the guarded group to be gone", () => group.IsGone);

        Assert.That(await watchdog.ExitAsync(), Is.Zero, watchdog.Log);
        Assert.That(watchdog.Log, Does.Contain($"group {group.Pgid} of incarnation 7 was already empty"));
    }

    private static int? Pgrp(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[2], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static double GoneAt(string log)
    {
        var match = System.Text.RegularExpressions.Regex.Match(log, @"gone at monotonic (\d+\.\d+)");
        Assert.That(match.Success, Is.True, log);
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private sealed class Owned(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
