using Cohort.Membership;

namespace Cohort.Fencing;

/// <summary>
/// The fencing gate: the contract every service awaits before it recovers anything a departed node held (its
/// locks, its resources, its regions). It is the host's, one per node, resolvable from every plugin's scope.
/// </summary>
/// <remarks>
/// The gate of an incarnation opens when that incarnation is known dead — a fence operation of the node with
/// that or a later incarnation succeeded, here or on any node this one heard from — or when it left cleanly
/// (DRAINED before the view that excluded it). It never opens on a timeout, an unknown result or a lost quorum,
/// and once open it stays open.
/// </remarks>
public interface IFencingGate
{
    /// <summary>Whether <paramref name="departed"/> is known dead or left cleanly, right now.</summary>
    bool IsOpen(NodeIncarnation departed);

    /// <summary>Completes when the gate of <paramref name="departed"/> is open (at once if it is).</summary>
    /// <param name="departed">The incarnation whose state is to be recovered.</param>
    /// <param name="cancellationToken">Stops waiting; the task is then cancelled.</param>
    /// <returns>Why it opened.</returns>
    Task<FenceGateOpened> WaitAsync(NodeIncarnation departed, CancellationToken cancellationToken);
}

/// <summary>Why the gate of an incarnation opened.</summary>
/// <param name="Incarnation">The incarnation.</param>
/// <param name="LeftCleanly">True when it left cleanly; false when it was fenced.</param>
/// <param name="Device">The device whose success opened it (the last of its level), or null when it left cleanly.</param>
public sealed record FenceGateOpened(NodeIncarnation Incarnation, bool LeftCleanly, string? Device);
