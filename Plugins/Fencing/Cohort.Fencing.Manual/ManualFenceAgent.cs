using Cohort.Fencing.Agents;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace Cohort.Fencing.Manual;

/// <summary>
/// The <c>manual</c> fence agent: to fence, it logs (at Warning) what the operator must do and waits until an
/// operator runs <c>cohort fence ack NODE</c> (<see cref="FenceRequest.Acknowledged"/>); the acknowledgement is
/// the success. It cannot tell a node's power state and cannot power a node on.
/// </summary>
/// <remarks>
/// One optional key, <c>Instructions</c>: text appended to the message (where the power switch is, who to call).
/// The device's <c>Timeout</c> bounds how long it waits: give a manual device a long one.
/// </remarks>
/// <param name="logger">Where the operator is told what to do.</param>
public sealed partial class ManualFenceAgent(ILogger<ManualFenceAgent> logger) : IFenceAgent
{
    /// <summary>The optional key whose text is appended to the operator's instructions.</summary>
    public const string InstructionsKey = "Instructions";

    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection device, IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(device);
        var problems = DeviceKeys.Unknown(device, ManualPlugin.Name, InstructionsKey).ToList();
        if (DeviceKeys.NotAString(device, InstructionsKey, "text appended to the operator's instructions") is { } problem)
        {
            problems.Add(problem);
        }

        return problems;
    }

    /// <inheritdoc />
    public async Task<FenceOutcome> RunAsync(FenceRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        switch (request.Action)
        {
            case FenceAction.Monitor:
                return FenceOutcome.Succeeded("manual needs no device");
            case FenceAction.Status:
                return FenceOutcome.Failed("manual cannot tell");
            case FenceAction.On:
                return FenceOutcome.Failed("manual cannot power a node on");
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

        var extra = request.Options[InstructionsKey] is { Length: > 0 } instructions ? " " + instructions : "";
        LogFenceByHand(logger, request.TargetName!, request.Target!.Value.Incarnation, request.TargetName!, extra);
        try
        {
            await request.Acknowledged.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new FenceOutcome(FenceResult.Timeout, $"no operator acknowledged fencing {request.TargetName} in time");
        }

        return FenceOutcome.Succeeded("acknowledged by an operator");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "fence {Node} (incarnation {Incarnation}) by hand — power it off or make sure its agent is dead — then run: cohort fence ack {AckNode}{Instructions}")]
    private static partial void LogFenceByHand(ILogger logger, string node, long incarnation, string ackNode, string instructions);
}
