namespace Cohort.Host.Configuration;

/// <summary>
/// Node-local settings: the <c>Node</c> section of <c>node.json</c>, <c>COHORT_Node__*</c> environment
/// variables and <c>--Node:*</c> command-line arguments, later sources winning.
/// </summary>
/// <remarks>Relative paths resolve against the folder of the file that set them (the current directory
/// for environment and command line).</remarks>
public sealed class NodeOptions
{
    /// <summary>The section name.</summary>
    public const string Section = "Node";

    /// <summary>This node's id in the cluster document. Required.</summary>
    /// <value>No default: 0 is refused.</value>
    public int Id { get; set; }

    /// <summary>This node's name.</summary>
    /// <value>Default: the name the cluster document gives node <see cref="Id"/>, else <c>node{Id}</c>.</value>
    public string? Name { get; set; }

    /// <summary>The transport plugin's name.</summary>
    /// <value>Default <c>tcp</c>. Only used when the cluster has more than one node.</value>
    public string Transport { get; set; } = DefaultTransport;

    /// <summary>Where this node accepts connections from its peers, <c>host:port</c>.</summary>
    /// <value>Default: this node's <c>Address</c> in the cluster file. A cluster of more than one node
    /// needs one or the other.</value>
    public string? Listen { get; set; }

    /// <summary>Peers to contact, <c>host:port</c> each; their node ids are learned from the handshake.</summary>
    /// <value>Default: none; peers are then dialed at their <c>Address</c> in the cluster file, or dial in.</value>
    public IReadOnlyList<string> Seeds { get; set; } = [];

    /// <summary>The cluster key file (<c>cohort keygen</c>), the same on every node.</summary>
    /// <value>Default: none. A cluster of more than one node needs one.</value>
    public string? KeyFile { get; set; }

    /// <summary>Accept a key file that group or others may read (a published demo key).</summary>
    /// <value>Default false: such a key file is refused.</value>
    public bool AllowInsecureKeyFile { get; set; }

    /// <summary>Let <c>cohort debug partition</c> and <c>cohort debug heal</c> cut this node's links (tests only).</summary>
    /// <value>Default false: the debug verbs are refused.</value>
    public bool FaultInjection { get; set; }

    /// <summary>The cluster file: the cluster-wide document (nodes, quorum policy, ...).</summary>
    /// <value>Default: none. A node without one is never quorate and has no vote.</value>
    public string? Bootstrap { get; set; }

    /// <summary>Where the node keeps its incarnation counter, installed view and lock.</summary>
    /// <value>Default <c>/var/lib/cohort</c>.</value>
    public string StateDirectory { get; set; } = DefaultStateDirectory;

    /// <summary>The folder holding one sub-folder per plugin.</summary>
    /// <value>Default: <c>plugins</c> beside the <c>cohort</c> program.</value>
    public string? PluginDirectory { get; set; }

    /// <summary>The Unix socket the <c>cohort</c> command talks to.</summary>
    /// <value>Default: <c>admin.sock</c> in <see cref="StateDirectory"/>.</value>
    public string? AdminSocket { get; set; }

    /// <summary>How long a leaving node waits for its services to drain and for the cluster to
    /// exclude it cleanly, in seconds; after it, the agent exits anyway and counts as an unclean leaver.</summary>
    /// <value>Default 30.</value>
    public int DrainTimeout { get; set; } = DefaultDrainTimeoutSeconds;

    /// <summary>Default of <see cref="DrainTimeout"/>, in seconds.</summary>
    public const int DefaultDrainTimeoutSeconds = 30;

    /// <summary>Default of <see cref="Transport"/>.</summary>
    public const string DefaultTransport = "tcp";

    /// <summary>Default of <see cref="StateDirectory"/>.</summary>
    public const string DefaultStateDirectory = "/var/lib/cohort";

    /// <summary>The plugin directory in effect.</summary>
    public string EffectivePluginDirectory => PluginDirectory ?? Path.Combine(AppContext.BaseDirectory, "plugins");

    /// <summary>The admin socket path in effect.</summary>
    public string EffectiveAdminSocket => AdminSocket ?? Path.Combine(StateDirectory, "admin.sock");
}
