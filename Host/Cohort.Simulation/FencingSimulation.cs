using System.Globalization;
using Cohort.Fencing;
using Cohort.Membership;

namespace Cohort.Simulation;

/// <summary>
/// Runs the fencing orchestrator beside the membership core of every simulated node, under the fault plan, with
/// simulated fence devices that really crash the victim's node, and checks invariant 2 against ground truth: no
/// node opens the gate of an incarnation that is still alive (running or paused), and a clean leaver's gate opens
/// only once it drained.
/// </summary>
/// <remarks>
/// Every node has two levels: <c>flaky</c> (a device that often times out or fails) and then <c>power</c> (one
/// that mostly works). A device operation takes 5–300 ms of simulated time; when it succeeds, the victim
/// incarnation is crashed first (as <c>process-group</c> does: a node running a newer incarnation lost the victim
/// already) and only then does the fencer hear of it; a kill during a calm period restarts membership's
/// convergence bound (<see cref="FaultPlan.Disturbed"/>). A timeout
/// leaves the victim running, so a core that counts a timeout as success (<see cref="FencingMutant.GateOnTimeout"/>)
/// opens the gate of a live incarnation.
/// </remarks>
public static class FencingSimulation
{
    /// <summary>The invariant's name in reports.</summary>
    public const string Name = "fencing";

    /// <summary>The topology every simulated node has.</summary>
    public static FencingTopology Topology(IEnumerable<ClusterNode> nodes) =>
        new(FenceAction.Off, nodes.ToDictionary(n => n.Id, IReadOnlyList<IReadOnlyList<string>> (_) => [["flaky"], ["power"]]));

    /// <summary>The membership setup with a fencing core as every node's service.</summary>
    /// <param name="membership">The membership setup.</param>
    /// <param name="seed">The schedule's seed; each incarnation's random delays come from it and the incarnation.</param>
    /// <param name="mutant">The fencing core to run.</param>
    /// <param name="topology">The topology, or null for <see cref="Topology"/>.</param>
    public static ClusterSetup With(ClusterSetup membership, ulong seed, FencingMutant mutant = FencingMutant.None, FencingTopology? topology = null)
    {
        ArgumentNullException.ThrowIfNull(membership);
        topology ??= Topology(membership.Nodes);
        return membership with
        {
            Service = self => new FencingCore(topology, new SimRandom(seed ^ ((ulong)self.Node.Value << 32) ^ (ulong)self.Incarnation).NextDouble) { Mutant = mutant },
            ServiceView = null,
            MembershipToService = published => published switch
            {
                ViewInstalled installed => new FencingViewInstalled(installed.View, installed.LeftCleanly, installed.Departed),
                QuorumChanged changed => new FencingQuorum(changed.Quorate, changed.View),
                _ => null,
            },
        };
    }

    /// <summary>Runs one schedule.</summary>
    /// <param name="membership">The membership setup (without a service).</param>
    /// <param name="seed">The schedule's seed.</param>
    /// <param name="span">Simulated time to run.</param>
    /// <param name="mutant">The fencing core to run.</param>
    /// <param name="observer">Another observer to attach, or null.</param>
    /// <param name="topology">The topology (a cluster file's), or null for <see cref="Topology"/>.</param>
    public static (SimulatedCluster Cluster, FencingChecker Checker) RunOne(ClusterSetup membership, ulong seed, TimeSpan span, FencingMutant mutant = FencingMutant.None, ISimulationObserver? observer = null, FencingTopology? topology = null)
    {
        var cluster = new SimulatedCluster(With(membership, seed, mutant, topology), seed);
        var checker = new FencingChecker();
        cluster.Observe(checker);
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        if (observer is not null)
        {
            cluster.Observe(observer);
        }

        checker.Plan = FaultPlan.Install(cluster, faults: true);
        cluster.RunUntil(span);
        return (cluster, checker);
    }
}

/// <summary>The fence devices and the invariant-2 checker of <see cref="FencingSimulation"/>.</summary>
public sealed class FencingChecker : ISimulationObserver
{
    /// <summary>The fault plan, told when a device kills a live victim during a calm period.</summary>
    public FaultPlan? Plan { get; set; }

    /// <summary>Device operations started.</summary>
    public long Operations { get; private set; }

    /// <summary>Operations that crashed their victim's node.</summary>
    public long Kills { get; private set; }

    /// <summary>Operations that timed out, the victim left running.</summary>
    public long Timeouts { get; private set; }

    /// <summary>Gates opened on fenced incarnations, over all nodes.</summary>
    public long GatesOpened { get; private set; }

    /// <summary>Gates opened on clean leavers, over all nodes.</summary>
    public long CleanGates { get; private set; }

    /// <summary>How a device operation ends and how long it takes: by default <c>flaky</c> often times out or fails
    /// and every other device mostly works, in 5–300 ms.</summary>
    public Func<SimRandom, RunFenceDevice, (FenceResult Result, TimeSpan Duration)> Model { get; init; } = FlakyOrPower;

    /// <summary>Whether invariant 2 is checked (it is, except to show another checker catching a core alone).</summary>
    public bool CheckGates { get; init; } = true;

    /// <summary>Told the index of each node a device crashed.</summary>
    public event Action<int>? Killed;

    private static (FenceResult, TimeSpan) FlakyOrPower(SimRandom random, RunFenceDevice run)
    {
        var roll = random.NextDouble();
        var result = run.Device == "flaky"
            ? roll < 0.3 ? FenceResult.Success : roll < 0.7 ? FenceResult.Timeout : FenceResult.Failed
            : roll < 0.8 ? FenceResult.Success : roll < 0.9 ? FenceResult.Timeout : FenceResult.Unknown;
        return (result, TimeSpan.FromMilliseconds(5 + random.Next(295)));
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
    }

    /// <inheritdoc />
    public void Published(SimulatedCluster cluster, SimNode node, object published)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(node);
        switch (published)
        {
            case RunFenceDevice run:
                Device(cluster, node, run);
                break;
            case FenceGateOpenedEvent opened when CheckGates:
                Check(cluster, node, opened);
                break;
        }
    }

    /// <summary>Carries out one device operation: after its duration, crash the victim's node (success), leave it
    /// running (timeout, failure), then tell the fencer — if it is still the incarnation that asked.</summary>
    private void Device(SimulatedCluster cluster, SimNode fencer, RunFenceDevice run)
    {
        Operations++;
        var (result, delay) = Model(cluster.Random, run);
        var fencerIndex = cluster.IndexOf(fencer.Id);
        var asked = fencer.Incarnation;
        cluster.At(cluster.Now + delay, () =>
        {
            var victim = cluster.IndexOf(run.Victim.Node);
            if (result == FenceResult.Success && cluster.Nodes[victim] is { State: not SimNodeState.Down } target && target.Incarnation == run.Victim.Incarnation)
            {
                // As process-group does: the victim incarnation dies; a node that runs a newer one lost it already.
                Kills++;
                cluster.Crash(victim);
                Plan?.Disturbed();
                Killed?.Invoke(victim);
            }
            else if (result == FenceResult.Timeout)
            {
                Timeouts++;
            }

            if (cluster.Nodes[fencerIndex].Incarnation == asked)
            {
                cluster.RequestService(fencerIndex, new FenceDeviceCompleted(run.Operation, result, $"simulated {run.Device}", 0));
            }
        });
    }

    /// <summary>Invariant 2 against ground truth: the incarnation whose gate opened is dead (or drained).</summary>
    private void Check(SimulatedCluster cluster, SimNode node, FenceGateOpenedEvent opened)
    {
        var victim = cluster.Nodes[cluster.IndexOf(opened.Incarnation.Node)];
        var alive = victim.State != SimNodeState.Down && victim.Incarnation == opened.Incarnation.Incarnation;
        if (opened.LeftCleanly)
        {
            CleanGates++;
            if (alive && victim.Core?.Phase is not (MembershipPhase.Drained or MembershipPhase.Left))
            {
                cluster.Fail(FencingSimulation.Name, string.Create(CultureInfo.InvariantCulture,
                    $"node {node.Self} opened the gate of {opened.Incarnation} as a clean leaver while it runs in phase {victim.Core?.Phase}"));
            }

            return;
        }

        GatesOpened++;
        if (alive)
        {
            cluster.Fail(FencingSimulation.Name, string.Create(CultureInfo.InvariantCulture,
                $"node {node.Self} opened the gate of {opened.Incarnation} (fenced through {opened.Device}) while it is {victim.State}: what it holds would be recovered while it is alive"));
        }
    }
}
