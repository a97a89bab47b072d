namespace Cohort.Membership;

/// <summary>
/// A service's part in a clean leave. When the node goes LEAVING (<c>cohort leave</c>, or SIGTERM),
/// the host calls every registered hook; when all have returned, the node is DRAINED and the next view
/// excludes it as a clean leaver, so nothing it held needs fencing. The DLM releases its local
/// clients' locks here, block targets flush, the resource manager stops or moves its resources.
/// </summary>
/// <remarks>
/// <para><b>Registration.</b> A plugin registers implementations in its service collection; the host
/// collects them from every plugin's scope.</para>
/// <para><b>Concurrency.</b> Hooks run concurrently with each other and with the service's normal
/// work; each is called once per incarnation.</para>
/// <para><b>Failure.</b> A hook that throws, or that has not returned when <c>Node:DrainTimeout</c>
/// runs out (the token is cancelled then), leaves the node undrained: the agent exits anyway and the
/// cluster counts it as an unclean leaver, to be fenced before its resources are recovered.</para>
/// </remarks>
public interface IDrainHook
{
    /// <summary>Hands over or releases what this service holds on this node.</summary>
    /// <param name="cancellationToken">Cancelled when <c>Node:DrainTimeout</c> runs out.</param>
    Task DrainAsync(CancellationToken cancellationToken);
}
