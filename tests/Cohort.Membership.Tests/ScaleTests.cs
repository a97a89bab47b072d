using Cohort.Simulation;

namespace Cohort.Membership.Tests;

/// <summary>64 simulated nodes: they form one view, and after one death re-form; the report gives
/// the re-formation in round trips next to the detection time.</summary>
public class ScaleTests
{
    [Test]
    public void SixtyFourNodesReformAfterOneDeath()
    {
        var setup = Clusters.VoteQuorum(64);
        var cluster = new SimulatedCluster(setup, 64);
        var events = new EventLog();
        cluster.Observe(new SplitBrainChecker());
        cluster.Observe(new ViewChecker());
        cluster.Observe(events);
        var all = Enumerable.Range(0, 64).ToList();
        cluster.RunUntil(TimeSpan.FromMilliseconds(250)); // every node has booted
        var formed = Converge(cluster, all, TimeSpan.FromSeconds(5));

        var crashAt = cluster.Now;
        var victim = cluster.Nodes[40].Self;
        cluster.Crash(40);
        var survivors = all.Where(i => i != 40).ToList();
        var quorate = Converge(cluster, survivors, crashAt + TimeSpan.FromSeconds(5));
        var detected = events.FirstInstallWithout(victim, crashAt)!.Value;
        var installedEverywhere = survivors.Max(i => events.Of<ViewInstalled>(cluster.Nodes[i].Self).Last().View.Members.Contains(victim) ? TimeSpan.MaxValue : LastInstall(events, cluster.Nodes[i].Self));
        var rtt = setup.Latency.Min + setup.Latency.Max; // two one-way trips at the mean latency
        var proposedAt = detected - rtt; // the coordinator proposes one round trip before it installs
        TestContext.Out.WriteLine(
            $"64 nodes formed at {formed.TotalMilliseconds:F0} ms; after a crash: detection {(proposedAt - crashAt).TotalMilliseconds:F1} ms (FailureTimeout {setup.Membership.FailureTimeout.TotalMilliseconds} ms), " +
            $"view installed on all survivors {(installedEverywhere - proposedAt) / rtt:F1} round trips after detection, quorate {(quorate - crashAt).TotalMilliseconds:F1} ms after the crash " +
            $"(promises held {setup.Membership.PromiseHeld.TotalMilliseconds} ms); {cluster.Steps} steps");
        Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
        Assert.That((installedEverywhere - proposedAt) / rtt, Is.LessThanOrEqualTo(3), "re-formation within three round trips of detection");
    }

    private static TimeSpan LastInstall(EventLog events, NodeIncarnation node) => events.InstallTimes(node).Last();

    private static TimeSpan Converge(SimulatedCluster cluster, List<int> nodes, TimeSpan deadline) =>
        Convergence.RunUntil(cluster, nodes, deadline, TimeSpan.FromMilliseconds(5));
}
