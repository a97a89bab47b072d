using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing;

/// <summary>
/// Implemented, beside <see cref="IFenceAgent"/>, by a fence agent whose victim fences <b>itself</b>: the fencer
/// leaves a message where the victim looks (a poison pill in a slot of a shared disk), and the victim's own watchdog
/// kills it. Such an agent's <see cref="IFenceAgent.RunAsync"/> can only declare success after waiting long enough
/// for a live victim to have seen the message and died, or for a victim that could not look to have been killed by
/// its watchdog; this interface is what the victim's host needs to keep its side of that bargain.
/// </summary>
/// <remarks>
/// <para><b>What the host does with it.</b> When a node's own fencing levels (<c>Cluster:Fencing:Levels</c>) name a
/// device whose agent implements this interface, the node's host, at start and at every committed change of the
/// cluster document that adds one:</para>
/// <list type="number">
/// <item>starts a watchdog process outside the agent's process group (<c>cohort watchdog</c>) with the shortest
/// <see cref="SelfFenceTiming.WatchdogTimeout"/> of those devices. The watchdog kills the agent's process group
/// (SIGKILL) when it is not petted within that timeout — a paused agent (GC, SIGSTOP) dies too — when it is told to
/// fire, and when the agent dies without disarming it;</item>
/// <item>every half of the shortest <see cref="SelfFenceTiming.MessageWait"/>, on a thread of its own, calls
/// <see cref="ReadOwnSlotAsync"/> for each such device, giving up on a call that has not completed within that half
/// (a hung read counts as <see cref="SelfFenceSlotState.Unreadable"/>, and no second read of that device starts while
/// it hangs);</item>
/// <item>fires the watchdog (the node dies at once) when any device reads <see cref="SelfFenceSlotState.Poisoned"/>
/// for this node's incarnation or a newer one;</item>
/// <item>pets the watchdog when every device reads <see cref="SelfFenceSlotState.Clear"/>, or a poison for an
/// <b>older</b> incarnation (stale: a restarted node is not killed by a message meant for its predecessor);</item>
/// <item>otherwise — some device is <see cref="SelfFenceSlotState.Unreadable"/> — pets only while the node is quorate
/// in an installed view and that quorum is not dual, or the view holds more than half of the document's nodes (a
/// <c>two_node</c> node alone, or a minority under any policy that declares dual quorum, counts as not quorate
/// here): a node cut off from the cluster <i>and</i> from its disk dies within the watchdog timeout;</item>
/// <item>disarms the watchdog only when the agent stops normally.</item>
/// </list>
/// <para><b>Safety.</b> An agent implementing this interface returns <see cref="FenceResult.Success"/> for
/// <see cref="FenceAction.Off"/> only after its message is durable and it waited at least
/// <c>2 × WatchdogTimeout + MessageWait</c> (<see cref="SelfFenceTiming.SafeWait"/>) on a monotonic clock.</para>
/// <para><b>Threads.</b> <see cref="ReadOwnSlotAsync"/> may run concurrently with <see cref="IFenceAgent.RunAsync"/>
/// (this node fencing another) and must not change any slot — a read-modify-write could erase a poison a fencer wrote
/// in between — though it may lay out a device that was never laid out.</para>
/// </remarks>
public interface ISelfFenceGuard
{
    /// <summary>The timing of one device, from its options. Pure: the options were validated.</summary>
    /// <param name="device">The device's section, <c>Cluster:Fencing:Devices:NAME</c>.</param>
    SelfFenceTiming Timing(IConfiguration device);

    /// <summary>Reads this node's own slot of a device, without changing it.</summary>
    /// <param name="slot">Which device and whose slot.</param>
    /// <param name="cancellationToken">Cancelled when the host gave up on the read or is stopping.</param>
    /// <returns>What the slot holds. An exception counts as <see cref="SelfFenceSlotState.Unreadable"/>.</returns>
    ValueTask<SelfFenceSlotReading> ReadOwnSlotAsync(SelfFenceSlot slot, CancellationToken cancellationToken);
}

/// <summary>The timing of a self-fencing device.</summary>
/// <param name="WatchdogTimeout">How long the victim's watchdog waits for a pet before it kills the victim.</param>
/// <param name="MessageWait">The longest a live victim takes to notice a message in its slot.</param>
public readonly record struct SelfFenceTiming(TimeSpan WatchdogTimeout, TimeSpan MessageWait)
{
    /// <summary>How long a fencer waits after its message is durable before it may declare the victim dead:
    /// <c>2 × WatchdogTimeout + MessageWait</c>.</summary>
    public TimeSpan SafeWait => (2 * WatchdogTimeout) + MessageWait;
}

/// <summary>Which slot a node reads: its own, on one device.</summary>
/// <param name="Device">The device's name (the key under <c>Cluster:Fencing:Devices</c>).</param>
/// <param name="Options">The device's section of the cluster document.</param>
/// <param name="Self">The reading node and its incarnation.</param>
/// <param name="Plug">What the device calls the reading node (its <c>HostMap</c> entry, else its name).</param>
public sealed record SelfFenceSlot(string Device, IConfiguration Options, NodeIncarnation Self, string Plug);

/// <summary>What a slot holds.</summary>
public enum SelfFenceSlotState
{
    /// <summary>No message for the node (never written, or cleared).</summary>
    Clear = 1,

    /// <summary>A fencer asked for <see cref="SelfFenceSlotReading.Target"/> to die.</summary>
    Poisoned = 2,

    /// <summary>The slot could not be read, or holds something that is neither (torn, garbage, the wrong node's
    /// message). Never taken for <see cref="Clear"/>.</summary>
    Unreadable = 3,
}

/// <summary>One reading of a node's slot.</summary>
/// <param name="State">What it holds.</param>
/// <param name="Target">For <see cref="SelfFenceSlotState.Poisoned"/>: the incarnation the fencer wants dead.</param>
/// <param name="Fencer">For <see cref="SelfFenceSlotState.Poisoned"/>: the node (and incarnation) that wrote it.</param>
/// <param name="Detail">What was read or went wrong, for the log and status.</param>
public sealed record SelfFenceSlotReading(SelfFenceSlotState State, NodeIncarnation? Target, NodeIncarnation? Fencer, string Detail)
{
    /// <summary>A slot with no message for the node.</summary>
    public static SelfFenceSlotReading Clear(string detail) => new(SelfFenceSlotState.Clear, null, null, detail);

    /// <summary>A slot holding a poison for <paramref name="target"/>, written by <paramref name="fencer"/>.</summary>
    public static SelfFenceSlotReading Poisoned(NodeIncarnation target, NodeIncarnation fencer, string detail) =>
        new(SelfFenceSlotState.Poisoned, target, fencer, detail);

    /// <summary>A slot that could not be read or makes no sense.</summary>
    public static SelfFenceSlotReading Unreadable(string detail) => new(SelfFenceSlotState.Unreadable, null, null, detail);

    /// <summary>Whether this reading condemns <paramref name="self"/>: a poison for its node at its incarnation or a
    /// newer one. A poison for an older incarnation is stale.</summary>
    public bool Condemns(NodeIncarnation self) =>
        State == SelfFenceSlotState.Poisoned && Target is { } target && target.Node == self.Node && target.Incarnation >= self.Incarnation;
}
