using Autofac;
using Autofac.Extensions.DependencyInjection;
using Cohort.Fencing;
using Cohort.Host.Configuration;
using Cohort.Host.Plugins;
using Cohort.Membership;
using Cohort.Plugins;
using Cohort.Quorum;
using Cohort.Simulation;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cohort.Host.Simulation;

/// <summary>
/// Builds what <c>cohort simulate</c> runs: the cluster (from a cluster file, validated as an agent
/// validates it, or generated) and its quorum policy, loaded through the plugin loader exactly as an
/// agent loads it.
/// </summary>
internal static class SimulationSetupLoader
{
    /// <summary>The mutants by their command-line names.</summary>
    public static readonly IReadOnlyDictionary<string, MembershipMutant> Mutants = new Dictionary<string, MembershipMutant>(StringComparer.Ordinal)
    {
        ["lease-off"] = MembershipMutant.LeaseOff,
        ["no-promise"] = MembershipMutant.NoPromise,
        ["install-without-all-acks"] = MembershipMutant.InstallWithoutAllAcks,
        ["device-grant-never-ends"] = MembershipMutant.DeviceGrantNeverEnds,
    };

    /// <param name="clusterFile">A cluster file, or null to generate <paramref name="nodes"/> nodes.</param>
    /// <param name="nodes">How many nodes to generate (ids 1..N, one vote each).</param>
    /// <param name="policyName">The quorum policy; default: the cluster file's, else votequorum.</param>
    /// <param name="pluginDirectory">Where the plugins are.</param>
    /// <param name="mutant">A broken membership core to run instead of the real one.</param>
    /// <param name="deviceName">The quorum device: default the cluster file's (none when generated);
    /// <c>none</c> for none. The caller supplies the device's witness model (<see cref="ClusterSetup.Witness"/>).</param>
    /// <param name="fencing">The cluster file's fencing topology when some node has fencing levels, else null.</param>
    public static ClusterSetup Load(string? clusterFile, int nodes, string? policyName, string pluginDirectory, MembershipMutant mutant, string? deviceName, out FencingTopology? fencing)
    {
        var catalog = PluginCatalog.Load(pluginDirectory, "--plugins");
        ConfigSource source;
        ClusterDocument? document = null;
        if (clusterFile is not null)
        {
            var path = Path.GetFullPath(clusterFile);
            if (!File.Exists(path))
            {
                throw new CohortStartupException($"{path}: cluster file not found");
            }

            source = ConfigSource.JsonFile(path, prefix: "Cluster");
            document = ClusterDocument.Parse(path, source.Root.GetSection("Cluster"));
        }
        else
        {
            if (nodes is < 1 or > 1024)
            {
                throw new CohortStartupException($"--nodes: expected a number of nodes from 1 to 1024, got {nodes}", ExitCodes.Usage);
            }

            var keys = new SortedDictionary<string, string?>(ClusterSetup.GeneratedKeys(nodes, policyName ?? ClusterDocument.DefaultQuorumPolicy).ToDictionary(), StringComparer.Ordinal);
            if (deviceName is not null and not NoDevice)
            {
                keys["Cluster:Quorum:Device"] = deviceName;
            }

            source = new ConfigSource("generated cluster", new ConfigurationBuilder().AddInMemoryCollection(keys).Build(), Directory.GetCurrentDirectory(), isFile: false);
            document = ClusterDocument.Parse("generated cluster", source.Root.GetSection("Cluster"), ClusterSetup.Canonical(keys));
        }

        var configuration = new CohortConfiguration([source], new NodeOptions { Id = document.Nodes[0].Id.Value }, document);
        ConfigurationLoader.CheckClusterKeys(configuration, catalog.OwnedSections);
        var plugin = catalog.Select(PluginSlot.QuorumPolicy, policyName ?? document.QuorumPolicy, policyName is null ? source.Description + ": Cluster:Quorum:Policy" : "--policy");
        var device = deviceName is NoDevice ? null : deviceName ?? document.QuorumDevice;
        var validated = new HashSet<LoadedPlugin> { plugin };
        if (device is not null)
        {
            var devicePlugin = catalog.Select(PluginSlot.QuorumDevice, device, deviceName is null ? source.Description + ": Cluster:Quorum:Device" : "--device");
            if (clusterFile is not null)
            {
                validated.Add(devicePlugin); // a generated document has none of the device's options: its defaults apply
            }
        }

        catalog.Validate(configuration, validated);

        var services = new ServiceCollection().AddLogging();
        var builder = new ContainerBuilder();
        builder.Populate(services);
        builder.RegisterInstance(TimeProvider.System);
        var container = builder.Build();
        catalog.Register(container, configuration.Root);
        var policy = PluginCatalog.Resolve<IQuorumPolicy>(plugin);
        var topology = document.Fencing.Topology;
        fencing = document.Nodes.Any(n => topology.LevelsOf(n.Id).Count > 0) ? topology : null;

        return ClusterSetup.From(
            [.. document.Nodes.Select(n => n.ToClusterNode())],
            source.Leaves().Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)),
            () => policy,
            document.Membership with { Mutant = mutant },
            Convert.FromHexString(document.Sha256)) with
        {
            Device = device is null ? null : new DeviceSetup(device, document.DeviceVotes),
        };
    }

    /// <summary>The <c>--device</c> value that turns a cluster file's device off.</summary>
    public const string NoDevice = "none";
}
