namespace Cohort.Cores;

/// <summary>
/// A protocol core: a deterministic state machine that turns one input at a time into outputs. Every
/// distributed algorithm of Cohort (membership, CCS, the DLM, ...) is one, and the same core runs under
/// the host's runtime (real sessions, real clock, real files) and under the deterministic simulator.
/// </summary>
/// <remarks>
/// <para><b>No IO.</b> A core never touches a socket, file, thread, clock or random source, and never
/// enumerates anything in hash order. Everything it needs arrives as a <see cref="CoreInput"/> (time
/// included, as <c>now</c>), and everything it wants done leaves as a <see cref="CoreOutput"/>. Given
/// the same inputs at the same times it must produce the same outputs, byte for byte.</para>
/// <para><b>Concurrency.</b> A driver never calls <see cref="Handle"/> concurrently on one instance and
/// never calls it again before it has taken the outputs of the previous call. Other members (status
/// properties) may be read only between calls, on the driver's thread.</para>
/// <para><b>Atomicity and failure.</b> The driver executes the outputs of one call in order, and a
/// <see cref="PersistRecord"/> is durable before any output after it is executed, so a core may send a
/// promise right after persisting what the promise depends on. A crash may stop the driver between any
/// two outputs; what was persisted before stays, nothing else does. A core that throws is a bug: the
/// driver stops the node.</para>
/// </remarks>
public interface IProtocolCore
{
    /// <summary>Handles one input.</summary>
    /// <param name="input">What happened.</param>
    /// <param name="now">This node's monotonic time: non-decreasing across calls within one
    /// incarnation, with an arbitrary origin, and only ever compared with other times of this node.</param>
    /// <param name="outputs">Where the core appends what the driver must do, in order.</param>
    void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs);
}
