using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>Scripted scenarios under the simulator, with every checker attached. Times are simulated,
/// so bounds on them are exact, not wall-clock guesses.</summary>
public class ScenarioTests
{
    private static readonly MembershipOptions Defaults = new();

    private static (SimulatedCluster Cluster, EventLog Events) Formed(int nodes, ulong seed = 1)
    {
        var cluster = new SimulatedCluster(Clusters.VoteQuorum(nodes), seed);
        var events = new EventLog();
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        cluster.Observe(events);
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        AssertOneQuorateView(cluster, cluster.Nodes.Select(n => n.Self));
        return (cluster, events);
    }

    private static void AssertOneQuorateView(SimulatedCluster cluster, IEnumerable<NodeIncarnation> expected)
    {
        var members = expected.Order().ToList();
        Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
        foreach (var node in cluster.Nodes.Where(n => members.Contains(n.Self)))
        {
            Assert.That(node.Core!.Installed?.Members, Is.EqualTo(members), $"{node.Self}'s view");
            Assert.That(node.Core.IsQuorate(node.LocalAt(cluster.Now)), Is.True, $"{node.Self} quorate");
        }
    }

    private static TimeSpan RunUntilConverged(SimulatedCluster cluster, IReadOnlyList<int> nodes, TimeSpan deadline) =>
        Convergence.RunUntil(cluster, nodes, deadline, TimeSpan.FromMilliseconds(1));

    [Test]
    public void NodesFormOneQuorateViewAndIdsAreExplicit()
    {
        var (cluster, _) = Formed(3);
        var view = cluster.Nodes[0].Core!.Installed!;
        Assert.That(view.Id.Coordinator, Is.EqualTo(new NodeId(1)), "the lowest node id coordinates");
        Assert.That(view.Members.Select(m => m.Incarnation), Is.All.EqualTo(1));
    }

    [Test]
    public void CrashIsDetectedAndTheSurvivorsReformWithinDetectionPlusLease()
    {
        var (cluster, events) = Formed(3);
        var crashAt = cluster.Now;
        cluster.Crash(2);
        var converged = RunUntilConverged(cluster, [0, 1], crashAt + TimeSpan.FromSeconds(3));
        var detected = events.FirstInstallWithout(cluster.Nodes[2].Self, after: crashAt)!.Value;
        TestContext.Out.WriteLine($"detected {(detected - crashAt).TotalMilliseconds:F1} ms after the crash, quorate again {(converged - crashAt).TotalMilliseconds:F1} ms after it");

        // Silence is noticed after FailureTimeout (checked every heartbeat); the new view is quorate
        // once the promises to the dead node, made when its last heartbeat was acknowledged, expire.
        // (A core that kept re-acknowledging the dead node's last heartbeat took 800 ms here.)
        var quorateBound = (Defaults.FailureTimeout + Defaults.HeartbeatInterval > Defaults.PromiseHeld ? Defaults.FailureTimeout + Defaults.HeartbeatInterval : Defaults.PromiseHeld) + Defaults.HeartbeatInterval;
        Assert.That(detected - crashAt, Is.LessThanOrEqualTo(Defaults.FailureTimeout + Defaults.HeartbeatInterval));
        Assert.That(converged - crashAt, Is.LessThanOrEqualTo(quorateBound));
    }

    [Test]
    public void MinorityLosesQuorumBeforeTheMajorityGainsIt()
    {
        var (cluster, _) = Formed(5);
        var cutAt = cluster.Now;
        foreach (var a in new[] { 0, 1 })
        {
            foreach (var b in new[] { 2, 3, 4 })
            {
                cluster.SetBlocked(a, b, true);
                cluster.SetBlocked(b, a, true);
            }
        }

        RunUntilConverged(cluster, [2, 3, 4], cutAt + TimeSpan.FromSeconds(3));
        foreach (var minority in new[] { 0, 1 })
        {
            var node = cluster.Nodes[minority];
            Assert.That(node.Core!.IsQuorate(node.LocalAt(cluster.Now)), Is.False, $"{node.Self} in the minority");
        }

        cluster.HealNetwork();
        RunUntilConverged(cluster, [0, 1, 2, 3, 4], cluster.Now + TimeSpan.FromSeconds(3));
    }

    /// <summary>
    /// Nodes 1 and 2 do not hear each other (as when sessions open one by one while nodes start): node 3, in a
    /// view with node 1, refuses node 2's proposals that leave node 1 out, so no live node is ever dropped from a
    /// view — which fencing would punish by killing it. (Node 3 used to accept, and dropped node 1 from a view
    /// that became quorate.) Once 1 and 2 hear each other, all three merge.
    /// </summary>
    [Test]
    public void A_member_does_not_drop_a_live_lower_member_for_a_coordinator_that_does_not_hear_it()
    {
        var cluster = new SimulatedCluster(Clusters.VoteQuorum(3), 1);
        var events = new EventLog();
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        cluster.Observe(events);
        cluster.SetBlocked(0, 1, true);
        cluster.SetBlocked(1, 0, true);
        cluster.RunUntil(TimeSpan.FromSeconds(3));
        var node1 = cluster.Nodes[0].Self;
        var node3 = cluster.Nodes[2];
        Assert.Multiple(() =>
        {
            Assert.That(node3.Core!.Installed!.Members, Is.EqualTo(new[] { node1, node3.Self }), "node 3 stays with node 1");
            Assert.That(node3.Core.IsQuorate(node3.LocalAt(cluster.Now)), Is.True);
            Assert.That(cluster.Nodes.SelectMany(n => events.Of<ViewInstalled>(n.Self)).SelectMany(v => v.Departed), Is.Empty, "nobody alive was dropped");
        });

        cluster.HealNetwork();
        RunUntilConverged(cluster, [0, 1, 2], cluster.Now + TimeSpan.FromSeconds(3));
        Assert.That(cluster.Nodes.SelectMany(n => events.Of<ViewInstalled>(n.Self)).SelectMany(v => v.Departed), Is.Empty);
    }

    [Test]
    public void OneWayCutDoesNotSplitTheBrain()
    {
        var (cluster, _) = Formed(3);
        cluster.SetBlocked(0, 1, true); // 1 no longer hears node 1 (index 0); node 1 still hears 2
        cluster.RunFor(TimeSpan.FromSeconds(5));
        Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
        cluster.HealNetwork();
        RunUntilConverged(cluster, [0, 1, 2], cluster.Now + TimeSpan.FromSeconds(3));
    }

    [Test]
    public void CleanLeaveIsReportedAsCleanAndTheLeaverExits()
    {
        var (cluster, events) = Formed(3);
        var leaver = cluster.Nodes[2].Self;
        cluster.Request(2, LeaveRequest.Instance);
        Assert.That(events.Of<Draining>(leaver), Has.Count.EqualTo(1));
        cluster.Request(2, DrainComplete.Instance);
        RunUntilConverged(cluster, [0, 1], cluster.Now + TimeSpan.FromSeconds(2));
        cluster.RunFor(TimeSpan.FromMilliseconds(200));

        var installed = events.Of<ViewInstalled>(cluster.Nodes[0].Self).Last();
        Assert.That(installed.LeftCleanly, Is.EqualTo(new[] { leaver }));
        Assert.That(installed.Departed, Is.Empty);
        Assert.That(events.Of<LeftCluster>(leaver), Has.Count.EqualTo(1));
        Assert.That(cluster.Nodes[2].State, Is.EqualTo(SimNodeState.Down));
    }

    [Test]
    public void APausedNodeWakesUpNotQuorateAndRejoins()
    {
        var (cluster, _) = Formed(3);
        cluster.Pause(0, TimeSpan.FromSeconds(2));
        RunUntilConverged(cluster, [1, 2], cluster.Now + TimeSpan.FromSeconds(2));
        cluster.RunFor(TimeSpan.FromSeconds(1)); // the pause ends; node 1 handles its backlog
        var node = cluster.Nodes[0];
        Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
        RunUntilConverged(cluster, [0, 1, 2], cluster.Now + TimeSpan.FromSeconds(3));
        Assert.That(node.Core!.Installed!.Id.Seq, Is.GreaterThan(2));
    }

    [Test]
    public void FramesFromAnExcludedIncarnationAreRejected()
    {
        var (cluster, _) = Formed(3);
        cluster.Crash(2);
        cluster.Restart(2);
        RunUntilConverged(cluster, [0, 1, 2], cluster.Now + TimeSpan.FromSeconds(3));
        var node1 = cluster.Nodes[0].Core!;
        var before = node1.Accepted;
        var stale = new Propose(new ViewId(1000, new NodeId(3)), cluster.Setup.ConfigHash, [node1.Self, new NodeIncarnation(new NodeId(3), 1)], [], 0);
        var outputs = new List<Cores.CoreOutput>();
        node1.Handle(new Cores.FrameReceived(new NodeIncarnation(new NodeId(3), 1), Transport.TransportLane.Membership, MembershipFrames.Encode(stale)), cluster.Nodes[0].LocalAt(cluster.Now), outputs);
        Assert.That(node1.Accepted, Is.EqualTo(before));
        Assert.That(outputs.OfType<Cores.SendFrame>().Where(s => s.To == new NodeId(3)), Is.Empty);
    }

    [Test]
    public void A_restarted_incarnation_s_first_view_reports_the_gone_members_of_its_predecessor_s_last_view()
    {
        var (cluster, events) = Formed(3);
        Assert.That(cluster.Nodes.SelectMany(n => events.Of<ViewInstalled>(n.Self)).SelectMany(v => v.Departed), Is.Empty, "a first-ever start reports nothing");
        var cutOff = cluster.Nodes[2].Self;
        foreach (var (a, b) in new[] { (0, 2), (1, 2) })
        {
            cluster.SetBlocked(a, b, true);
            cluster.SetBlocked(b, a, true);
        }

        cluster.Crash(0);
        cluster.Crash(1);
        cluster.Restart(0);
        cluster.Restart(1);
        RunUntilConverged(cluster, [0, 1], cluster.Now + TimeSpan.FromSeconds(5));
        foreach (var node in cluster.Nodes.Take(2))
        {
            var first = events.Of<ViewInstalled>(node.Self).First();
            Assert.That(first.Departed, Does.Contain(cutOff), $"{node.Self}'s first view {first.View} reports the partitioned {cutOff}");
            Assert.That(first.Departed.Select(d => d.Node), Does.Not.Contain(node.Self.Node), "not its own earlier incarnation");
            Assert.That(events.Of<ViewInstalled>(node.Self).Skip(1).SelectMany(v => v.Departed), Does.Not.Contain(cutOff), "only the first view inherits");
        }
    }

    [Test]
    public void ViewIdsKeepGrowingAcrossRestarts()
    {
        var (cluster, _) = Formed(1);
        var first = cluster.Nodes[0].Core!.Installed!.Id;
        cluster.Crash(0);
        cluster.Restart(0);
        cluster.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.That(cluster.Nodes[0].Core!.Installed!.Id, Is.GreaterThan(first));
        Assert.That(cluster.Nodes[0].Self.Incarnation, Is.EqualTo(2));
    }
}

/// <summary>Runs a simulated cluster until nodes converge (<see cref="LivenessChecker.Unconverged"/>).</summary>
internal static class Convergence
{
    /// <summary>Runs in <paramref name="step"/>s until the listed nodes hold one view of exactly them
    /// and are quorate; returns when, or fails the test at the deadline.</summary>
    public static TimeSpan RunUntil(SimulatedCluster cluster, IReadOnlyList<int> nodes, TimeSpan deadline, TimeSpan step)
    {
        string? why = "not run";
        while (cluster.Now < deadline && cluster.Violation is null)
        {
            why = LivenessChecker.Unconverged(cluster, [.. nodes.Select(i => cluster.Nodes[i])]);
            if (why is null)
            {
                return cluster.Now;
            }

            cluster.RunFor(step);
        }

        Assert.Fail($"no convergence by {deadline}: {cluster.Violation?.Detail ?? why}");
        return default;
    }
}

/// <summary>Records what the cores publish, with the simulated time.</summary>
internal sealed class EventLog : ISimulationObserver
{
    private readonly List<(TimeSpan At, NodeIncarnation Node, object Event)> _events = [];

    public List<T> Of<T>(NodeIncarnation node) => [.. _events.Where(e => e.Node == node).Select(e => e.Event).OfType<T>()];

    public List<TimeSpan> InstallTimes(NodeIncarnation node) => [.. _events.Where(e => e.Node == node && e.Event is ViewInstalled).Select(e => e.At)];

    public TimeSpan? FirstInstallWithout(NodeIncarnation gone, TimeSpan after) =>
        _events.Where(e => e.At > after && e.Event is ViewInstalled v && !v.View.Members.Contains(gone)).Select(e => (TimeSpan?)e.At).FirstOrDefault();

    public void AfterStep(SimulatedCluster cluster, SimNode node)
    {
    }

    public void Executed(SimulatedCluster cluster, SimNode node, Cores.CoreOutput output)
    {
    }

    public void NodeStopped(SimulatedCluster cluster, SimNode node)
    {
    }

    public void Published(SimulatedCluster cluster, SimNode node, object published) => _events.Add((cluster.Now, node.Self, published));
}
