using System.Globalization;
using Cohort.Fencing;
using Cohort.Membership;

namespace Cohort.Simulation;

/// <summary>What a two-node fence-race schedule does.</summary>
public sealed record RaceOptions
{
    /// <summary>The shortest device operation.</summary>
    public TimeSpan OperationMin { get; init; } = TimeSpan.FromMilliseconds(20);

    /// <summary>The longest device operation: with the detection skew, what the static delays must outlast.</summary>
    public TimeSpan OperationMax { get; init; } = TimeSpan.FromMilliseconds(800);

    /// <summary>The chance a device operation times out (the victim left running); 0 for devices that always work,
    /// the only schedules whose outcome the delays decide.</summary>
    public double TimeoutChance { get; init; }

    /// <summary>Whether invariant 2 (no gate opens on a live incarnation) is checked too; off only to show that (a)
    /// catches a broken core on its own.</summary>
    public bool GateInvariant { get; init; } = true;

    /// <summary>The chance a split heals early, before the longest delay is over (and is not judged by (b)): the race
    /// then goes on between two nodes that can talk again.</summary>
    public double ShortSplitChance { get; init; } = 0.2;

    /// <summary>The chance a calm ends in a split right after the nodes (re)form a view of both, instead of at its end.</summary>
    public double SplitOnFormingChance { get; init; } = 0.3;

    /// <summary>How long the network stays whole between two splits (drawn uniformly).</summary>
    public (TimeSpan Min, TimeSpan Max) Calm { get; init; } = (TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));

    /// <summary>How long after a device killed it a node's next incarnation starts (drawn uniformly): during the
    /// split, so that a restarted loser meets the split still there.</summary>
    public (TimeSpan Min, TimeSpan Max) Restart { get; init; } = (TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2));
}

/// <summary>
/// Two-node fence races: both nodes of a two-node cluster (each quorate alone: <c>two_node</c>) are split from each
/// other again and again, each half fencing the other through the cluster file's devices and delays, with devices
/// that crash their victim after 20–800 ms; a killed node restarts while the split lasts, and the split heals. The
/// checker (<see cref="RaceChecker"/>) flags (a) both nodes acting as survivors at once, (b) no survivor of a split
/// whose detection skew plus longest fence operation is below the guaranteed delay gap, and (c) a fence loop: a node
/// fencing a member of its own view that its own incarnation never excluded (the restarted loser shooting the
/// survivor after a heal, on its predecessor's word).
/// </summary>
public static class RaceSimulation
{
    /// <summary>The invariant's name in reports.</summary>
    public const string Name = "fence-race";

    /// <summary>Runs one schedule.</summary>
    /// <param name="membership">The membership setup of a two-node cluster (without a service).</param>
    /// <param name="topology">The fencing topology (the cluster file's).</param>
    /// <param name="seed">The schedule's seed.</param>
    /// <param name="span">Simulated time to run.</param>
    /// <param name="mutant">The fencing core to run.</param>
    /// <param name="options">The schedule's shape, or null for the defaults.</param>
    /// <param name="observer">Another observer to attach (a trace, say), or null.</param>
    public static (SimulatedCluster Cluster, RaceChecker Checker) RunOne(ClusterSetup membership, FencingTopology topology, ulong seed, TimeSpan span, FencingMutant mutant = FencingMutant.None, RaceOptions? options = null, ISimulationObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(membership);
        ArgumentNullException.ThrowIfNull(topology);
        if (membership.Nodes.Count != 2)
        {
            throw new ArgumentException($"a fence race needs exactly two nodes, not {membership.Nodes.Count}", nameof(membership));
        }

        options ??= new RaceOptions();
        var cluster = new SimulatedCluster(FencingSimulation.With(membership, seed, mutant, topology), seed);
        var devices = new FencingChecker
        {
            CheckGates = options.GateInvariant,
            Model = (random, _) => (random.Chance(options.TimeoutChance) ? FenceResult.Timeout : FenceResult.Success, random.Between(options.OperationMin, options.OperationMax)),
        };
        var checker = new RaceChecker(topology, options, membership.Nodes, membership.Membership.FailureTimeout);
        devices.Killed += index =>
        {
            checker.Killed();
            cluster.At(cluster.Now + cluster.Random.Between(options.Restart.Min, options.Restart.Max), () => cluster.Restart(index));
        };
        cluster.Observe(devices);
        cluster.Observe(checker);
        cluster.Observe(new ViewChecker());
        if (observer is not null)
        {
            cluster.Observe(observer);
        }

        // The first split may come right after the nodes formed their view, before either made a promise to the other.
        checker.Schedule(cluster, cluster.Random.Between(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2) + options.Calm.Max));
        cluster.RunUntil(span);
        return (cluster, checker);
    }
}

/// <summary>The checker of <see cref="RaceSimulation"/>, and the plan that splits and heals the two nodes.</summary>
public sealed class RaceChecker : ISimulationObserver
{
    private readonly FencingTopology _topology;
    private readonly RaceOptions _options;
    private readonly NodeId[] _nodes;
    private readonly TimeSpan _split;
    private readonly TimeSpan _gap;
    private readonly TimeSpan _longest;
    private readonly TimeSpan?[] _detected = new TimeSpan?[2];
    private readonly NodeIncarnation[] _atSplit = new NodeIncarnation[2];
    private readonly Dictionary<NodeIncarnation, List<NodeIncarnation>> _departed = [];
    private readonly Dictionary<NodeIncarnation, HashSet<NodeIncarnation>> _excluded = [];
    private bool _splitting;
    private int _calms;
    private bool _splitOnForming;
    private int _killsThisSplit;

    internal RaceChecker(FencingTopology topology, RaceOptions options, IReadOnlyList<ClusterNode> nodes, TimeSpan failureTimeout)
    {
        _topology = topology;
        _options = options;
        _nodes = [.. nodes.Select(n => n.Id).Order()];
        var (lowest, highest) = (Range(_nodes[0]), Range(_nodes[1]));
        _gap = lowest.Min > highest.Max ? lowest.Min - highest.Max : highest.Min > lowest.Max ? highest.Min - lowest.Max : TimeSpan.Zero;

        // Long enough to detect, wait out the longest delay, fence, and meet the restarted loser.
        _longest = lowest.Max > highest.Max ? lowest.Max : highest.Max;
        _split = (failureTimeout * 4) + _longest + options.OperationMax + options.Restart.Max + TimeSpan.FromSeconds(3);
    }

    /// <summary>Splits run to their end (short ones, healed early, are not counted).</summary>
    public int Splits { get; private set; }

    /// <summary>Splits whose outcome the delays decide: skew plus longest operation below the delay gap, working devices.</summary>
    public int Decided { get; private set; }

    /// <summary>Splits in which both nodes were killed.</summary>
    public int DoubleFences { get; private set; }

    /// <summary>Splits that ended with exactly one survivor.</summary>
    public int Survived { get; private set; }

    /// <summary>The guaranteed delay gap: the shortest delay before fencing the protected node minus the longest
    /// before fencing the other (zero when the ranges overlap).</summary>
    public TimeSpan Gap => _gap;

    /// <summary>The largest detection skew seen in a split.</summary>
    public TimeSpan LargestSkew { get; private set; }

    /// <summary>The shortest and longest delay before a pass that fences <paramref name="node"/> starts.</summary>
    private (TimeSpan Min, TimeSpan Max) Range(NodeId node)
    {
        var levels = _topology.LevelsOf(node);
        var (min, max) = (TimeSpan.Zero, TimeSpan.Zero);
        if (levels.Count > 0 && _topology.Delays.TryGetValue(levels[0][0], out var delay))
        {
            min = delay.BaseFor(node);
            max = delay.Max > min ? delay.Max : min;
        }

        var other = _nodes.Single(n => n != node);
        if (_topology.PriorityDelay > TimeSpan.Zero && _topology.PriorityOf(node) > _topology.PriorityOf(other))
        {
            min += _topology.PriorityDelay; // neither half of two has a majority
            max += _topology.PriorityDelay;
        }

        return (min, max);
    }

    /// <summary>Splits the nodes at <paramref name="at"/>, heals them a split later, and goes on until the run ends.</summary>
    internal void Schedule(SimulatedCluster cluster, TimeSpan at)
    {
        var calm = ++_calms;
        _splitOnForming = cluster.Random.Chance(_options.SplitOnFormingChance);
        cluster.At(at, () => Split(cluster, calm));
    }

    /// <summary>Splits the nodes, unless the calm <paramref name="calm"/> already ended in a split.</summary>
    private void Split(SimulatedCluster cluster, int calm)
    {
        if (calm != _calms || _splitting)
        {
            return;
        }

        _splitting = true;
        _killsThisSplit = 0;
        Array.Clear(_detected);
        for (var i = 0; i < 2; i++)
        {
            _atSplit[i] = cluster.Nodes[i].Self;
        }

        cluster.SetBlocked(0, 1, true);
        cluster.SetBlocked(1, 0, true);

        var judged = !cluster.Random.Chance(_options.ShortSplitChance);
        cluster.At(cluster.Now + (judged ? _split : cluster.Random.Between(TimeSpan.FromMilliseconds(100), _longest + TimeSpan.FromMilliseconds(100))), () =>
        {
            if (judged)
            {
                Judge(cluster);
            }

            _splitting = false;
            cluster.HealNetwork();
            Schedule(cluster, cluster.Now + cluster.Random.Between(_options.Calm.Min, _options.Calm.Max));
        });
    }

    /// <summary>A device crashed a node.</summary>
    internal void Killed() => _killsThisSplit++;

    /// <summary>(b): at the end of a split the delays decide, someone survived.</summary>
    private void Judge(SimulatedCluster cluster)
    {
        Splits++;
        var survivors = Enumerable.Range(0, 2).Count(i => IsSurvivor(cluster, i));
        if (_killsThisSplit >= 2)
        {
            DoubleFences++;
        }

        if (survivors == 1)
        {
            Survived++;
        }

        if (_detected[0] is not { } first || _detected[1] is not { } second || _options.TimeoutChance > 0)
        {
            return; // one side never saw the split (it was down), or devices that fail decide nothing
        }

        var skew = (first - second).Duration();
        LargestSkew = skew > LargestSkew ? skew : LargestSkew;
        if (skew + _options.OperationMax >= _gap)
        {
            return;
        }

        Decided++;
        if (survivors == 0)
        {
            cluster.Fail(RaceSimulation.Name, string.Create(CultureInfo.InvariantCulture,
                $"(b) no survivor of the split at {cluster.Now.TotalMilliseconds:F3} ms although detection skew {skew.TotalMilliseconds:F1} ms + longest fence operation {_options.OperationMax.TotalMilliseconds:F0} ms is below the delay gap {_gap.TotalMilliseconds:F0} ms ({_killsThisSplit} kills)"));
        }
    }

    /// <summary>A survivor: up, quorate in a view without the other node, and the gate of the other's incarnation of
    /// the split open — it acts on the other being dead.</summary>
    private bool IsSurvivor(SimulatedCluster cluster, int index)
    {
        var node = cluster.Nodes[index];
        var other = _atSplit[1 - index];
        return node.State == SimNodeState.Up
            && node.Core is { Installed: { } view, QuorateUntil: { } until } && node.GlobalAt(until) > cluster.Now
            && !view.Contains(other.Node)
            && node.Service is FencingCore fencing && other.Incarnation > 0 && fencing.IsOpen(other);
    }

    /// <inheritdoc />
    public void AfterStep(SimulatedCluster cluster, SimNode node)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        if (_splitting && IsSurvivor(cluster, 0) && IsSurvivor(cluster, 1))
        {
            cluster.Fail(RaceSimulation.Name, $"(a) both {cluster.Nodes[0].Self} and {cluster.Nodes[1].Self} act as survivors: each is quorate and holds the other fenced");
        }
    }

    /// <inheritdoc />
    public void Executed(SimulatedCluster cluster, SimNode node, Cores.CoreOutput output)
    {
    }

    /// <inheritdoc />
    public void NodeStopped(SimulatedCluster cluster, SimNode node)
    {
    }

    /// <inheritdoc />
    public void Published(SimulatedCluster cluster, SimNode node, object published)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(node);
        var index = cluster.IndexOf(node.Id);
        if (published is ViewInstalled { Departed: var gone })
        {
            _departed[node.Self] = [.. gone];
        }

        switch (published)
        {
            case ViewInstalled { View.Members.Count: 2 } when !_splitting && _splitOnForming:
                // Within a heartbeat of forming: before either node promised anything to the other.
                _splitOnForming = false;
                var calm = _calms;
                cluster.At(cluster.Now + cluster.Random.Between(TimeSpan.Zero, TimeSpan.FromMilliseconds(60)), () => Split(cluster, calm));
                break;
            case ViewInstalled installed when _splitting && _detected[index] is null && node.Self == _atSplit[index]
                && !installed.View.Contains(_atSplit[1 - index].Node):
                _detected[index] = cluster.Now; // this half saw the split (judged by the view, not by what quorum it reports)
                break;
            case QuorumChanged { Quorate: true } when _departed.TryGetValue(node.Self, out var departed):
                // Quorate in a view the departed are not in: this incarnation excluded them itself.
                if (!_excluded.TryGetValue(node.Self, out var excluded))
                {
                    _excluded[node.Self] = excluded = [];
                }

                excluded.UnionWith(departed);
                break;
            case RunFenceDevice run when node.Core?.Installed is { } own && own.Members.Contains(run.Victim)
                && !(_excluded.TryGetValue(node.Self, out var mine) && mine.Contains(run.Victim)):
                // Fencing a member of its own view is the rule for an incarnation this node itself excluded (it
                // comes back after a heal); acting on what an earlier incarnation decided is the loop.
                cluster.Fail(RaceSimulation.Name, $"(c) fence loop: {node.Self} fences {run.Victim}, a member of its own {own} that this incarnation never excluded");
                break;
        }
    }
}
