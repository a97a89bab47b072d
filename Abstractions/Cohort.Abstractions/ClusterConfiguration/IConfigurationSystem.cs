using Cohort.Cores;

namespace Cohort.ClusterConfiguration;

/// <summary>
/// The cluster configuration system (the <see cref="Plugins.PluginSlot.ConfigurationSystem"/> slot): keeps
/// the versioned cluster document on every node and commits a new version only when members holding a
/// majority of the votes have made it durable. The host persists its records in
/// <c>&lt;state&gt;/ccs</c>, runs its core, and reads the committed document at start-up.
/// </summary>
public interface IConfigurationSystem
{
    /// <summary>Decodes what the core persisted, as the core will see it in <see cref="CoreStarted"/>.</summary>
    /// <param name="records">The records by name (empty on a node's first start).</param>
    /// <returns>The committed version, any version in doubt, and the history.</returns>
    /// <exception cref="InvalidDataException">A record is truncated or corrupt; the message names it.
    /// The host refuses to start rather than use it.</exception>
    ConfigStoreContents Load(IReadOnlyDictionary<string, ReadOnlyMemory<byte>> records);

    /// <summary>The records that make <paramref name="first"/> (version 1, from the bootstrap file) the
    /// committed document of a node that holds none.</summary>
    IReadOnlyList<PersistRecord> Seed(ConfigVersion first);

    /// <summary>Creates the protocol core.</summary>
    IConfigurationCore CreateCore(ConfigCoreSetup setup);
}

/// <summary>The core of a configuration system. Inputs: <see cref="CoreStarted"/>, frames on
/// <see cref="Transport.TransportLane.Data"/> whose first byte is <see cref="ConfigFrames.Tag"/>, session
/// resets, its timers, and the local requests <see cref="ConfigViewInstalled"/>, <see cref="ConfigApply"/> and
/// <see cref="ConfigCatchUp"/>. Events: <see cref="ConfigAccepting"/> (before every acknowledgement of an
/// uncommitted version, in the same step), <see cref="ConfigCommitted"/>, <see cref="ConfigApplyCompleted"/>,
/// <see cref="ConfigDiverged"/>.</summary>
public interface IConfigurationCore : IProtocolCore
{
    /// <summary>What the core is doing; read between calls only.</summary>
    ConfigCoreStatus Status { get; }
}

/// <summary>The framing shared by the host and configuration systems.</summary>
public static class ConfigFrames
{
    /// <summary>The first byte of every configuration-system frame on the data lane; the host routes
    /// data frames by their first byte.</summary>
    public const byte Tag = 0xCC;
}

/// <summary>How a configuration core is set up.</summary>
/// <param name="Inspect">Validates a document and reads its votes.</param>
/// <param name="ApplyTimeout">How long a request waits for its outcome before it is answered
/// <see cref="ConfigApplyOutcome.OutcomeUnknown"/>.</param>
/// <param name="HistoryLength">How many committed versions each node keeps (at least 1).</param>
public sealed record ConfigCoreSetup(ConfigDocumentInspector Inspect, TimeSpan ApplyTimeout, int HistoryLength = 16);

/// <summary>What a node holds durably.</summary>
/// <param name="Committed">The latest version this node knows committed, or null.</param>
/// <param name="InDoubt">A later version this node accepted without learning its outcome, or null.</param>
/// <param name="History">Committed versions, oldest first, ending with <paramref name="Committed"/>.</param>
/// <param name="GenesisSha256">The hash of version 1 (the bootstrap document), which identifies the
/// cluster: nodes with different ones refuse each other. Null when the node holds no document.</param>
public sealed record ConfigStoreContents(ConfigVersion? Committed, ConfigVersion? InDoubt, IReadOnlyList<ConfigVersion> History, string? GenesisSha256);

/// <summary>A configuration core's state, for status.</summary>
/// <param name="Committed">The latest committed version this node holds (0 for none).</param>
/// <param name="CommittedSha256">Its hash, or null.</param>
/// <param name="InDoubt">The version this node accepted and awaits the outcome of, or null.</param>
/// <param name="Leader">The node proposing in the current view (its coordinator), or null without a view.</param>
/// <param name="Phase">The leader's phase (<c>follower</c>, <c>preparing</c>, <c>ready</c>, <c>proposing</c>, <c>blocked</c>).</param>
/// <param name="PendingApplies">Requests of this node awaiting their outcome.</param>
/// <param name="RejectedFrames">Frames dropped as malformed or from a cluster with another version-1 document.</param>
public sealed record ConfigCoreStatus(long Committed, string? CommittedSha256, long? InDoubt, Membership.NodeId? Leader, string Phase, int PendingApplies, long RejectedFrames);
