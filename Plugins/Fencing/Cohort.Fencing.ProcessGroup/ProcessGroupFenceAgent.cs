using Cohort.Fencing.Agents;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.ProcessGroup;

/// <summary>
/// The <c>process-group</c> fence agent: the plug is the victim's state directory (a relative path is resolved
/// against the fencer's current directory); fencing kills, with SIGKILL, the process group the victim's agent
/// recorded in <c>agent.pid</c> and every lock-client group recorded in <c>fence-groups</c>, and succeeds once
/// every one of them is empty.
/// </summary>
/// <remarks>
/// <para>A group is killed only when its recorded process still has the recorded start time; otherwise the pid
/// may be another process's now, and the group counts as dead only if it is empty. The fencer never kills its
/// own group. When <c>agent.pid</c> names a newer incarnation than the victim, the victim is already gone and
/// nothing is killed: the records (<c>fence-groups</c> included) belong to the newer incarnation.</para>
/// <para>It takes no options. It cannot start an agent (<see cref="FenceAction.On"/> fails).</para>
/// </remarks>
public sealed class ProcessGroupFenceAgent : IFenceAgent
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection device, IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(device);
        return [.. DeviceKeys.Unknown(device, ProcessGroupPlugin.Name)];
    }

    /// <inheritdoc />
    public async Task<FenceOutcome> RunAsync(FenceRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        switch (request.Action)
        {
            case FenceAction.Monitor:
                return ProcessRecord.ReadStartTime(Libc.getpid()) is null
                    ? FenceOutcome.Failed("/proc is not readable: cannot tell processes apart")
                    : FenceOutcome.Succeeded("/proc is readable");
            case FenceAction.On:
                return FenceOutcome.Failed("process-group cannot start an agent");
            case FenceAction.Status:
            case FenceAction.Off:
            case FenceAction.Reboot:
                break;
            default:
                return FenceOutcome.Failed($"unknown action {request.Action}");
        }

        if (DeviceKeys.NoTarget(request) is { } noTarget)
        {
            return noTarget;
        }

        var directory = Path.GetFullPath(request.Plug ?? request.TargetName!);
        var agentFile = Path.Combine(directory, ProcessRecord.AgentFile);
        long incarnation;
        ProcessRecord agent;
        IReadOnlyList<ProcessRecord> clients;
        try
        {
            (incarnation, agent) = ProcessRecord.ReadAgent(agentFile);
            clients = ProcessRecord.ReadClients(Path.Combine(directory, ProcessRecord.ClientsFile));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return FenceOutcome.Failed($"no {agentFile}: cannot tell which processes are {request.TargetName}'s");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return FenceOutcome.Failed($"cannot read the records in {directory}: {ex.Message}");
        }

        ProcessRecord[] groups = [agent, .. clients];
        if (request.Action == FenceAction.Status)
        {
            var alive = groups.Where(g => !Libc.GroupIsGone(g.Pgid)).Select(g => g.Pgid).ToArray();
            return alive.Length == 0
                ? FenceOutcome.Succeeded($"every recorded group of {request.TargetName} is empty", FencePower.Off)
                : FenceOutcome.Succeeded($"group(s) {string.Join(", ", alive)} of {request.TargetName} still have processes", FencePower.On);
        }

        var victim = request.Target!.Value.Incarnation;
        if (incarnation > victim)
        {
            return FenceOutcome.Succeeded($"the record names incarnation {incarnation}, newer than the victim {request.Target}: the victim is gone; nothing killed");
        }

        if (incarnation < victim)
        {
            return FenceOutcome.Failed($"the record names incarnation {incarnation}, older than the victim {request.Target}: cannot tell which processes are the victim's");
        }

        return await KillAsync(groups, request, cancellationToken);
    }

    private static async Task<FenceOutcome> KillAsync(ProcessRecord[] groups, FenceRequest request, CancellationToken cancellationToken)
    {
        int ownGroup = Libc.getpgrp(), ownPid = Libc.getpid();
        if (groups.FirstOrDefault(g => g.Pgid == ownGroup || g.Pgid == ownPid || g.Pid == ownPid) is { } own)
        {
            return FenceOutcome.Failed($"refusing to kill process group {own.Pgid} (pid {own.Pid}): it holds the fencer itself (pid {ownPid}, group {ownGroup})");
        }

        var killed = new List<int>();
        foreach (var group in groups)
        {
            if (ProcessRecord.ReadStartTime(group.Pid) == group.StartTime)
            {
                if (Libc.KillGroup(group.Pgid) is var errno and not 0 and not Libc.ESRCH)
                {
                    return FenceOutcome.Failed($"kill(-{group.Pgid}, SIGKILL) failed with errno {errno} (not permitted?)");
                }

                killed.Add(group.Pgid);
            }
            else if (!Libc.GroupIsGone(group.Pgid))
            {
                return FenceOutcome.Failed($"pid reused: pid {group.Pid} no longer has start time {group.StartTime}, and group {group.Pgid} still has processes; refusing to kill a group that may not be the victim's");
            }
        }

        // SIGKILL is asynchronous: the victim is dead only once its groups are empty.
        while (killed.FirstOrDefault(g => !Libc.GroupIsGone(g)) is var left and not 0)
        {
            try
            {
                await Task.Delay(PollInterval, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return new FenceOutcome(FenceResult.Timeout, $"sent SIGKILL, but group {left} still had processes when the operation was cancelled");
            }
        }

        return FenceOutcome.Succeeded(
            $"killed the process groups of {request.TargetName} incarnation {request.Target!.Value.Incarnation}: " +
            (killed.Count == 0 ? "all were already empty" : string.Join(", ", killed)) + $" ({groups.Length} recorded)");
    }
}
