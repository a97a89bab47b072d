using System.Text.Json.Serialization;
using Cohort.Host.Admin;
using Cohort.Host.State;

namespace Cohort.Host;

/// <summary>Source-generated JSON for the host's files and admin replies (fast start, no reflection).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false, UseStringEnumConverter = true)]
[JsonSerializable(typeof(AgentProcessInfo))]
[JsonSerializable(typeof(AgentProcessInfo[]))]
[JsonSerializable(typeof(AdminRequest))]
[JsonSerializable(typeof(AdminReply))]
[JsonSerializable(typeof(StatusReport))]
[JsonSerializable(typeof(PluginReport[]))]
[JsonSerializable(typeof(DebugArguments))]
[JsonSerializable(typeof(LeaveArguments))]
[JsonSerializable(typeof(LocksArguments))]
[JsonSerializable(typeof(LocksReport))]
[JsonSerializable(typeof(TransportReport))]
[JsonSerializable(typeof(QuorumStatus))]
[JsonSerializable(typeof(ConfigShowReport))]
[JsonSerializable(typeof(ConfigHistoryEntry[]))]
[JsonSerializable(typeof(ConfigApplyArguments))]
[JsonSerializable(typeof(ConfigShowArguments))]
[JsonSerializable(typeof(ConfigApplyReport))]
[JsonSerializable(typeof(FenceArguments))]
[JsonSerializable(typeof(FenceReport))]
[JsonSerializable(typeof(FenceHistoryEntry[]))]
[JsonSerializable(typeof(FenceDevicesReport))]
[JsonSerializable(typeof(DlmBenchArguments))]
[JsonSerializable(typeof(DlmBenchReport))]
internal sealed partial class HostJsonContext : JsonSerializerContext;
