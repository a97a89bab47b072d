using System.Runtime.InteropServices;
using Autofac;
using Autofac.Extensions.DependencyInjection;
using Cohort.ClusterConfiguration;
using Cohort.Host.Admin;
using Cohort.Host.Configuration;
using Cohort.Host.Native;
using Cohort.Host.Plugins;
using Cohort.Host.Runtime;
using Cohort.Host.State;
using Cohort.Membership;
using Cohort.Plugins;
using Cohort.Quorum;
using Cohort.Transport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Cohort.Host.Agent;

/// <summary>What <c>cohort agent</c> was asked to run.</summary>
/// <param name="ConfigFile">The node file.</param>
/// <param name="ConfigArguments">Extra configuration arguments (<c>--Node:Id=3</c>).</param>
/// <param name="Bootstrap">A cluster file replacing <c>Node:Bootstrap</c>, or null.</param>
public sealed record AgentStartOptions(string? ConfigFile, IReadOnlyList<string> ConfigArguments, string? Bootstrap = null);

/// <summary>
/// Runs one agent: leads its own process group, validates configuration, loads plugins, takes the
/// state directory, installs its view, serves the admin socket, and stops cleanly on SIGTERM or SIGINT.
/// </summary>
public static partial class AgentRunner
{
    /// <summary>Runs the agent until it is stopped.</summary>
    /// <exception cref="CohortStartupException">Start-up failed; the message has one line per problem.</exception>
    public static async Task RunAsync(AgentStartOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        LeadOwnProcessGroup();

        var local = ConfigurationLoader.LoadNode(options.ConfigFile, options.ConfigArguments);
        var node = local.Node;
        var catalog = PluginCatalog.Load(node.EffectivePluginDirectory, local.DescribeSource("Node:PluginDirectory"));
        var ccsPlugin = catalog.Select(PluginSlot.ConfigurationSystem, CcsPluginName, "the host");
        var ccs = PluginCatalog.CreateEarly<IConfigurationSystem>(ccsPlugin, local.Root);
        var stored = ReadConfigStore(ccs, node.StateDirectory);
        if (ClusterJoin.Applies(node, options.Bootstrap, stored))
        {
            if (!await ClusterJoin.RunAsync(local, catalog, ccs, cancellationToken).ConfigureAwait(false))
            {
                return; // stopped while joining
            }

            stored = ReadConfigStore(ccs, node.StateDirectory);
        }

        var configuration = ConfigurationLoader.WithCluster(local, options.Bootstrap, stored.Committed is { } held
            ? new CommittedDocument($"{ConfigService.RecordDirectory(node.StateDirectory)} (version {held.Version})", held.Document)
            : null);
        ConfigurationLoader.CheckClusterKeys(configuration, catalog.OwnedSections);

        var selected = new HashSet<LoadedPlugin> { ccsPlugin };
        LoadedPlugin? policyPlugin = null;
        LoadedPlugin? transportPlugin = null;
        LoadedPlugin? devicePlugin = null;
        LoadedPlugin? lockManagerPlugin = null;
        PeerSetup? peers = null;
        if (configuration.Cluster is { } cluster)
        {
            lockManagerPlugin = catalog.Select(PluginSlot.LockManager, DlmPluginName, "the host");
            selected.Add(lockManagerPlugin);
            policyPlugin = catalog.Select(PluginSlot.QuorumPolicy, cluster.QuorumPolicy, configuration.DescribeSource("Cluster:Quorum:Policy"));
            selected.Add(policyPlugin);
            if (cluster.QuorumDevice is { } device)
            {
                devicePlugin = catalog.Select(PluginSlot.QuorumDevice, device, configuration.DescribeSource("Cluster:Quorum:Device"));
                selected.Add(devicePlugin);
            }
            if (cluster.Nodes.Count > 1)
            {
                transportPlugin = catalog.Select(PluginSlot.Transport, node.Transport, configuration.DescribeSource("Node:Transport"));
                selected.Add(transportPlugin);
                peers = PeerSetup.From(configuration, cluster);
            }
        }

        catalog.Validate(configuration, selected);
        if (configuration.Cluster is { } fenced && ClusterDocumentCheck.FencingProblems(configuration, fenced, catalog, selected) is { Count: > 0 } fencingProblems)
        {
            throw new CohortStartupException(fencingProblems);
        }

        var clusterKey = peers?.Key ?? DeviceKey(configuration);

        using var directory = StateDirectory.Open(node.StateDirectory);
        var incarnation = directory.BumpIncarnation();
        if (stored.Committed is null && configuration.Cluster is { } bootstrap)
        {
            // Every node seeds version 1 from the same bootstrap file: its hash identifies the cluster.
            var first = new ConfigVersion(1, bootstrap.Bytes, bootstrap.Sha256, default, new NodeIncarnation(new NodeId(node.Id), incarnation), 0, DateTimeOffset.UtcNow);
            var records = ConfigService.RecordDirectory(node.StateDirectory);
            Directory.CreateDirectory(records);
            foreach (var record in ccs.Seed(first))
            {
                DurableFile.WriteAtomically(Path.Combine(records, record.Name), record.Contents.Span);
            }

            stored = ReadConfigStore(ccs, node.StateDirectory);
        }

        directory.WritePidFile(AgentProcessInfo.Current(incarnation));
        using var admin = AdminSocketListener.Bind(node.EffectiveAdminSocket);

        var self = new NodeIncarnation(new NodeId(node.Id), incarnation);
        var state = new AgentState(self, node.Name!, configuration, catalog, node.StateDirectory)
        {
            Selected = selected,
            GenesisSha256 = stored.GenesisSha256,
            ConfigVersion = stored.Committed?.Version ?? 0,
        };

        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddConfiguration(configuration.Root);
        builder.ConfigureContainer(new AutofacServiceProviderFactory());
        ConfigureLogging(builder.Logging, configuration.Root);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton(directory);
        builder.Services.AddSingleton(admin);
        builder.Services.AddSingleton(sp => new AdminVerbs(state, sp.GetRequiredService<MembershipService>(), sp.GetService<TransportService>(), sp.GetRequiredService<ConfigService>(), sp.GetRequiredService<FencingService>(), sp.GetRequiredService<WatchdogService>(), sp.GetRequiredService<DlmService>(), sp.GetRequiredService<LockClients>()));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(node.DrainTimeout + 10));
        if (transportPlugin is not null)
        {
            builder.Services.AddSingleton(sp => new TransportService(
                PluginCatalog.Resolve<ITransport>(transportPlugin),
                peers!.StartInfo(self),
                transportPlugin.Manifest.Name,
                sp.GetRequiredService<ILogger<TransportService>>()));
        }

        builder.Services.AddSingleton<MembershipService>(sp => new MembershipService(
            state,
            policyPlugin is null ? null : PluginCatalog.Resolve<IQuorumPolicy>(policyPlugin),
            devicePlugin is null ? null : PluginCatalog.Resolve<IQuorumDevice>(devicePlugin),
            clusterKey,
            sp.GetService<TransportService>(),
            directory,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IHostApplicationLifetime>(),
            sp.GetRequiredService<ILogger<MembershipService>>()));
        builder.Services.AddSingleton(sp => new ConfigService(
            state,
            ccs,
            stored,
            sp.GetRequiredService<MembershipService>(),
            sp.GetService<TransportService>(),
            directory,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ConfigService>>()));
        builder.Services.AddSingleton(sp => new FencingService(
            state,
            sp.GetRequiredService<MembershipService>(),
            sp.GetRequiredService<ConfigService>(),
            sp.GetService<TransportService>(),
            directory,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<FencingService>>()));
        builder.Services.AddSingleton<Fencing.IFencingGate>(sp => sp.GetRequiredService<FencingService>());
        builder.Services.AddSingleton(sp => new DlmService(
            state,
            lockManagerPlugin is null ? null : PluginCatalog.Resolve<Locking.ILockManager>(lockManagerPlugin),
            DlmPluginName,
            sp.GetRequiredService<MembershipService>(),
            sp.GetRequiredService<ConfigService>(),
            sp.GetService<TransportService>(),
            sp.GetRequiredService<Fencing.IFencingGate>(),
            directory,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<DlmService>>()));
        // The node's lock manager, for every plugin's scope (they are children of the host's).
        builder.Services.AddSingleton<Locking.IDistributedLockManager>(sp => sp.GetRequiredService<DlmService>().Manager);
        // Collected with the plugins' hooks from their scopes (children of this one): a clean leave releases the locks.
        builder.Services.AddSingleton<IDrainHook>(sp => sp.GetRequiredService<DlmService>());
        builder.Services.AddSingleton(sp => new WatchdogService(
            state,
            sp.GetRequiredService<ConfigService>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<WatchdogService>>()));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WatchdogService>()); // first: it stops last (disarmed once all else stopped)
        builder.Services.AddSingleton<LockClients>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LockClients>()); // before the admin socket: a previous incarnation's clients are killed first
        builder.Services.AddHostedService<AdminServer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ConfigService>()); // before membership: it routes its frames first
        builder.Services.AddHostedService(sp => sp.GetRequiredService<FencingService>()); // likewise
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DlmService>()); // likewise; it stops before fencing
        builder.Services.AddHostedService(sp => sp.GetRequiredService<MembershipService>());

        using var host = builder.Build();
        catalog.Register(host.Services.GetRequiredService<ILifetimeScope>(), configuration.Root);
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Cohort.Agent");
        LogStarted(logger, node.Name!, node.Id, incarnation, Environment.ProcessId, node.StateDirectory, catalog);
        if (admin.ReplacedStale)
        {
            LogReplacedStaleSocket(logger, admin.Path);
        }

        await host.RunAsync(cancellationToken);
    }

    /// <summary>How the agent logs: one line per message, with a local timestamp, all to standard error,
    /// filtered by the <c>Logging</c> section.</summary>
    internal static void ConfigureLogging(ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.AddConfiguration(configuration.GetSection("Logging"));
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.UseUtcTimestamp = false;
        });
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    }

    /// <summary>The configuration-system plugin the host uses.</summary>
    private const string CcsPluginName = "ccs";

    /// <summary>The lock-manager plugin the host uses.</summary>
    private const string DlmPluginName = "dlm";

    /// <summary>Reads what CCS holds in the state directory, without creating or locking anything; a
    /// damaged record stops the start with one line naming it.</summary>
    private static ConfigStoreContents ReadConfigStore(IConfigurationSystem ccs, string stateDirectory)
    {
        var directory = ConfigService.RecordDirectory(stateDirectory);
        try
        {
            return ccs.Load(CoreRuntime.ReadRecords(directory));
        }
        catch (InvalidDataException ex)
        {
            throw new CohortStartupException($"{directory}/{ex.Message}; the node refuses to use it. Move the ccs directory away to let this node start as new (with --bootstrap) or restore it from a backup.", ExitCodes.Config);
        }
    }

    /// <summary>The cluster key for a quorum device of a one-node cluster (which has no transport to read
    /// it for): <c>Node:KeyFile</c> when set, else none.</summary>
    private static byte[] DeviceKey(CohortConfiguration configuration) =>
        configuration.Cluster?.QuorumDevice is not null && configuration.Node.KeyFile is { } keyFile
            ? ClusterKeyFile.Read(keyFile, configuration.Node.AllowInsecureKeyFile, configuration.DescribeSource("Node:KeyFile"))
            : [];

    /// <summary>
    /// Makes the agent the leader of its own process group, so that fencing can kill exactly this
    /// incarnation (and the clients it registers) by group, and nothing else.
    /// </summary>
    private static void LeadOwnProcessGroup()
    {
        var pid = Libc.getpid();
        if (Libc.getpgrp() == pid)
        {
            return;
        }

        if (Libc.setpgid(0, 0) != 0)
        {
            throw new CohortStartupException($"cannot become a process group leader (setpgid): {Marshal.GetLastPInvokeErrorMessage()}", ExitCodes.OsError);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Name} (id {Id}) incarnation {Incarnation}, pid {Pid}, state {State}; plugins: {Plugins}")]
    private static partial void LogStarted(ILogger logger, string name, int id, long incarnation, int pid, string state, PluginCatalog plugins);

    [LoggerMessage(Level = LogLevel.Warning, Message = "replaced the stale admin socket {Path} left by an agent that is gone")]
    private static partial void LogReplacedStaleSocket(ILogger logger, string path);
}
