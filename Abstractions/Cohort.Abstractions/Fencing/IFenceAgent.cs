using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing;

/// <summary>
/// A fence agent (the <see cref="PluginSlot.FenceAgent"/> slot): the code that drives one kind of fence device — a
/// power switch, a BMC, a hypervisor, an operator. The cluster document names devices under
/// <c>Cluster:Fencing:Devices</c>, each with the agent that drives it and that agent's options; the host decides
/// who is fenced, by whom, through which levels, with what timeout and retries, and calls the agent for one
/// device operation at a time.
/// </summary>
/// <remarks>
/// <para><b>Safety.</b> Return <see cref="FenceResult.Success"/> for <see cref="FenceAction.Off"/> and
/// <see cref="FenceAction.Reboot"/> only when the target is known to be dead: everything the departed node held is
/// handed to others on the strength of that answer. When in doubt, return <see cref="FenceResult.Unknown"/>.</para>
/// <para><b>Time.</b> The host cancels <c>cancellationToken</c> when the device's timeout runs out and records a
/// timeout whatever the agent returns after that; an agent must stop its work promptly when cancelled (kill the
/// program it ran, close the connection).</para>
/// <para><b>Threads.</b> Calls may run concurrently, for different targets or devices; an agent keeps no
/// per-operation state in fields.</para>
/// </remarks>
public interface IFenceAgent
{
    /// <summary>Judges the options of one device that uses this agent. Called wherever the cluster document is
    /// validated (start, <c>cohort config validate</c>, before a change is accepted): a pure function, no IO beyond
    /// reading files the agent ships with (a program's metadata, say).</summary>
    /// <param name="device">The device's section, <c>Cluster:Fencing:Devices:NAME</c>; the host has checked the
    /// keys it owns (<c>Agent</c>, <c>Timeout</c>, <c>HostMap</c>, <c>Retries</c>, <c>DelayBase</c>, <c>DelayMax</c>)
    /// and every other key is the agent's.</param>
    /// <param name="nodes">The cluster's nodes, sorted by id.</param>
    /// <returns>Every problem at once, with full key paths; empty when the options are valid.</returns>
    IEnumerable<ConfigProblem> Validate(IConfigurationSection device, IReadOnlyList<ClusterNode> nodes);

    /// <summary>Carries out one operation on one device.</summary>
    /// <param name="request">What to do, to whom, with which options.</param>
    /// <param name="cancellationToken">Cancelled when the device's timeout runs out or the agent stops.</param>
    /// <returns>How it ended. An exception counts as <see cref="FenceResult.Unknown"/>.</returns>
    Task<FenceOutcome> RunAsync(FenceRequest request, CancellationToken cancellationToken);
}

/// <summary>One operation for an <see cref="IFenceAgent"/>.</summary>
/// <param name="Device">The device's name (the key under <c>Cluster:Fencing:Devices</c>).</param>
/// <param name="Options">The device's section of the cluster document (agent options included).</param>
/// <param name="Action">What to do.</param>
/// <param name="Target">The node to act on and the incarnation that must die; null for
/// <see cref="FenceAction.Monitor"/>.</param>
/// <param name="TargetName">The target node's name in the cluster document; null for <see cref="FenceAction.Monitor"/>.</param>
/// <param name="Plug">What the device calls the target (the fence-agents <c>plug</c>/<c>port</c>): the device's
/// <c>HostMap</c> entry for the target node, else the node's name; null for <see cref="FenceAction.Monitor"/>.</param>
/// <param name="Acknowledged">Completes when an operator runs <c>cohort fence ack NODE</c> for the target, on any
/// node; for agents that wait for a person (<c>manual</c>). Never completes for <see cref="FenceAction.Monitor"/>.</param>
public sealed record FenceRequest(
    string Device,
    IConfiguration Options,
    FenceAction Action,
    NodeIncarnation? Target,
    string? TargetName,
    string? Plug,
    Task Acknowledged)
{
    /// <summary>The node that runs the operation (the fencer) and its incarnation; null when the caller did not say
    /// (a test). An agent that leaves a message for the victim (<c>poison-pill</c>) signs it with this.</summary>
    public NodeIncarnation? Requester { get; init; }
}
