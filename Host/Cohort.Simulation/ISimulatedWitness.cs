using Cohort.Membership;

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
