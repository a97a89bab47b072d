using Cohort.Host.Configuration;
using Cohort.Host.Plugins;
using Cohort.Membership;
using Cohort.Quorum;

namespace Cohort.Host.Agent;

/// <summary>What this agent is and believes right now; read by status, written by the services.</summary>
/// <remarks>Readers see a consistent (view, decision) pair: both are replaced together.</remarks>
internal sealed class AgentState(NodeIncarnation self, string name, CohortConfiguration configuration, PluginCatalog plugins, string stateDirectory)
{
    private volatile Snapshot _current = new(null, null);

    public NodeIncarnation Self { get; } = self;

    public string Name { get; } = name;

    public CohortConfiguration Configuration { get; } = configuration;

    public PluginCatalog Plugins { get; } = plugins;

    public string StateDirectory { get; } = stateDirectory;

    /// <summary>The plugins chosen for their slots.</summary>
    public IReadOnlySet<LoadedPlugin> Selected { get; init; } = new HashSet<LoadedPlugin>();

    public Snapshot Current => _current;

    public void Publish(View view, QuorumDecision decision) => _current = new Snapshot(view, decision);

    /// <summary>An installed view and the quorum decision for it.</summary>
    public sealed record Snapshot(View? View, QuorumDecision? Decision);
}
