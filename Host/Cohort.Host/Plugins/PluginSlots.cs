using Cohort.Plugins;
using Cohort.Quorum;
using Cohort.Transport;

namespace Cohort.Host.Plugins;

/// <summary>What the host knows about each slot: its name, its contract and the key that chooses it.</summary>
internal static class PluginSlots
{
    public static string Name(PluginSlot slot) => slot switch
    {
        PluginSlot.Transport => "transport",
        PluginSlot.QuorumPolicy => "quorum-policy",
        PluginSlot.QuorumDevice => "quorum-device",
        PluginSlot.ConfigurationSystem => "config-system",
        PluginSlot.FenceAgent => "fence-agent",
        PluginSlot.LockManager => "lock-manager",
        _ => slot.ToString(),
    };

    public static Type Contract(PluginSlot slot) => slot switch
    {
        PluginSlot.Transport => typeof(ITransport),
        PluginSlot.QuorumPolicy => typeof(IQuorumPolicy),
        PluginSlot.QuorumDevice => typeof(IQuorumDevice),
        PluginSlot.ConfigurationSystem => typeof(Cohort.ClusterConfiguration.IConfigurationSystem),
        PluginSlot.FenceAgent => typeof(Cohort.Fencing.IFenceAgent),
        PluginSlot.LockManager => typeof(Cohort.Locking.ILockManager),
        _ => throw new ArgumentOutOfRangeException(nameof(slot), slot, "unknown slot"),
    };

    public static string ConfigKey(PluginSlot slot) => slot switch
    {
        PluginSlot.Transport => "Node:Transport",
        PluginSlot.QuorumPolicy => "Cluster:Quorum:Policy",
        PluginSlot.QuorumDevice => "Cluster:Quorum:Device",
        PluginSlot.ConfigurationSystem => "(the configuration system, always ccs)",
        PluginSlot.FenceAgent => "Cluster:Fencing:Devices:NAME:Agent",
        PluginSlot.LockManager => "(the lock manager, always dlm)",
        _ => throw new ArgumentOutOfRangeException(nameof(slot), slot, "unknown slot"),
    };
}
