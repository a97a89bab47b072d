namespace Cohort.Simulation;

/// <summary>Sees every step of a <see cref="SimulatedCluster"/>: checkers and recorders implement it.</summary>
public interface ISimulationObserver
{
    /// <summary>After a running node handled an input and its outputs were carried out.</summary>
    void AfterStep(SimulatedCluster cluster, SimNode node);

    /// <summary>The simulator is about to carry out one output of a node's step (the node may crash
    /// before the next one).</summary>
    void Executed(SimulatedCluster cluster, SimNode node, Cores.CoreOutput output);

    /// <summary>A node crashed or exited.</summary>
    void NodeStopped(SimulatedCluster cluster, SimNode node);

    /// <summary>A node's core published an event (in the middle of its step).</summary>
    void Published(SimulatedCluster cluster, SimNode node, object published);
}

/// <summary>A safety or liveness violation found in a schedule.</summary>
/// <param name="Seed">The schedule's seed: <c>cohort simulate --seed</c> replays it.</param>
/// <param name="Invariant">Which invariant.</param>
/// <param name="Step">The step at which it was found.</param>
/// <param name="At">Simulated time.</param>
/// <param name="Detail">What was seen.</param>
/// <param name="LastSteps">The steps that led to it, oldest first.</param>
public sealed record Violation(ulong Seed, string Invariant, long Step, TimeSpan At, string Detail, IReadOnlyList<string> LastSteps);
