using System.Text.Json;
using Cohort.Host.Agent;
using Cohort.Host.Plugins;

namespace Cohort.Host.Admin;

/// <summary>The verbs the admin socket answers, built from the agent's state.</summary>
internal sealed class AdminVerbs
{
    private readonly AgentState _state;

    public AdminVerbs(AgentState state, MembershipService membership)
    {
        _state = state;
        Table = new Dictionary<string, Func<AdminRequest, JsonElement>>(StringComparer.Ordinal)
        {
            ["status"] = _ => JsonSerializer.SerializeToElement(Status(), HostJsonContext.Default.StatusReport),
            ["plugins"] = _ => JsonSerializer.SerializeToElement([.. Plugins()], HostJsonContext.Default.PluginReportArray),
            ["leave"] = _ => Leave(membership),
        };
    }

    public IReadOnlyDictionary<string, Func<AdminRequest, JsonElement>> Table { get; }

    /// <summary>Starts a clean leave: the node drains, is excluded from the next view as a clean
    /// leaver, and the agent exits. Answers at once with the status.</summary>
    private JsonElement Leave(MembershipService membership)
    {
        _ = membership.LeaveAsync();
        return JsonSerializer.SerializeToElement(Status(), HostJsonContext.Default.StatusReport);
    }

    public StatusReport Status()
    {
        var snapshot = _state.Current;
        var cluster = _state.Configuration.Cluster;
        var decision = snapshot.Decision;
        var view = snapshot.View is null
            ? null
            : new ViewReport(
                snapshot.View.Id.Seq,
                snapshot.View.Id.Coordinator.Value,
                [.. snapshot.View.Members.Select(m => new MemberReport(m.Node.Value, cluster?.Find(m.Node)?.Name ?? _state.Name, m.Incarnation))]);
        return new StatusReport(
            _state.Name,
            _state.Self.Node.Value,
            _state.Self.Incarnation,
            Environment.ProcessId,
            cluster?.Name,
            cluster?.Sha256,
            view,
            _state.IsQuorate,
            snapshot.Phase,
            new QuorumReport(cluster?.QuorumPolicy, decision?.Votes ?? 0, decision?.ExpectedVotes ?? 0, snapshot.Reason, decision?.DualQuorum ?? false),
            _state.StateDirectory,
            [.. Plugins()]);
    }

    private IEnumerable<PluginReport> Plugins() =>
        _state.Plugins.Plugins.Select(p => new PluginReport(
            PluginSlots.Name(p.Manifest.Slot),
            p.Manifest.Name,
            p.Manifest.Version.ToString(),
            p.Manifest.AbstractionsVersion,
            p.AssemblyPath,
            p.LoadContext.Name ?? p.LoadContext.GetType().Name,
            _state.Selected.Contains(p),
            [.. p.PrivateAssemblies().Select(a => new AssemblyReport(a.Name ?? "", a.Version?.ToString() ?? ""))]));
}
