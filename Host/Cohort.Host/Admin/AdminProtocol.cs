using System.Text.Json;

namespace Cohort.Host.Admin;

/// <summary>One request on the admin socket: a JSON object on one line.</summary>
/// <param name="Verb">What to do: <c>status</c>, <c>plugins</c>.</param>
/// <param name="Arguments">Verb-specific arguments, or null.</param>
public sealed record AdminRequest(string Verb, JsonElement? Arguments = null);

/// <summary>The reply to one request: a JSON object on one line.</summary>
/// <param name="Ok">Whether the verb succeeded.</param>
/// <param name="Result">The verb's result when it succeeded.</param>
/// <param name="Error">One line saying what went wrong when it did not.</param>
public sealed record AdminReply(bool Ok, JsonElement? Result = null, string? Error = null);

/// <summary><c>cohort status --json</c>. <c>ConfigHash</c> is the SHA-256 of the cluster document this
/// agent judges views under (the version committed when it started; <c>Config</c> shows what CCS holds now); <c>Phase</c> is joining, member, leaving, drained or left; <c>Transport</c> is
/// null for a one-node cluster; <c>Fencing</c> lists the victims not yet fenced and the last result per node;
/// <c>Dlm</c> the lockspaces this node joined (null without a cluster document).</summary>
public sealed record StatusReport(
    string Node,
    int NodeId,
    long Incarnation,
    int Pid,
    string? Cluster,
    string? ConfigHash,
    ViewReport? View,
    bool Quorate,
    string Phase,
    QuorumReport Quorum,
    string StateDirectory,
    IReadOnlyList<PluginReport> Plugins,
    TransportReport? Transport = null,
    ConfigReport? Config = null,
    FencingReport? Fencing = null,
    WatchdogReport? Watchdog = null,
    DlmReport? Dlm = null);

/// <summary>The node watchdog in status (present when this node's levels name a self-fencing device, such as
/// <c>poison-pill</c>).</summary>
/// <param name="Armed">Whether the watchdog process runs and is armed.</param>
/// <param name="Pid">The watchdog process.</param>
/// <param name="TimeoutSeconds">How long it waits for a pet before it kills this agent's group.</param>
/// <param name="MessageWaitSeconds">The slot is read every half of this.</param>
/// <param name="Devices">The devices whose slot this node reads.</param>
/// <param name="LastPetAgeMilliseconds">How long ago the last pet was sent; null before the first.</param>
/// <param name="LastReading">What the last reading found, and the verdict's reason.</param>
/// <param name="Fired">Whether this node read a poison for itself and fired the watchdog.</param>
public sealed record WatchdogReport(bool Armed, int Pid, double TimeoutSeconds, double MessageWaitSeconds, IReadOnlyList<string> Devices, double? LastPetAgeMilliseconds, string? LastReading, bool Fired);

/// <summary>The cluster configuration (CCS) in status.</summary>
/// <param name="Version">The highest committed version whose document is fsynced on this node.</param>
/// <param name="Sha256">Its hash.</param>
/// <param name="InDoubt">A later version this node accepted and awaits the outcome of, or null.</param>
/// <param name="Leader">The node proposing changes in this node's view (its coordinator), or null.</param>
/// <param name="Phase">What the leader is doing, as this node's core sees it.</param>
/// <param name="Genesis">The hash of version 1, which identifies the cluster.</param>
/// <param name="Diverged">Peers found holding another document under a version this node committed: a
/// restored or copied state directory; one line each. Empty when all is well.</param>
public sealed record ConfigReport(long Version, string? Sha256, long? InDoubt, int? Leader, string Phase, string? Genesis, IReadOnlyList<string> Diverged);

/// <summary><c>cohort config show --json</c>: a committed version and its document.</summary>
/// <param name="Version">The version.</param>
/// <param name="Sha256">The hash of the document's bytes.</param>
/// <param name="Document">The document.</param>
/// <param name="Text">The document's bytes as committed (what <c>config show</c> prints); not in <c>--json</c>.</param>
public sealed record ConfigShowReport(long Version, string Sha256, JsonElement Document, string? Text = null);

/// <summary>One committed version in <c>cohort config history</c>.</summary>
/// <param name="Version">The version.</param>
/// <param name="Sha256">Its document's hash.</param>
/// <param name="Ballot">The view id it was proposed under (<c>0.0</c> for the bootstrap version).</param>
/// <param name="Origin">The node whose request proposed it.</param>
/// <param name="ProposedAt">The origin's wall-clock time of the request.</param>
/// <param name="Bytes">The document's size.</param>
/// <param name="Description">The document's <c>Description</c>.</param>
public sealed record ConfigHistoryEntry(long Version, string Sha256, string Ballot, int Origin, DateTimeOffset ProposedAt, int Bytes, string Description);

/// <summary>The arguments of <c>config-apply</c>.</summary>
/// <param name="Document">The bare document, as the file holds it.</param>
/// <param name="ExpectVersion">Commit only on top of this version; null: on top of the version the node holds.</param>
/// <param name="Source">How problems name the document (the operator's file).</param>
public sealed record ConfigApplyArguments(string Document, long? ExpectVersion, string Source);

/// <summary>The arguments of <c>config-show</c>.</summary>
/// <param name="Version">The version to show; null for the committed one.</param>
public sealed record ConfigShowArguments(long? Version);

/// <summary>The outcome of <c>config-apply</c>.</summary>
/// <param name="Outcome"><c>committed</c>, <c>conflict</c>, <c>outcome-unknown</c> or <c>invalid</c>.</param>
/// <param name="Version">The committed version (for a conflict: the one that won).</param>
/// <param name="Winner">For a conflict, the node whose change committed that version.</param>
/// <param name="Detail">Why.</param>
public sealed record ConfigApplyReport(string Outcome, long Version, int? Winner, string Detail);

/// <summary>The transport in status: where it listens, connections it refused, and each peer.</summary>
/// <param name="Plugin">The transport plugin.</param>
/// <param name="Listen">Where it accepts connections.</param>
/// <param name="FaultInjection">Whether <c>cohort debug</c> may cut links (<c>Node:FaultInjection</c>).</param>
/// <param name="RefusedConnections">Handshakes refused: malformed, wrong key, unknown node, excluded incarnation.</param>
/// <param name="LastRefusal">The latest refusal, or null.</param>
/// <param name="Peers">Each configured peer.</param>
public sealed record TransportReport(string Plugin, string Listen, bool FaultInjection, long RefusedConnections, string? LastRefusal, IReadOnlyList<PeerReport> Peers);

/// <summary>One peer in status; counters cover every session with it since this agent started.</summary>
public sealed record PeerReport(
    int NodeId,
    string Name,
    long Incarnation,
    bool Session,
    bool Connected,
    string? Address,
    long FramesSent,
    long FramesReceived,
    long MalformedFrames,
    long Reconnects,
    long SessionResets,
    long QueuedBytes,
    string Cut);

/// <summary>The arguments of <c>debug-partition</c> and <c>debug-heal</c>.</summary>
/// <param name="Peer">The peer, by name or node id, or several separated by commas; null heals every link.</param>
/// <param name="OneWay"><c>out</c> (nothing this node sends arrives), <c>in</c> (nothing from the peer
/// arrives), or null for both.</param>
public sealed record DebugArguments(string? Peer, string? OneWay = null);

/// <summary>The installed view in status.</summary>
/// <param name="Epoch">The view id's sequence number.</param>
/// <param name="Coordinator">The view id's coordinator.</param>
/// <param name="Members">The members.</param>
/// <param name="ConfigVersion">The version of the cluster document the view was judged under.</param>
public sealed record ViewReport(long Epoch, int Coordinator, IReadOnlyList<MemberReport> Members, long ConfigVersion);

/// <summary>A view member in status.</summary>
public sealed record MemberReport(int NodeId, string Name, long Incarnation);

/// <summary>The quorum decision in status.</summary>
/// <param name="Policy">The quorum policy.</param>
/// <param name="Votes">The votes (or members) the policy counted for the view.</param>
/// <param name="Expected">The votes the policy expects in a whole cluster.</param>
/// <param name="Reason">Why the node is or is not quorate, the quorum lease included.</param>
/// <param name="DualQuorum">Whether both sides of a split may be quorate (fencing alone separates them).</param>
/// <param name="Needed">How many the view needs, when the policy says.</param>
/// <param name="Flags">The policy's features in effect (<c>TwoNode</c>, <c>WaitForAll</c>, ...).</param>
/// <param name="NoQuorumPolicy">What services do while not quorate (<c>Cluster:Quorum:NoQuorumPolicy</c>).</param>
public sealed record QuorumReport(string? Policy, int Votes, int Expected, string Reason, bool DualQuorum, int? Needed = null, IReadOnlyList<string>? Flags = null, string? NoQuorumPolicy = null);

/// <summary><c>cohort quorum --json</c>: the decision, the lease, and every configured node's votes.</summary>
/// <param name="Quorate">Whether the node is quorate now (its quorum lease has not run out).</param>
/// <param name="LeaseRemainingMilliseconds">How long the lease still holds, when quorate.</param>
/// <param name="Quorum">The policy's decision.</param>
/// <param name="View">The installed view, or null.</param>
/// <param name="Nodes">Every configured node, its votes, and whether it is in the view.</param>
/// <param name="Device">The quorum device's state, or null when none is configured.</param>
public sealed record QuorumStatus(bool Quorate, double? LeaseRemainingMilliseconds, QuorumReport Quorum, ViewReport? View, IReadOnlyList<NodeVotes> Nodes, DeviceStatus? Device);

/// <summary>The quorum device in <c>cohort quorum</c>.</summary>
/// <param name="Name">Its plugin name (<c>Cluster:Quorum:Device</c>).</param>
/// <param name="Votes">Its votes (<c>Cluster:Quorum:DeviceVotes</c>).</param>
/// <param name="Granted">Whether its votes are this node's view's now.</param>
/// <param name="GrantRemainingMilliseconds">How long the grant still holds, when granted.</param>
/// <param name="Detail">The device's own words.</param>
public sealed record DeviceStatus(string Name, int Votes, bool Granted, double? GrantRemainingMilliseconds, string Detail);

/// <summary>A configured node in <c>cohort quorum</c>.</summary>
public sealed record NodeVotes(int NodeId, string Name, int Votes, bool Member);

/// <summary>A loaded plugin, as <c>cohort plugins --json</c> and status show it.</summary>
public sealed record PluginReport(
    string Slot,
    string Name,
    string Version,
    string AbstractionsVersion,
    string Path,
    string LoadContext,
    bool Selected,
    IReadOnlyList<AssemblyReport> PrivateAssemblies);

/// <summary>An assembly loaded privately into a plugin's load context.</summary>
public sealed record AssemblyReport(string Name, string Version);

/// <summary>The arguments of <c>fence</c> and <c>fence-ack</c>.</summary>
/// <param name="Node">The node, by name or id.</param>
/// <param name="Action"><c>off</c> or <c>reboot</c>; null for <c>Cluster:Fencing:Action</c>.</param>
public sealed record FenceArguments(string Node, string? Action = null);

/// <summary>Arguments of <c>leave</c>.</summary>
/// <param name="Force">Leave even while lock clients hold locks: their process groups are killed first.</param>
public sealed record LeaveArguments(bool Force = false);

/// <summary>The answer to <c>fence</c>: the incarnation that is now a victim.</summary>
/// <param name="Victim">The node's name.</param>
/// <param name="VictimId">Its id.</param>
/// <param name="VictimIncarnation">The incarnation to be fenced.</param>
public sealed record FenceReport(string Victim, int VictimId, long VictimIncarnation);

/// <summary>One device operation of the fencing history (<c>cohort fence history --json</c>).</summary>
/// <param name="Victim">The victim node's name.</param>
/// <param name="VictimId">Its id.</param>
/// <param name="VictimIncarnation">The incarnation fenced.</param>
/// <param name="Level">The level, from 1 (0: no level could be tried).</param>
/// <param name="Device">The device.</param>
/// <param name="Action"><c>off</c> or <c>reboot</c>.</param>
/// <param name="Result"><c>success</c>, <c>failed</c>, <c>timeout</c> or <c>unknown</c>.</param>
/// <param name="Requester">The fencer node's name.</param>
/// <param name="RequesterId">Its id.</param>
/// <param name="RequesterIncarnation">Its incarnation.</param>
/// <param name="Time">When the operation ended, on the fencer's clock.</param>
/// <param name="Fenced">Whether this operation completed a level, so the victim was fenced.</param>
/// <param name="Attempt">The pass over the victim's levels, from 1.</param>
/// <param name="Reason"><c>departed</c> or <c>operator</c>.</param>
/// <param name="Detail">What the device said.</param>
public sealed record FenceHistoryEntry(
    string Victim,
    int VictimId,
    long VictimIncarnation,
    int Level,
    string Device,
    string Action,
    string Result,
    string Requester,
    int RequesterId,
    long RequesterIncarnation,
    DateTimeOffset Time,
    bool Fenced,
    int Attempt,
    string Reason,
    string Detail);

/// <summary>A victim not yet fenced, in status.</summary>
/// <param name="Victim">The node's name.</param>
/// <param name="VictimId">Its id.</param>
/// <param name="VictimIncarnation">The incarnation.</param>
/// <param name="Reason"><c>departed</c> or <c>operator</c>.</param>
/// <param name="Fencer">The node that fences it, as this node sees it, or null.</param>
/// <param name="State"><c>waiting</c>, <c>running</c>, <c>retrying</c> or <c>elsewhere</c>.</param>
/// <param name="Attempt">The current pass, from 1 (0 before the first).</param>
/// <param name="Level">The level being tried (0: none).</param>
/// <param name="Device">The device being run, or null.</param>
public sealed record PendingFenceReport(string Victim, int VictimId, long VictimIncarnation, string Reason, string? Fencer, string State, int Attempt, int Level, string? Device);

/// <summary>Fencing in status: the victims not yet fenced and the latest history record of each node.</summary>
/// <param name="Pending">Victims not yet fenced.</param>
/// <param name="Last">The latest operation on each node that was ever a victim.</param>
public sealed record FencingReport(IReadOnlyList<PendingFenceReport> Pending, IReadOnlyList<FenceHistoryEntry> Last);

/// <summary><c>cohort fence devices --json</c>: the topology and each device.</summary>
/// <param name="Action">What fencing does (<c>Cluster:Fencing:Action</c>).</param>
/// <param name="MonitorIntervalSeconds">How often devices are monitored (0: never).</param>
/// <param name="Levels">Each node's levels.</param>
/// <param name="Devices">Each device and its last monitor result on this node.</param>
public sealed record FenceDevicesReport(string Action, double MonitorIntervalSeconds, IReadOnlyList<FenceLevelsReport> Levels, IReadOnlyList<FenceDeviceReport> Devices);

/// <summary>A node's levels in <c>cohort fence devices</c>.</summary>
/// <param name="Node">The node's name.</param>
/// <param name="NodeId">Its id.</param>
/// <param name="Levels">Its levels in order, each the devices that must all succeed.</param>
public sealed record FenceLevelsReport(string Node, int NodeId, IReadOnlyList<IReadOnlyList<string>> Levels);

/// <summary>A device in <c>cohort fence devices</c>.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Agent">Its fence-agent plugin.</param>
/// <param name="TimeoutSeconds">Its operation timeout.</param>
/// <param name="Retries">How often a failed operation is repeated.</param>
/// <param name="HostMap">What it calls each node, where that is not the node's name.</param>
/// <param name="Monitor">Its last monitor result (<c>success</c>, <c>failed</c>, ...), or null before the first.</param>
/// <param name="MonitorDetail">What the monitor said.</param>
/// <param name="MonitorTime">When.</param>
public sealed record FenceDeviceReport(string Name, string Agent, double TimeoutSeconds, int Retries, IReadOnlyDictionary<string, string> HostMap, string? Monitor, string? MonitorDetail, DateTimeOffset? MonitorTime);

/// <summary>The lock manager in status: the plugin and each lockspace this node joined.</summary>
/// <param name="Plugin">The lock-manager plugin (<c>dlm</c>).</param>
/// <param name="Lockspaces">The lockspaces, as this node's core holds them.</param>
public sealed record DlmReport(string Plugin, IReadOnlyList<DlmLockspaceReport> Lockspaces);

/// <summary>One lockspace in status.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Id">Its id on this node.</param>
/// <param name="Phase"><c>running</c>, or the recovery phase it is in: <c>stop</c>, <c>fence</c>, <c>directory</c>,
/// <c>remaster</c>, <c>purge</c>, <c>resend</c>.</param>
/// <param name="Sequence">The last recovery's sequence, as <c>viewseq.attempt@coordinator</c>.</param>
/// <param name="Members">Its members as of that recovery.</param>
/// <param name="Resources">Resources this node knows (mastered here or cached).</param>
/// <param name="Mastered">Of those, the ones mastered here.</param>
/// <param name="Locks">Locks of this node's clients.</param>
/// <param name="RejectedFrames">Frames dropped as malformed.</param>
public sealed record DlmLockspaceReport(string Name, int Id, string Phase, string Sequence, IReadOnlyList<MemberReport> Members, int Resources, int Mastered, int Locks, long RejectedFrames);

/// <summary>The arguments of <c>locks</c>.</summary>
/// <param name="Lockspace">One lockspace, or null for every one this node joined.</param>
/// <param name="Limit">The most resources to list per lockspace; null for 1000.</param>
public sealed record LocksArguments(string? Lockspace = null, int? Limit = null);

/// <summary>The answer to <c>locks</c> (<c>cohort locks --json</c>): resources as this node knows them.</summary>
/// <param name="Lockspaces">The lockspaces dumped.</param>
public sealed record LocksReport(IReadOnlyList<LockspaceLocksReport> Lockspaces);

/// <summary>One lockspace of <see cref="LocksReport"/>.</summary>
/// <param name="Name">Its name.</param>
/// <param name="TotalResources">How many resources this node knows.</param>
/// <param name="Resources">Those listed, sorted by name.</param>
public sealed record LockspaceLocksReport(string Name, int TotalResources, IReadOnlyList<ResourceLocksReport> Resources);

/// <summary>One resource of <see cref="LockspaceLocksReport"/>.</summary>
/// <param name="Name">Its name when it is printable UTF-8, else null.</param>
/// <param name="NameHex">Its name in hex.</param>
/// <param name="Master">Its master's node id (0: unknown, a lookup is under way).</param>
/// <param name="DirectoryNode">Its directory node's id.</param>
/// <param name="MasteredHere">Whether this node masters it: the queues are then the resource's, else this node's locks.</param>
/// <param name="Granted">Granted locks.</param>
/// <param name="Converting">Locks converting, in grant order.</param>
/// <param name="Waiting">New requests waiting, in grant order.</param>
/// <param name="ValueSequence">The value block's write sequence (on the master).</param>
/// <param name="ValueNotValid">Whether the value block is not valid.</param>
/// <param name="LastToken">The last PW/EX grant's token, as <c>viewseq.recovery:counter</c>, or null.</param>
public sealed record ResourceLocksReport(string? Name, string NameHex, int Master, int DirectoryNode, bool MasteredHere, IReadOnlyList<LockEntryReport> Granted,
    IReadOnlyList<LockEntryReport> Converting, IReadOnlyList<LockEntryReport> Waiting, ulong ValueSequence, bool ValueNotValid, string? LastToken);

/// <summary>One lock of a queue.</summary>
/// <param name="Node">The owner's node id.</param>
/// <param name="Incarnation">The owner's incarnation (0: not a current member).</param>
/// <param name="LockId">The owner's lock id.</param>
/// <param name="Mode">The mode granted (<c>NL</c> ... <c>EX</c>), or null.</param>
/// <param name="Requested">The mode it waits for, or null.</param>
/// <param name="Flags">Its request's flags, by name (<c>None</c> for none).</param>
/// <param name="Token">Its last PW/EX grant's token, or null.</param>
public sealed record LockEntryReport(int Node, long Incarnation, long LockId, string? Mode, string? Requested, string Flags, string? Token);

/// <summary>The arguments of <c>debug-dlm-bench</c>.</summary>
/// <param name="Lockspace">The lockspace to join.</param>
/// <param name="Resource">The resource to lock and unlock.</param>
/// <param name="Count">How many lock+unlock cycles are measured.</param>
/// <param name="Mode">The mode (<c>NL</c>, <c>CR</c>, <c>CW</c>, <c>PR</c>, <c>PW</c>, <c>EX</c>); null for EX.</param>
/// <param name="Echo">An echo responder (<c>cohort debug echo</c>) at host:port to measure a raw round trip against, or null.</param>
/// <param name="Redis">A redis-server at host:port to measure <c>SET NX PX</c> + <c>DEL</c> against, or null.</param>
/// <param name="Warmup">Cycles run before the measured ones (each measurement); null for min(100, count / 10).</param>
/// <param name="TimeoutSeconds">How long the whole bench may take; null for 60 s.</param>
public sealed record DlmBenchArguments(string Lockspace, string Resource, int Count, string? Mode = null, string? Echo = null, string? Redis = null, int? Warmup = null, double? TimeoutSeconds = null);

/// <summary>The answer of <c>debug-dlm-bench</c>: latencies of one operation each, measured in the agent by one harness.</summary>
/// <param name="Lockspace">The lockspace.</param>
/// <param name="Resource">The resource.</param>
/// <param name="Mode">The mode locked.</param>
/// <param name="Count">Cycles measured (each measurement).</param>
/// <param name="Warmup">Cycles run first and not measured.</param>
/// <param name="Dlm">One lock + unlock of the resource.</param>
/// <param name="FirstToken">The fencing token of the first measured grant (<c>viewseq.recovery:counter</c>; <c>-</c> below PW).</param>
/// <param name="LastToken">The token of the last.</param>
/// <param name="TokensGrew">Whether every PW/EX grant's token was greater than the one before.</param>
/// <param name="Echo">One raw TCP round trip of <see cref="EchoBytes"/> bytes to the echo responder, when asked for.</param>
/// <param name="Redis">One <c>SET key val NX PX 30000</c> + <c>DEL key</c> on one connection, when asked for.</param>
/// <param name="RatioToEcho">Dlm p50 / Echo p50.</param>
/// <param name="RatioToRedis">Dlm p50 / Redis p50.</param>
/// <param name="EchoBytes">The size of the echo frame.</param>
public sealed record DlmBenchReport(string Lockspace, string Resource, string Mode, int Count, int Warmup, LatencyReport Dlm, string FirstToken, string LastToken, bool TokensGrew,
    LatencyReport? Echo, LatencyReport? Redis, double? RatioToEcho, double? RatioToRedis, int EchoBytes);

/// <summary>Latencies of one measured operation, in microseconds.</summary>
public sealed record LatencyReport(int Samples, double P50Microseconds, double P99Microseconds, double MeanMicroseconds, double MinMicroseconds, double MaxMicroseconds);
