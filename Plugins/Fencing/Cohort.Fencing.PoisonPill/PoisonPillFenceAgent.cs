using System.Globalization;
using Cohort.Fencing.Agents;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.PoisonPill;

/// <summary>
/// The <c>poison-pill</c> fence agent (SBD-style): a shared file or block device (<c>Path</c>) holds one slot per node
/// id; <c>off</c> writes a poison message for the victim's incarnation into its slot, durably, then waits
/// <c>2 × WatchdogTimeout + MessageWait</c> before it answers success. The victim's host reads its own slot
/// (<see cref="ISelfFenceGuard"/>) and pets its watchdog while the slot is clear; a victim that reads the poison
/// fires its watchdog, one that cannot read or pet is killed by it.
/// </summary>
/// <remarks>
/// <para><c>reboot</c> does what <c>off</c> does (whether the node comes back is its supervisor's business);
/// <c>on</c> clears the slot; <c>status</c> and <c>monitor</c> succeed when the device's header is valid, and cannot
/// tell a node's power state. The plug is not used: a node's slot is its id.</para>
/// <para>The wait is on the monotonic clock of the injected <see cref="TimeProvider"/>; cancelling it (the host's
/// timeout) answers <see cref="FenceResult.Timeout"/>, never success.</para>
/// </remarks>
public sealed class PoisonPillFenceAgent(TimeProvider time) : IFenceAgent, ISelfFenceGuard
{
    /// <summary>An agent on the system clock.</summary>
    public PoisonPillFenceAgent()
        : this(TimeProvider.System)
    {
    }

    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection device, IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(nodes);
        return [.. PoisonPillOptions.Validate(device, nodes)];
    }

    /// <inheritdoc />
    public SelfFenceTiming Timing(IConfiguration device) => PoisonPillOptions.From(device).Timing;

    /// <inheritdoc />
    public async ValueTask<SelfFenceSlotReading> ReadOwnSlotAsync(SelfFenceSlot slot, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(slot);
        var options = PoisonPillOptions.From(slot.Options);
        var node = slot.Self.Node.Value;
        try
        {
            var content = await Task.Run(() =>
            {
                using var device = PillDevice.Open(options.Path);
                return PillLayout.Decode(device.ReadSlot(node), node);
            }, cancellationToken).ConfigureAwait(false);
            return Reading(content, node, options.Path);
        }
        catch (IOException ex)
        {
            return SelfFenceSlotReading.Unreadable(ex.Message);
        }
    }

    /// <inheritdoc />
    public async Task<FenceOutcome> RunAsync(FenceRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var options = PoisonPillOptions.From(request.Options);
        try
        {
            switch (request.Action)
            {
                case FenceAction.Monitor:
                case FenceAction.Status:
                    return await Task.Run(() =>
                    {
                        using var device = PillDevice.Open(options.Path);
                        return FenceOutcome.Succeeded($"{options.Path}: a poison-pill device with {device.SlotCount} slots of {device.SlotSize} bytes{(device.IsBlockDevice ? " (block device, direct IO)" : "")}; it cannot tell a node's power state");
                    }, cancellationToken).ConfigureAwait(false);
                case FenceAction.On:
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

            var target = request.Target!.Value;
            var kind = request.Action == FenceAction.On ? PillKind.Clear : PillKind.Poison;
            var sequence = await Task.Run(() => Write(options.Path, target, request.Requester ?? default, kind), cancellationToken).ConfigureAwait(false);
            var written = time.GetTimestamp();
            var where = $"slot {target.Node} of {options.Path} (sequence {sequence})";
            if (kind == PillKind.Clear)
            {
                return FenceOutcome.Succeeded($"cleared {where}");
            }

            var wait = options.Timing.SafeWait;
            var at = Monotonic(written);
            try
            {
                await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return new FenceOutcome(FenceResult.Timeout,
                    $"poison for {request.TargetName} ({target}) written into {where} at monotonic {at}, but the wait was cut short after {PoisonPillOptions.Spell(time.GetElapsedTime(written))} of {PoisonPillOptions.Spell(wait)} s: {request.TargetName} may be alive");
            }

            return FenceOutcome.Succeeded(
                $"poison for {request.TargetName} ({target}) written into {where} at monotonic {at}; waited 2 × {PoisonPillOptions.Spell(options.Timing.WatchdogTimeout)} s (watchdog) + {PoisonPillOptions.Spell(options.Timing.MessageWait)} s (message wait) = {PoisonPillOptions.Spell(wait)} s: it read the poison and died, or its watchdog killed it");
        }
        catch (IOException ex)
        {
            return FenceOutcome.Failed(ex.Message);
        }
    }

    /// <summary>Writes a message into the target's slot, one sequence number past what the slot held.</summary>
    private ulong Write(string path, NodeIncarnation target, NodeIncarnation fencer, PillKind kind)
    {
        using var device = PillDevice.Open(path);
        var node = target.Node.Value;
        var before = PillLayout.Decode(device.ReadSlot(node), node);
        var sequence = (before.Message?.Sequence ?? 0) + 1;
        var slot = new byte[device.SlotSize];
        PillLayout.Encode(new PillMessage(kind, target, fencer, sequence, time.GetUtcNow().ToUnixTimeMilliseconds()), slot);
        device.WriteSlot(node, slot);
        return sequence;
    }

    private static SelfFenceSlotReading Reading(SlotContent content, int node, string path)
    {
        if (content.Error is { } error)
        {
            return SelfFenceSlotReading.Unreadable($"{path}: {error}");
        }

        if (content.Message is not { } message)
        {
            return SelfFenceSlotReading.Clear($"slot {node} of {path} was never written");
        }

        return message.Kind == PillKind.Clear
            ? SelfFenceSlotReading.Clear($"slot {node} of {path} was cleared by {message.Fencer} (sequence {message.Sequence})")
            : SelfFenceSlotReading.Poisoned(message.Target, message.Fencer, $"slot {node} of {path} holds a poison for {message.Target} written by {message.Fencer} (sequence {message.Sequence})");
    }

    private string Monotonic(long timestamp) =>
        (timestamp / (double)time.TimestampFrequency).ToString("F6", CultureInfo.InvariantCulture);
}
