using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cohort.Plugins;

/// <summary>
/// The entry point of a plugin. A plugin assembly names exactly one implementation with
/// <see cref="CohortPluginAttribute"/>; the host creates it with its public parameterless constructor.
/// </summary>
/// <remarks>
/// <para>The host loads every plugin in the plugin directory at start-up, in its own load context, in
/// this order: it reads <see cref="Manifest"/>; it checks the manifest (compatible
/// <see cref="PluginManifest.AbstractionsVersion"/>, a name unique in its slot); it validates the
/// configuration sections the manifest owns with their validators; then it calls
/// <see cref="Register"/> once, and builds the plugin's own Autofac lifetime scope from the services
/// registered there. Nothing is called concurrently.</para>
/// <para>Failure: any exception thrown by the constructor, <see cref="Manifest"/> or
/// <see cref="Register"/> refuses the plugin; the agent does not start and prints one line naming the
/// plugin and the exception's message. Throw with a message an operator can act on.</para>
/// </remarks>
public interface ICohortPlugin
{
    /// <summary>What the plugin is; read once, before <see cref="Register"/>.</summary>
    PluginManifest Manifest { get; }

    /// <summary>
    /// Registers the plugin's services. A plugin of slot S must register S's contract (for example
    /// <see cref="Quorum.IQuorumPolicy"/> for <see cref="PluginSlot.QuorumPolicy"/>) as a singleton.
    /// </summary>
    /// <param name="services">The plugin's own service collection. Host services (logging,
    /// <see cref="TimeProvider"/>, options) are resolvable from the plugin's scope without being
    /// registered here.</param>
    /// <param name="configuration">The node's configuration: <c>Node:*</c> and <c>Cluster:*</c>.
    /// Read only the sections the manifest owns, and the slot's documented keys.</param>
    void Register(IServiceCollection services, IConfiguration configuration);
}
