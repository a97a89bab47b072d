namespace Cohort.Quorum;

/// <summary>
/// What a node does when it loses quorum, cluster-wide in <c>Cluster:Quorum:NoQuorumPolicy</c>, like
/// Pacemaker's no-quorum-policy. The host publishes it with every <see cref="QuorumChange"/>; services
/// obey it, and the host itself carries out <see cref="SelfFence"/>.
/// </summary>
public enum NoQuorumPolicy
{
    /// <summary>Stop what needs quorum: resources stop, no lock is granted, nothing is fenced; the agent
    /// keeps running and answering, and rejoins when it can. The default (<c>stop</c>).</summary>
    Stop = 0,

    /// <summary>Keep what runs running but start, grant or recover nothing new (<c>freeze</c>).</summary>
    Freeze,

    /// <summary>Carry on as if quorate (<c>ignore</c>); only for clusters whose services tolerate two
    /// sides acting at once.</summary>
    Ignore,

    /// <summary>The agent kills its own process group at once, with every client group it registered:
    /// the node fences itself (<c>self-fence</c>). The only policy that ends the agent.</summary>
    SelfFence,
}

/// <summary>This node gained or lost quorum.</summary>
/// <param name="Quorate">Whether it is quorate now.</param>
/// <param name="View">The view it is (or was) quorate in; null before the first view.</param>
/// <param name="Policy">What the cluster's no-quorum policy asks of services while not quorate.</param>
/// <param name="Reason">Why, for operators.</param>
public sealed record QuorumChange(bool Quorate, Membership.ViewId? View, NoQuorumPolicy Policy, string Reason);

/// <summary>
/// A service's ear for quorum: the host calls every registered listener when this node gains or loses
/// quorum (a lost quorum lease counts), and when it is quorate in a newly installed view after being quorate in
/// the last one (<see cref="QuorumChange"/> names the view), so that the service obeys <see cref="QuorumChange.Policy"/>.
/// </summary>
/// <remarks>
/// <para><b>Registration.</b> A plugin registers implementations in its service collection; the host
/// collects them from every plugin's scope.</para>
/// <para><b>Concurrency.</b> Calls come one at a time, in order, on the membership core's task: return
/// quickly (hand the change to the service's own queue). The first call reports the state at start.</para>
/// <para><b>Failure.</b> An exception is logged with the listener's type and does not stop the others.</para>
/// </remarks>
public interface IQuorumListener
{
    /// <summary>Quorum changed.</summary>
    void QuorumChanged(QuorumChange change);
}
