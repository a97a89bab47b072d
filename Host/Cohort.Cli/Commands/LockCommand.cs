using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Cohort.Dlm.Client;
using Cohort.Host;
using Cohort.Host.Admin;
using Cohort.Host.Native;
using Cohort.Host.State;
using Cohort.Locking;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort lock RESOURCE [--mode EX] [--lockspace LS] [--wait SECONDS] -- COMMAND ARGS</c>: runs the command in a
/// process group of its own while holding a cluster lock on RESOURCE.
/// </summary>
/// <remarks>
/// The command starts stopped (<c>setsid sh -c 'kill -STOP $$; . ENV; exec "$@"'</c>), its group is registered with the
/// local agent (which fsyncs it to <c>fence-groups</c>, so that fencing the node kills it), the lock is requested,
/// and only once it is granted does the command continue, with <c>COHORT_LOCK_TOKEN</c> (the fencing token of a
/// PW/EX grant), <c>COHORT_LOCK_MODE</c> and <c>COHORT_LOCK_GRANTED_AT</c> (CLOCK_MONOTONIC seconds) set. When it exits, whatever is left of its group is killed
/// before the lock is released: nothing that ran under the lock outlives it. Exit: the command's code; 75 if the
/// lock was not granted in time; 70 if the connection to the agent was lost (the group is SIGKILLed first).
/// </remarks>
internal static class LockCommand
{
    /// <summary>The lock was not granted within <c>--wait</c> (EX_TEMPFAIL).</summary>
    public const int NotGranted = 75;

    /// <summary>The connection to the agent was lost while the command ran (EX_SOFTWARE).</summary>
    public const int ConnectionLost = 70;

    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan KillDeadline = TimeSpan.FromSeconds(10);


    public static Command Create()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var resource = new Argument<string>("resource") { Description = "The resource's name (1 to 64 bytes of UTF-8)." };
        var command = new Argument<string[]>("command") { Description = "The command and its arguments, after --.", Arity = ArgumentArity.OneOrMore };
        var mode = new Option<string>("--mode") { Description = "NL, CR, CW, PR, PW or EX.", DefaultValueFactory = _ => "EX" };
        var lockspace = new Option<string>("--lockspace") { Description = "The lockspace, joined on demand.", DefaultValueFactory = _ => "default" };
        var wait = new Option<double?>("--wait") { Description = "Seconds to wait for the lock (0: do not queue); without it, until granted." };
        var lockCommand = new Command("lock", "Run a command while holding a cluster lock; exit with its code (75: not granted in time, 70: agent connection lost).")
        {
            resource, command, mode, lockspace, wait, config, socket,
        };
        lockCommand.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var modeName = parse.GetValue(mode)!;
            if (!LockModeNames.ByName.TryGetValue(modeName, out var lockMode))
            {
                throw new CohortStartupException($"--mode {modeName}: expected one of {string.Join(", ", LockModeNames.ByName.Keys)}", ExitCodes.Usage);
            }

            var seconds = parse.GetValue(wait);
            if (seconds is < 0 or > 86_400 || (seconds is { } s && double.IsNaN(s)))
            {
                throw new CohortStartupException($"--wait {seconds}: expected seconds from 0 to 86400", ExitCodes.Usage);
            }

            var name = Encoding.UTF8.GetBytes(parse.GetValue(resource)!);
            if (name.Length is 0 or > 64)
            {
                throw new CohortStartupException($"resource \"{parse.GetValue(resource)}\" is {name.Length} bytes of UTF-8: a resource name is 1 to 64 bytes", ExitCodes.Usage);
            }

            var admin = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            return await RunAsync(admin.SocketPath, parse.GetValue(lockspace)!, name, lockMode, seconds, parse.GetValue(command)!, cancellationToken);
        }));
        return lockCommand;
    }

    private static async Task<int> RunAsync(string socketPath, string lockspaceName, byte[] resource, LockMode mode, double? waitSeconds, string[] command, CancellationToken cancellationToken)
    {
        var child = await StartStoppedAsync(command, cancellationToken);
        var ran = false;
        try
        {
            DlmClient client;
            try
            {
                client = await DlmClient.ConnectAsync(socketPath, registerOwnGroup: false, cancellationToken);
            }
            catch (IOException ex)
            {
                throw new CohortStartupException(ex.Message, ExitCodes.Unavailable); // the child is killed below
            }

            await using (client)
            {
                await client.RegisterProcessGroupAsync(child.Group.Pid, cancellationToken);
                var lockspace = await client.JoinAsync(lockspaceName, cancellationToken: cancellationToken);
                var handle = lockspace.CreateLock(resource);
                if (!await AcquireAsync(client, handle, mode, waitSeconds))
                {
                    await KillAsync(child.Group);
                    if (client.Disconnected.IsCompleted)
                    {
                        await Console.Error.WriteLineAsync($"cohort lock: {client.Disconnected.Result.Message}");
                        return ConnectionLost;
                    }

                    var when = waitSeconds switch { 0 => " at once (--wait 0)", { } w => $" within {w} s", _ => "" };
                    await Console.Error.WriteLineAsync($"cohort lock: {LockModeNames.Of(mode)} on \"{Encoding.UTF8.GetString(resource)}\" in lockspace {lockspaceName} was not granted{when}");
                    return NotGranted;
                }

                ran = true;
                return await RunHoldingAsync(client, handle, child);
            }
        }
        catch when (!ran)
        {
            await KillAsync(child.Group); // it never ran, and must not
            throw;
        }
        finally
        {
            child.Process.Dispose();
            File.Delete(child.EnvironmentFile); // if the command never ran
        }
    }

    /// <summary>Requests the lock; past <paramref name="waitSeconds"/>, cancels it. Returns whether it was granted.</summary>
    private static async Task<bool> AcquireAsync(DlmClient client, LockHandle handle, LockMode mode, double? waitSeconds)
    {
        var locking = handle.LockAsync(mode, waitSeconds == 0 ? LockFlags.NoQueue : LockFlags.None).AsTask();
        try
        {
            var limit = waitSeconds is { } w and > 0 ? Task.Delay(TimeSpan.FromSeconds(w)) : Task.Delay(Timeout.Infinite);
            if (await Task.WhenAny(locking, limit, client.Disconnected) == limit)
            {
                handle.Cancel(); // granted meanwhile, it stays granted: the result says which
            }

            return (await locking).Status == LockStatus.Granted;
        }
        catch (IOException)
        {
            return false; // the session was lost
        }
    }

    /// <summary>Lets the command run, forwarding SIGINT, SIGTERM and SIGHUP to its group, until it exits or the
    /// agent's connection is lost; then kills what is left of its group, and unlocks.</summary>
    private static async Task<int> RunHoldingAsync(DlmClient client, LockHandle handle, Child child)
    {
        var pgid = child.Group.Pgid;
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Forward);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Forward);
        using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Forward);
        // What the command learns of its lock, read by the wrapper before it execs the command.
        var grantedAt = (double)Stopwatch.GetTimestamp() / Stopwatch.Frequency;
        File.WriteAllText(child.EnvironmentFile, string.Create(CultureInfo.InvariantCulture,
            $"COHORT_LOCK_TOKEN='{handle.Token}'\nCOHORT_LOCK_MODE={LockModeNames.Of(handle.GrantedMode!.Value)}\nCOHORT_LOCK_GRANTED_AT={grantedAt:F6}\nexport COHORT_LOCK_TOKEN COHORT_LOCK_MODE COHORT_LOCK_GRANTED_AT\n"));
        Signals.SendToGroup(pgid, Signals.Continue);
        var exited = child.Process.WaitForExitAsync();
        if (await Task.WhenAny(exited, client.Disconnected) != exited)
        {
            await KillAsync(child.Group);
            await Console.Error.WriteLineAsync($"cohort lock: {client.Disconnected.Result.Message}; the command's group {pgid} was killed");
            return ConnectionLost;
        }

        var code = child.Process.ExitCode;
        await KillAsync(child.Group); // what the command left behind in its group ran under the lock too
        try
        {
            await handle.UnlockAsync();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            // The session is gone (just now, or while the command ran), and the lock with it.
        }

        return code;

        void Forward(PosixSignalContext context)
        {
            context.Cancel = true;
            Signals.SendToGroup(pgid, context.Signal switch
            {
                PosixSignal.SIGINT => Signals.Interrupt,
                PosixSignal.SIGTERM => Signals.Terminate,
                _ => Signals.HangUp,
            });
        }
    }

    /// <summary>The command, stopped before it ran anything, leading a session and group of its own.</summary>
    /// <param name="Process">The wrapper, then the command (one pid).</param>
    /// <param name="Group">Its group, as registered.</param>
    /// <param name="EnvironmentFile">The file of variables the wrapper reads (and removes) once continued.</param>
    private sealed record Child(Process Process, AgentProcessInfo Group, string EnvironmentFile);

    private static async Task<Child> StartStoppedAsync(string[] command, CancellationToken cancellationToken)
    {
        var environment = Path.GetTempFileName(); // mode 0600, ours
        try
        {
            return await StartStoppedAsync(command, environment, cancellationToken);
        }
        catch
        {
            File.Delete(environment);
            throw;
        }
    }

    private static async Task<Child> StartStoppedAsync(string[] command, string environment, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (var argument in (string[])["/bin/sh", "-c", "kill -STOP $$; . \"$0\" && rm -f \"$0\" && exec \"$@\"", environment, .. command])
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new CohortStartupException("setsid did not start", ExitCodes.OsError);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new CohortStartupException($"cannot run setsid (util-linux): {ex.Message}", ExitCodes.OsError);
        }

        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < StartDeadline)
        {
            if (process.HasExited)
            {
                var code = process.ExitCode;
                process.Dispose();
                throw new CohortStartupException($"the command exited ({code}) before it could be stopped to wait for the lock", ExitCodes.Failure);
            }

            if (AgentProcessInfo.StateAndGroup(process.Id) is ('T', var pgid) && pgid == process.Id && AgentProcessInfo.Of(process.Id, 0) is { } group)
            {
                return new Child(process, group, environment);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(2), cancellationToken);
        }

        Signals.SendToGroup(process.Id, Signals.Kill);
        process.Dispose();
        throw new CohortStartupException($"the command did not reach its start within {StartDeadline.TotalSeconds:0} s", ExitCodes.Failure);
    }

    private static async Task KillAsync(AgentProcessInfo group)
    {
        var off = await AgentPower.OffAsync(group, KillDeadline, TimeProvider.System);
        if (!off.Off)
        {
            await Console.Error.WriteLineAsync($"cohort lock: the command's group {group.Pgid} did not die: {off.Detail}");
        }
    }
}
