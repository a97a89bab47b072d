namespace Cohort.Plugins;

/// <summary>
/// The kinds of plugin the host knows. Each slot has one service contract that a plugin of that slot
/// registers, and one configuration key that chooses a plugin for it by name.
/// </summary>
public enum PluginSlot
{
    /// <summary>
    /// Carries frames between nodes. Registers <see cref="Transport.ITransport"/>; chosen per node by
    /// <c>Node:Transport</c> (default <c>tcp</c>).
    /// </summary>
    Transport = 1,

    /// <summary>
    /// Decides whether a view may act. Registers <see cref="Quorum.IQuorumPolicy"/>; chosen cluster-wide by
    /// <c>Cluster:Quorum:Policy</c> (default <c>votequorum</c>).
    /// </summary>
    QuorumPolicy = 2,

    /// <summary>
    /// Gives its votes to one partition at a time (a witness process, a lease on shared storage).
    /// Registers <see cref="Quorum.IQuorumDevice"/>; chosen cluster-wide by <c>Cluster:Quorum:Device</c>
    /// (default: none).
    /// </summary>
    QuorumDevice = 3,

    /// <summary>
    /// Keeps the versioned cluster document on every node and commits changes to it. Registers
    /// <see cref="ClusterConfiguration.IConfigurationSystem"/>; always present: the host uses the plugin of
    /// this slot named <c>ccs</c>.
    /// </summary>
    ConfigurationSystem = 4,

    /// <summary>
    /// Drives one kind of fence device (a power switch, a BMC, a program of the fence-agents protocol, an
    /// operator). Registers <see cref="Fencing.IFenceAgent"/>; chosen per device by
    /// <c>Cluster:Fencing:Devices:NAME:Agent</c>. Who is fenced, through which levels, is the host's.
    /// </summary>
    FenceAgent = 5,

    /// <summary>
    /// The distributed lock manager. Registers <see cref="Locking.ILockManager"/>; always present: the host uses
    /// the plugin of this slot named <c>dlm</c>.
    /// </summary>
    LockManager = 6,
}
