using Cohort.Membership;
using Cohort.Quorum;

namespace Cohort.Simulation;

/// <summary>
/// The witness of a quorum device, as the simulator runs it: it answers each node's request for the
/// vote in simulated time. A device plugin supplies its own arbiter behind this, so the simulator
/// checks the real decision.
/// </summary>
public interface ISimulatedWitness
{
    /// <summary>Answers one request.</summary>
    /// <param name="node">The asking node.</param>
    /// <param name="view">The view it holds and asks the vote for.</param>
    /// <param name="lease">The lease it asks for.</param>
    /// <param name="clockDriftBound">ρ.</param>
    /// <param name="now">The witness's (perfect) clock.</param>
    /// <param name="reason">Why not, when the answer is no.</param>
    /// <returns>Whether the vote is granted.</returns>
    bool Ask(NodeIncarnation node, View view, TimeSpan lease, double clockDriftBound, TimeSpan now, out string reason);
}

/// <summary>
/// A quorum device the simulator runs on each node's behalf against shared state (a shared file,
/// say), with no messages in between: at every ping the device takes one step for that node, on the
/// node's own clock, and says what to report.
/// </summary>
public interface ISimulatedSharedDevice
{
    /// <summary>One step of the device for one node.</summary>
    /// <param name="node">The node (a new incarnation starts afresh).</param>
    /// <param name="view">The view it holds and may act in, or null.</param>
    /// <param name="local">The node's clock now.</param>
    /// <returns>The grant to report, on the node's clock.</returns>
    QuorumDeviceGrant Advance(NodeIncarnation node, View? view, TimeSpan local);
}
