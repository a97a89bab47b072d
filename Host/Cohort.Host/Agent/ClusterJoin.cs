using System.Runtime.InteropServices;
using System.Text.Json;
using Cohort.ClusterConfiguration;
using Cohort.Host.Admin;
using Cohort.Cores;
using Cohort.Host.Configuration;
using Cohort.Host.Plugins;
using Cohort.Host.Runtime;
using Cohort.Host.State;
using Cohort.Membership;
using Cohort.Plugins;
using Cohort.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// How a node that holds no cluster document, and has no bootstrap file, joins a running cluster. With
/// node-local configuration alone (<c>Node:Listen</c>, <c>Node:KeyFile</c>, <c>Node:Seeds</c>, the
/// transport's built-in defaults) it reaches the nodes its seeds lead to, fetches their committed
/// document through CCS (fsynced into <c>&lt;state&gt;/ccs</c> with the cluster's genesis hash), and
/// returns once it holds a version that lists this node.
/// </summary>
/// <remarks>
/// Membership does not run meanwhile: the node has no vote and joins no view until it caught up. Its
/// admin socket answers <c>status</c> (phase <c>joining</c>, what it waits for), <c>plugins</c> and
/// <c>leave</c> (stop joining). The agent then starts as any node holding a document does, as a new
/// incarnation; the cluster's nodes admit it because the version that lists it gave their transports
/// its id.
/// </remarks>
internal static partial class ClusterJoin
{
    /// <summary>How often the node asks each peer it reached for newer versions.</summary>
    private static readonly TimeSpan AskEvery = TimeSpan.FromSeconds(1);

    /// <summary>How often it says, while it waits, what it waits for.</summary>
    private static readonly TimeSpan ReportEvery = TimeSpan.FromSeconds(10);

    /// <summary>Whether a node starts by joining: it holds no document, has no bootstrap file, and has seeds.</summary>
    public static bool Applies(NodeOptions node, string? bootstrapOverride, ConfigStoreContents stored) =>
        stored.Committed is null && bootstrapOverride is null && node.Bootstrap is null && node.Seeds.Count > 0;

    /// <summary>Joins; returns true once a committed version that lists this node is durable here, false
    /// when the agent was stopped first (SIGTERM, SIGINT or <paramref name="cancellationToken"/>).</summary>
    /// <exception cref="CohortStartupException">Node-local configuration cannot reach a cluster (no listen
    /// address or key), or the transport cannot start.</exception>
    public static async Task<bool> RunAsync(CohortConfiguration local, PluginCatalog catalog, IConfigurationSystem ccs, CancellationToken cancellationToken)
    {
        var node = local.Node;
        var peers = PeerSetup.Joining(local);
        var transportPlugin = catalog.Select(PluginSlot.Transport, node.Transport, local.DescribeSource("Node:Transport"));
        using var loggers = LoggerFactory.Create(logging => AgentRunner.ConfigureLogging(logging, local.Root));
        var logger = loggers.CreateLogger("Cohort.Join");
        var transport = PluginCatalog.CreateEarly<ITransport>(transportPlugin, local.Root, services => services
            .AddSingleton(loggers)
            .AddSingleton(TimeProvider.System));

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }

        using var directory = StateDirectory.Open(node.StateDirectory);
        var incarnation = directory.BumpIncarnation();
        directory.WritePidFile(AgentProcessInfo.Current(incarnation));
        var self = new NodeIncarnation(new NodeId(node.Id), incarnation);
        LogJoining(logger, node.Id, incarnation, node.Seeds);

        var joined = new TaskCompletionSource<ConfigVersion>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiting = "no node reached yet";
        var core = ccs.CreateCore(new ConfigCoreSetup(ClusterDocumentCheck.Inspector(catalog), ConfigService.ApplyTimeout, ConfigService.HistoryLength));
        var service = new TransportService(transport, peers.StartInfo(self), transportPlugin.Manifest.Name, loggers.CreateLogger<TransportService>());
        var runtime = new CoreRuntime("ccs", core, ConfigService.RecordDirectory(node.StateDirectory), TimeProvider.System, service.Send,
            e => OnEvent(e, self.Node, joined, reason => waiting = reason, logger), () => { }, logger);
        var selected = new HashSet<LoadedPlugin> { transportPlugin };
        StatusReport Status() => new(
            node.Name ?? $"node{node.Id}", node.Id, incarnation, Environment.ProcessId, null, null, null, false, "joining",
            new QuorumReport(null, 0, 0, $"joining through Node:Seeds: {waiting}; no vote until this node holds a cluster document that lists it", false),
            node.StateDirectory, [.. AdminVerbs.PluginReports(catalog, selected)],
            AdminVerbs.TransportReportOf(service, node.FaultInjection, id => $"node{id}"));
        var admin = new AdminServer(AdminSocketListener.Bind(node.EffectiveAdminSocket), new Dictionary<string, Func<AdminRequest, Task<JsonElement>>>(StringComparer.Ordinal)
        {
            ["status"] = _ => Task.FromResult(JsonSerializer.SerializeToElement(Status(), HostJsonContext.Default.StatusReport)),
            ["plugins"] = _ => Task.FromResult(JsonSerializer.SerializeToElement([.. AdminVerbs.PluginReports(catalog, selected)], HostJsonContext.Default.PluginReportArray)),
            ["leave"] = _ => Task.FromResult(JsonSerializer.SerializeToElement(Status(), HostJsonContext.Default.StatusReport)),
        }, loggers.CreateLogger<AdminServer>(), answered: verb =>
        {
            if (verb == "leave")
            {
                stop.Cancel(); // a joining node holds nothing to drain: it stops once the client has its answer
            }
        });
        try
        {
            service.Route(ConfigFrames.Tag, runtime.Post);
            runtime.Start(self);
            await service.StartAsync(_ => { }, stop.Token).ConfigureAwait(false);
            await admin.StartAsync(stop.Token).ConfigureAwait(false);
            var reported = TimeSpan.Zero;
            var started = TimeProvider.System.GetTimestamp();
            while (!joined.Task.IsCompleted && !stop.IsCancellationRequested && !runtime.Completion.IsCompleted)
            {
                var reached = service.OpenPeers;
                foreach (var peer in reached)
                {
                    runtime.Post(new LocalRequest(new ConfigCatchUp(peer, long.MaxValue)));
                }

                if (reached.Count > 0 && waiting.StartsWith("no node", StringComparison.Ordinal))
                {
                    waiting = $"asking {string.Join(", ", reached.Select(n => $"node{n}"))} for the committed document";
                }

                var waited = TimeProvider.System.GetElapsedTime(started);
                if (waited - reported >= ReportEvery)
                {
                    reported = waited;
                    LogWaiting(logger, waited.TotalSeconds, reached.Count == 0 ? "none" : string.Join(", ", reached));
                }

                await Task.WhenAny(joined.Task, Task.Delay(AskEvery, stop.Token)).ConfigureAwait(false);
            }
        }
        finally
        {
            await admin.StopAsync(CancellationToken.None).ConfigureAwait(false);
            admin.Dispose();
            await runtime.DisposeAsync().ConfigureAwait(false);
            await service.DisposeAsync().ConfigureAwait(false);
        }

        if (!joined.Task.IsCompletedSuccessfully)
        {
            if (runtime.Completion.IsFaulted)
            {
                throw new CohortStartupException($"joining failed: the configuration core stopped: {runtime.Completion.Exception!.GetBaseException().Message}");
            }

            return false;
        }

        var version = joined.Task.Result;
        LogJoined(logger, version.Version, version.Sha256);
        return true;
    }

    private static void OnEvent(object e, NodeId self, TaskCompletionSource<ConfigVersion> joined, Action<string> waiting, ILogger logger)
    {
        if (e is not ConfigCommitted { Version: var version })
        {
            return;
        }

        try
        {
            var (cluster, _) = ClusterDocument.Read($"cluster document version {version.Version}", version.Document);
            if (cluster.Find(self) is not null)
            {
                joined.TrySetResult(version);
                return;
            }

            waiting(FormattableString.Invariant($"the cluster's document version {version.Version} does not list node {self}; waiting for a version that does"));
            LogNotListed(logger, version.Version, self.Value, string.Join(", ", cluster.Nodes.Select(n => n.Id)));
        }
        catch (CohortStartupException ex)
        {
            LogUnreadable(logger, version.Version, ex.Problems);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "node {Id} incarnation {Incarnation} holds no cluster document and has no bootstrap file: joining through its seeds ({Seeds}); it has no vote until it holds a version that lists it")]
    private static partial void LogJoining(ILogger logger, int id, long incarnation, IReadOnlyList<string> seeds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "joining for {Seconds:F0} s; nodes reached: {Reached} (a seed that does not answer, a different cluster key, or a cluster whose document does not list this node yet keeps a node waiting)")]
    private static partial void LogWaiting(ILogger logger, double seconds, string reached);

    [LoggerMessage(Level = LogLevel.Warning, Message = "the cluster's document version {Version} does not list node {Id} (it lists {Listed}): waiting for a version that does; apply one that adds this node, with its Address")]
    private static partial void LogNotListed(ILogger logger, long version, int id, string listed);

    [LoggerMessage(Level = LogLevel.Error, Message = "the cluster's document version {Version} cannot be read here ({Problems}): waiting for a newer one")]
    private static partial void LogUnreadable(ILogger logger, long version, IReadOnlyList<string> problems);

    [LoggerMessage(Level = LogLevel.Information, Message = "joined: holds cluster document version {Version} (sha256 {Sha256}), which lists this node; starting as a member")]
    private static partial void LogJoined(ILogger logger, long version, string sha256);
}
