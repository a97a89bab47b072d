using Cohort.Membership;

namespace Cohort.Fencing.Conformance;

/// <summary>
/// Something alive that a fence agent under test can kill or power off — a process group, a simulated power
/// switch's outlet — with a way to tell that it is dead. A fixture of <see cref="FenceAgentConformance"/> starts
/// one per test and the kit disposes of it, even when the test fails.
/// </summary>
/// <param name="node">The cluster node the target stands for.</param>
/// <param name="incarnation">The incarnation that must die.</param>
/// <param name="plug">What the device calls the target (the device's <c>HostMap</c> entry).</param>
public abstract class FenceTarget(ClusterNode node, long incarnation, string plug) : IAsyncDisposable
{
    private static readonly Task Never = new TaskCompletionSource().Task;

    /// <summary>The cluster node the target stands for.</summary>
    public ClusterNode Node { get; } = node;

    /// <summary>The incarnation that must die.</summary>
    public long Incarnation { get; } = incarnation;

    /// <summary>What the device calls the target.</summary>
    public string Plug { get; } = plug;

    /// <summary>What the kit passes as <see cref="FenceRequest.Acknowledged"/>; by default never completes. An
    /// agent that waits for an operator gets a target whose simulated operator completes it.</summary>
    public virtual Task Acknowledged => Never;

    /// <summary>Completes once the device is busy with an operation (the program it runs has started, say), so that
    /// the kit cancels an operation in flight, not one that has not begun; by default already complete.</summary>
    public virtual Task OperationStarted => Task.CompletedTask;

    /// <summary>Whether the target is dead (or powered off) right now, by the target's own evidence, not the
    /// agent's.</summary>
    public abstract Task<bool> IsDeadAsync();

    /// <summary>Whether a cancelled operation left nothing running (no program, no process group of the
    /// device's); by default true.</summary>
    public virtual Task<bool> OperationLeftNothingAsync() => Task.FromResult(true);

    /// <summary>Kills whatever the target started, whether or not it was fenced.</summary>
    public abstract ValueTask DisposeAsync();
}
