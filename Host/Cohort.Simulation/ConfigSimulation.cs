using System.Globalization;
using System.Text;
using Cohort.ClusterConfiguration;
using Cohort.Membership;

namespace Cohort.Simulation;

/// <summary>
/// Runs a configuration system (CCS) beside the membership core of every simulated node, under the
/// fault plan, with proposers on random nodes, and checks invariant 4 against ground truth: every
/// committed version of every node, and every outcome a proposer was told.
/// </summary>
/// <remarks>
/// Documents are small text documents, <c>votes=1:1,2:1,3:0;n=7</c>: the votes decide each version's
/// majority and the membership rules of the views under it, and changes move votes between nodes and
/// drop and add nodes, so reconfigurations are exercised too: the split-brain checker watching beside
/// this one sees quorum judged under every version. Version 1 lists every node with one vote. A document
/// <c>invalid</c> is refused by the inspector.
/// </remarks>
public static class ConfigSimulation
{
    /// <summary>The invariant's name in reports.</summary>
    public const string Name = "ccs";

    private static readonly string[] VoteSets = ["1:1,2:1,3:1", "1:1,2:1,3:1,4:1,5:1", "2:1,3:1,4:1", "1:1,2:1,3:1,4:1", "1:2,2:1,3:1,4:1,5:1", "1:1,2:1", "1:2,2:1,3:1", "2:1,3:1"];

    /// <summary>Runs one schedule: the cluster of <paramref name="membership"/> (at least 3 nodes, ids
    /// from 1), each node seeded with version 1.</summary>
    /// <param name="membership">The membership setup.</param>
    /// <param name="system">The configuration system under test.</param>
    /// <param name="seed">The schedule's seed.</param>
    /// <param name="span">Simulated time to run.</param>
    /// <param name="observer">Another observer to attach (a recorder), or null.</param>
    /// <param name="nemesis">How hard to hit commits; default <see cref="ConfigNemesis.Default"/>.</param>
    public static (SimulatedCluster Cluster, ConfigChecker Checker) RunOne(ClusterSetup membership, IConfigurationSystem system, ulong seed, TimeSpan span, ISimulationObserver? observer = null, ConfigNemesis? nemesis = null)
    {
        ArgumentNullException.ThrowIfNull(membership);
        ArgumentNullException.ThrowIfNull(system);
        var setup = new ConfigCoreSetup(Inspect, TimeSpan.FromSeconds(10), HistoryLength: 8);
        MembershipRules RulesOf(ConfigVersion version)
        {
            var nodes = Inspect(version.Document).Nodes;
            return new MembershipRules(version.Version, nodes, membership.Cluster, membership.Policy(), membership.Membership, membership.Device, MembershipRules.Describe(nodes, membership.Cluster, membership.Device));
        }

        var cluster = new SimulatedCluster(membership with
        {
            Service = _ => system.CreateCore(setup),
            ServiceView = view => new ConfigViewInstalled(view),
            // As the host: membership judges views by the committed version, stops acting under an older
            // one before this node acknowledges a newer one, and has the configuration system fetch what
            // a peer holds that this node does not.
            StartRules = records => system.Load(records).Committed is { } held ? RulesOf(held) : null,
            ServiceToMembership = published => published switch
            {
                ConfigAccepting accepting => new ConfigurationPending(accepting.Version, MembershipRules.Describe(Inspect(accepting.Document).Nodes, membership.Cluster, membership.Device)),
                ConfigCommitted committed => new AdoptConfiguration(RulesOf(committed.Version)),
                _ => null,
            },
            MembershipToService = published => published is ConfigurationAhead ahead ? new ConfigCatchUp(ahead.Peer, ahead.Version) : null,
        }, seed);
        var first = Document(string.Join(",", membership.Nodes.Select(n => $"{n.Id.Value}:1")), 1);
        var genesis = new ConfigVersion(1, first, Sha(first), default, default, 0, DateTimeOffset.UnixEpoch);
        foreach (var node in cluster.Nodes)
        {
            foreach (var record in system.Seed(genesis))
            {
                node.Disk.Persist(record.Name, record.Contents.Span);
            }
        }

        var checker = new ConfigChecker(cluster, nemesis ?? ConfigNemesis.Default, [.. VoteSets.Where(set => set.Split(',').All(pair => int.Parse(pair.Split(':')[0], CultureInfo.InvariantCulture) <= cluster.Nodes.Count))]);
        checker.Committed(genesis);
        cluster.Observe(checker);
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        if (observer is not null)
        {
            cluster.Observe(observer);
        }

        if (checker.Nemesis.Chaos)
        {
            var plan = FaultPlan.Install(cluster, faults: true, extraCalm: TimeSpan.FromSeconds(3), configChanges: true);
            plan.Calmed += checker.OnCalm;
            plan.CalmEnding += checker.OnCalmEnding;
        }

        checker.Propose();
        cluster.RunUntil(span);
        return (cluster, checker);
    }

    /// <summary>The simulation's document inspector.</summary>
    public static ConfigDocumentCheck Inspect(ReadOnlyMemory<byte> document)
    {
        var text = Encoding.UTF8.GetString(document.Span);
        var nodes = new List<ClusterNode>();
        var votes = text.Split(';')[0];
        if (!votes.StartsWith("votes=", StringComparison.Ordinal))
        {
            return new ConfigDocumentCheck([], ["$: expected votes=ID:VOTES,..."]);
        }

        foreach (var pair in votes["votes=".Length..].Split(','))
        {
            var parts = pair.Split(':');
            nodes.Add(new ClusterNode(new NodeId(int.Parse(parts[0], CultureInfo.InvariantCulture)), "n" + parts[0], int.Parse(parts[1], CultureInfo.InvariantCulture)));
        }

        return new ConfigDocumentCheck(nodes, []);
    }

    internal static byte[] Document(string votes, long n) => Encoding.UTF8.GetBytes($"votes={votes};n={n}");

    internal static string Sha(ReadOnlySpan<byte> document) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(document));

}

/// <summary>How often the CCS workload crashes nodes around a commit, each a probability.</summary>
/// <param name="CrashDuringCommit">Per proposal during chaos: crash nodes in the middle of their next CCS step.</param>
/// <param name="PowerFailure">Of those: every node at once instead.</param>
/// <param name="EveryAcceptor">Otherwise: every node but the leader (else one to three random nodes).</param>
/// <param name="LeaderAfterCommit">And: the leader right after its next commit, before it told anyone.</param>
/// <param name="Chaos">Whether the fault plan runs too (crashes, partitions, pauses, loss, in chaos periods
/// with calm periods between, at whose end convergence is checked); without it, these crashes are the only
/// faults, and they never stop.</param>
public sealed record ConfigNemesis(double CrashDuringCommit, double PowerFailure, double EveryAcceptor, double LeaderAfterCommit, bool Chaos = true)
{
    /// <summary>The mix the invariant suite runs.</summary>
    public static ConfigNemesis Default { get; } = new(0.5, 0.3, 0.5, 0.5);

    /// <summary>Commit after commit lost by every acceptor, the leader dying just after, and nothing else
    /// going on: what it takes for an acknowledgement that was not durable to matter.</summary>
    public static ConfigNemesis LostAcknowledgements { get; } = new(1.0, 0.05, 0.9, 0.9, Chaos: false);
}

/// <summary>The CCS checker and workload of <see cref="ConfigSimulation"/>.</summary>
public sealed class ConfigChecker : ISimulationObserver
{
    private readonly SimulatedCluster _cluster;
    private readonly SortedDictionary<long, string> _truth = [];
    private readonly Dictionary<NodeIncarnation, long> _lastCommitted = [];
    private readonly Dictionary<(NodeIncarnation Node, long Token), TimeSpan> _open = [];
    private long _acknowledged = 1;
    private long _nextToken;
    private long _documents = 1;
    private (NodeIncarnation Node, long Token)? _probe;
    private long _durableAtCalm;
    private bool _calm;
    private (NodeIncarnation Node, TimeSpan Until)? _crashOnCommit;
    private HashSet<NodeId> _listed = [];

    private readonly IReadOnlyList<string> _voteSets;
    private readonly ConfigNemesis _nemesis;

    /// <summary>The crash mix.</summary>
    internal ConfigNemesis Nemesis => _nemesis;

    internal ConfigChecker(SimulatedCluster cluster, ConfigNemesis nemesis, IReadOnlyList<string> voteSets)
    {
        _cluster = cluster;
        _nemesis = nemesis;
        _voteSets = voteSets;
    }

    /// <summary>Proposals made.</summary>
    public long Proposals { get; private set; }

    /// <summary>Crashes around a commit the workload caused.</summary>
    public long Nemeses { get; private set; }

    /// <summary>Proposals answered committed.</summary>
    public long Commits { get; private set; }

    /// <summary>Proposals answered conflict.</summary>
    public long Conflicts { get; private set; }

    /// <summary>Proposals answered outcome-unknown.</summary>
    public long Unknown { get; private set; }

    /// <summary>The highest version committed anywhere.</summary>
    public long HighestVersion => _truth.Count == 0 ? 0 : _truth.Keys.Max();

    internal void Committed(ConfigVersion version)
    {
        _truth[version.Version] = version.Sha256;
        _listed = [.. ConfigSimulation.Inspect(version.Document).Nodes.Select(n => n.Id)];
    }

    /// <summary>Proposes on a random running node (outside calm periods), then again a little later.</summary>
    internal void Propose()
    {
        var random = _cluster.Random;
        _cluster.At(_cluster.Now + random.Between(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(400)), () =>
        {
            // In calm, only the probe proposes: every change of the quorum rules holds quorum back for a
            // promise period, and a cluster reconfigured without pause would never be seen converged.
            if (!_calm)
            {
                var proposer = random.Next(_cluster.Nodes.Count);
                ProposeOn(proposer);
                if (random.Chance(_nemesis.CrashDuringCommit))
                {
                    CrashDuringCommit(proposer);
                }
            }

            Propose();
        });
    }

    private (NodeIncarnation, long)? ProposeOn(int index)
    {
        var random = _cluster.Random;
        var node = _cluster.Nodes[index];
        if (node.State == SimNodeState.Down || node.Service is not IConfigurationCore core)
        {
            return null;
        }

        var document = random.Chance(0.03) ? Encoding.UTF8.GetBytes("invalid") : ConfigSimulation.Document(_voteSets[random.Next(_voteSets.Count)], ++_documents);
        var token = ++_nextToken;
        long? expected = random.Chance(0.6) ? core.Status.Committed : null;
        _open[(node.Self, token)] = _cluster.Now;
        Proposals++;
        _cluster.RequestService(index, new ConfigApply(token, document, expected, DateTimeOffset.UnixEpoch + _cluster.Now));
        return (node.Self, token);
    }

    /// <summary>Crashes one to three random nodes, or every node but the leader, in the middle of one of
    /// their next CCS steps — a prepare, an accept, a commit or a catch-up — and often the leader outright
    /// a little later, before it told anyone; all restart a little later, the leader last. Or a power
    /// failure. A crash in every phase of a commit, of several acceptors at once.</summary>
    private void CrashDuringCommit(int proposer)
    {
        var random = _cluster.Random;
        var count = _cluster.Nodes.Count;
        Nemeses++;
        if (random.Chance(_nemesis.PowerFailure))
        {
            PowerFailure();
            return;
        }

        var leaderId = _cluster.Nodes[proposer].Service is IConfigurationCore { Status.Leader: { } known } ? known : (NodeId?)null;
        var victims = random.Chance(_nemesis.EveryAcceptor) && leaderId is { } l
            ? [.. Enumerable.Range(0, count).Where(i => _cluster.Nodes[i].Id != l)] // every acceptor but the leader
            : Enumerable.Range(0, count).OrderBy(_ => random.NextUInt64()).Take(1 + random.Next(3)).ToList();
        var at = random.Chance(0.7) ? _cluster.Now : _cluster.Now + random.Between(TimeSpan.Zero, TimeSpan.FromMilliseconds(3));
        foreach (var victim in victims)
        {
            _cluster.At(at, () =>
            {
                if (!_calm)
                {
                    _cluster.Crash(victim, midStep: true, serviceStep: true);
                }
            });
        }

        foreach (var victim in victims)
        {
            _cluster.At(at + random.Between(TimeSpan.FromMilliseconds(30), TimeSpan.FromMilliseconds(600)), () => _cluster.Restart(victim));
        }

        if (random.Chance(_nemesis.LeaderAfterCommit) && leaderId is { } id)
        {
            // The leader dies right after its next commit (if that comes soon), before it told anyone.
            var leader = _cluster.Nodes[_cluster.IndexOf(id)];
            _crashOnCommit = (leader.Self, _cluster.Now + TimeSpan.FromMilliseconds(200));
        }
    }

    /// <summary>Every node crashes at the same instant, within about a round trip of a proposal, and
    /// they restart one by one: whatever was acknowledged but not yet fsynced is gone everywhere.</summary>
    private void PowerFailure()
    {
        var random = _cluster.Random;
        var at = _cluster.Now + random.Between(TimeSpan.Zero, TimeSpan.FromMilliseconds(1.5));
        _cluster.At(at, () =>
        {
            if (_calm)
            {
                return;
            }

            for (var i = 0; i < _cluster.Nodes.Count; i++)
            {
                var node = i;
                _cluster.Crash(node);
                _cluster.At(_cluster.Now + random.Between(TimeSpan.FromMilliseconds(30), TimeSpan.FromMilliseconds(1000)), () => _cluster.Restart(node));
            }
        });
    }

    /// <summary>Calm began: membership converges by <paramref name="converged"/>; then a proposal must
    /// get its outcome, and every node must catch up with what was durable at calm's start.</summary>
    internal void OnCalm(TimeSpan converged)
    {
        _calm = true;
        _durableAtCalm = _acknowledged;
        _cluster.At(converged, () =>
        {
            // A node the newest version dropped is out of every view: nothing promises it an answer in time.
            var listed = Enumerable.Range(0, _cluster.Nodes.Count).Where(i => _listed.Contains(_cluster.Nodes[i].Id)).ToList();
            _probe = ProposeOn(listed[_cluster.Random.Next(listed.Count)]);
        });
    }

    internal void OnCalmEnding()
    {
        _calm = false;
        if (_probe is { } probe && _open.ContainsKey(probe) && _cluster.Nodes.Any(n => n.Self == probe.Node && n.State == SimNodeState.Up))
        {
            _cluster.Fail(ConfigSimulation.Name, $"a proposal on {probe.Node} made once the cluster was calm got no outcome before calm ended");
            return;
        }

        _probe = null;
        foreach (var node in _cluster.Nodes)
        {
            // A node the newest version dropped may not hear of it: peers that restarted since know it no more.
            if (node.State == SimNodeState.Up && _listed.Contains(node.Id) && node.Service is IConfigurationCore core && core.Status.Committed < _durableAtCalm)
            {
                _cluster.Fail(ConfigSimulation.Name, $"{node.Self} holds version {core.Status.Committed} after a calm period, but version {_durableAtCalm} was acknowledged committed before it");
                return;
            }
        }
    }

    /// <inheritdoc />
    public void Published(SimulatedCluster cluster, SimNode node, object published)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(node);
        if (published is ConfigCommitted && _crashOnCommit is { } target && target.Node == node.Self)
        {
            _crashOnCommit = null;
            if (cluster.Now <= target.Until && !_calm)
            {
                var index = cluster.IndexOf(node.Id);
                cluster.At(cluster.Now, () => cluster.Crash(index));
                cluster.At(cluster.Now + cluster.Random.Between(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(2000)), () => cluster.Restart(index));
            }
        }

        switch (published)
        {
            case ConfigCommitted { Version: var version }:
                if (_truth.TryGetValue(version.Version, out var sha) && sha != version.Sha256)
                {
                    cluster.Fail(ConfigSimulation.Name, $"{node.Self} committed version {version.Version} as {version.Sha256[..12]}, but {sha[..12]} committed under that number before: two documents under one version");
                    return;
                }

                _truth[version.Version] = version.Sha256;
                if (version.Version == HighestVersion)
                {
                    _listed = [.. ConfigSimulation.Inspect(version.Document).Nodes.Select(n => n.Id)];
                }

                if (_lastCommitted.TryGetValue(node.Self, out var last) && version.Version <= last)
                {
                    cluster.Fail(ConfigSimulation.Name, $"{node.Self} committed version {version.Version} after version {last}: versions must only grow");
                    return;
                }

                _lastCommitted[node.Self] = version.Version;
                break;
            case ConfigApplyCompleted completed:
                if (!_open.Remove((node.Self, completed.Token)))
                {
                    cluster.Fail(ConfigSimulation.Name, $"{node.Self} answered request {completed.Token} twice, or a request it never got");
                    return;
                }

                switch (completed.Outcome)
                {
                    case ConfigApplyOutcome.Committed:
                        Commits++;
                        if (!_truth.ContainsKey(completed.Version))
                        {
                            cluster.Fail(ConfigSimulation.Name, $"{node.Self} was told version {completed.Version} committed, which no node committed");
                            return;
                        }

                        _acknowledged = Math.Max(_acknowledged, completed.Version);
                        break;
                    case ConfigApplyOutcome.Conflict:
                        Conflicts++;
                        break;
                    case ConfigApplyOutcome.OutcomeUnknown:
                        Unknown++;
                        break;
                }

                break;
            case ConfigDiverged diverged:
                cluster.Fail(ConfigSimulation.Name, $"{node.Self} and node {diverged.Peer} hold different documents under version {diverged.Version}");
                break;
        }
    }

    /// <inheritdoc />
    public void AfterStep(SimulatedCluster cluster, SimNode node)
    {
    }

    /// <inheritdoc />
    public void Executed(SimulatedCluster cluster, SimNode node, Cores.CoreOutput output)
    {
    }

    /// <inheritdoc />
    public void NodeStopped(SimulatedCluster cluster, SimNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        foreach (var key in _open.Keys.Where(k => k.Node == node.Self).ToList())
        {
            _open.Remove(key); // its requests die with it
        }
    }
}
