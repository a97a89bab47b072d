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

    /// <summary>The hash of the cluster's version-1 document, which identifies the cluster: membership
    /// refuses peers with another one. Null without a document.</summary>
    public string? GenesisSha256 { get; init; }

    /// <summary>The version of the cluster document this agent judges views under (its
    /// <see cref="CohortConfiguration.Cluster"/>); 0 without one.</summary>
    public long ConfigVersion { get; init; }

    /// <summary>The newest committed cluster document this agent holds (at start, the one it started
    /// with): the nodes and votes status shows. Null without a document.</summary>
    public ClusterDocument? Cluster
    {
        get => _cluster ?? Configuration.Cluster;
        set => _cluster = value;
    }

    private volatile ClusterDocument? _cluster;

    /// <summary>The plugins chosen for their slots.</summary>
    public IReadOnlySet<LoadedPlugin> Selected { get; init; } = new HashSet<LoadedPlugin>();

    public Snapshot Current => _current;

    /// <summary>The membership core's clock (monotonic), set when membership starts.</summary>
    public Func<TimeSpan> Clock { get; set; } = () => TimeSpan.Zero;

    /// <summary>Whether the node is quorate right now: its quorum lease has not run out.</summary>
    public bool IsQuorate => _current.QuorateUntil is { } until && Clock() < until;

    public void Publish(Snapshot snapshot) => _current = snapshot;

    /// <summary>What membership believes: the installed view, the policy's decision on it, until when
    /// (on <see cref="Clock"/>) the node may act as quorate, why, and where the node stands.</summary>
    public sealed record Snapshot(View? View, QuorumDecision? Decision, TimeSpan? QuorateUntil = null, string Reason = "starting", string Phase = "joining", QuorumDeviceGrant? DeviceGrant = null, bool QuorumIsDual = false);
}
