using Cohort.Host.State;
using Cohort.Membership;
using Cohort.Quorum;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// Installs this node's view and asks the quorum policy about it, again whenever the policy asks for
/// a re-evaluation. Until the membership core joins peers, a node's view holds itself alone: the
/// policy then decides whether that one node may act (with more than one node configured, a
/// majority policy says no).
/// </summary>
internal sealed partial class QuorumService : BackgroundService
{
    private readonly AgentState _state;
    private readonly IQuorumPolicy? _policy;
    private readonly StateDirectory _directory;
    private readonly TimeProvider _time;
    private readonly ILogger<QuorumService> _logger;
    private readonly long _origin;
    private ReadOnlyMemory<byte> _policyState;

    public QuorumService(AgentState state, IQuorumPolicy? policy, StateDirectory directory, TimeProvider time, ILogger<QuorumService> logger)
    {
        _state = state;
        _policy = policy;
        _directory = directory;
        _time = time;
        _logger = logger;
        _origin = time.GetTimestamp();
    }

    /// <summary>Installs the node's view (persisted first) and publishes the first decision.</summary>
    public void InstallInitialView()
    {
        var view = new View(new ViewId(_directory.ReadLastViewSeq() + 1, _state.Self.Node), [_state.Self]);
        _directory.WriteView(view);
        LogViewInstalled(_logger, view);
        _policyState = _directory.ReadPolicyState(PolicyName);
        Decide(view);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var snapshot = _state.Current;
            if (snapshot.Decision?.ReevaluateAt is not { } at)
            {
                return;
            }

            var delay = at - Now;
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, _time, stoppingToken);
            }

            Decide(snapshot.View!);
        }
    }

    private string PolicyName => _state.Configuration.Cluster?.QuorumPolicy ?? "none";

    private TimeSpan Now => _time.GetElapsedTime(_origin);

    private void Decide(View view)
    {
        var cluster = _state.Configuration.Cluster;
        QuorumDecision decision;
        if (cluster is null || _policy is null)
        {
            decision = QuorumDecision.NotQuorate(0, 0, "no cluster document (Node:Bootstrap is not set): a node without one has no vote");
        }
        else
        {
            var context = new QuorumContext(
                _state.Self.Node,
                view,
                [.. cluster.Nodes.Select(n => n.ToClusterNode())],
                ClusterSnapshot(_state.Configuration.Root),
                Now,
                _policyState);
            try
            {
                decision = _policy.Decide(context);
            }
            catch (Exception ex)
            {
                LogPolicyFailed(_logger, ex, cluster.QuorumPolicy);
                decision = QuorumDecision.NotQuorate(0, 0, $"quorum policy {cluster.QuorumPolicy} failed: {ex.Message}");
            }

            if (!decision.State.Span.SequenceEqual(_policyState.Span))
            {
                _directory.WritePolicyState(PolicyName, decision.State.Span);
                _policyState = decision.State.ToArray();
            }
        }

        var previous = _state.Current.Decision;
        _state.Publish(view, decision);
        if (previous is null || previous.Verdict != decision.Verdict)
        {
            LogQuorum(_logger, decision.Verdict == QuorumVerdict.Quorate, decision.Reason, _time.GetTimestamp());
        }
    }

    /// <summary>An immutable copy of the <c>Cluster:*</c> keys, so the policy sees one document throughout.</summary>
    private static IConfiguration ClusterSnapshot(IConfiguration root) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(root.GetSection("Cluster").AsEnumerable().Where(kv => kv.Value is not null))
            .Build();

    [LoggerMessage(Level = LogLevel.Information, Message = "installed {View}")]
    private static partial void LogViewInstalled(ILogger logger, View view);

    [LoggerMessage(Level = LogLevel.Warning, Message = "quorate:{Quorate} ({Reason}) at monotonic {Timestamp}")]
    private static partial void LogQuorum(ILogger logger, bool quorate, string reason, long timestamp);

    [LoggerMessage(Level = LogLevel.Error, Message = "quorum policy {Policy} threw; counting the view as not quorate")]
    private static partial void LogPolicyFailed(ILogger logger, Exception exception, string policy);
}
