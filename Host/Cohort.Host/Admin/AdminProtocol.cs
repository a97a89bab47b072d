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

/// <summary><c>cohort status --json</c>. <c>ConfigHash</c> is the SHA-256 of the cluster document every
/// view is judged under; <c>Phase</c> is joining, member, leaving, drained or left.</summary>
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
    IReadOnlyList<PluginReport> Plugins);

/// <summary>The installed view in status.</summary>
/// <param name="Epoch">The view id's sequence number.</param>
/// <param name="Coordinator">The view id's coordinator.</param>
/// <param name="Members">The members.</param>
public sealed record ViewReport(long Epoch, int Coordinator, IReadOnlyList<MemberReport> Members);

/// <summary>A view member in status.</summary>
public sealed record MemberReport(int NodeId, string Name, long Incarnation);

/// <summary>The quorum decision in status.</summary>
public sealed record QuorumReport(string? Policy, int Votes, int Expected, string Reason, bool DualQuorum);

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
