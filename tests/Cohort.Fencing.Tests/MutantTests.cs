using static Cohort.Fencing.Tests.FencingCluster;

namespace Cohort.Fencing.Tests;

/// <summary>The deliberately broken core behaves differently from the real one in the scenario that catches it.</summary>
public class MutantTests
{
    /// <summary>Ground truth for the gate: an incarnation's gate may be open only when every device of one level
    /// reported success for it (or it left cleanly).</summary>
    private static void CheckGate(FencingCluster cluster, IReadOnlyCollection<(RunFenceDevice Run, FenceResult Result)> answers, IEnumerable<Membership.NodeIncarnation> incarnations)
    {
        foreach (var incarnation in incarnations)
        {
            var fenced = answers
                .Where(a => a.Run.Victim.Node == incarnation.Node && a.Run.Victim.Incarnation >= incarnation.Incarnation)
                .GroupBy(a => (a.Run.Victim, a.Run.Attempt, a.Run.Level))
                .Any(level => level.All(a => a.Result == FenceResult.Success)
                    && cluster.Topology.LevelsOf(incarnation.Node)[level.Key.Level - 1].All(d => level.Any(a => a.Run.Device == d)));
            foreach (var node in cluster.Nodes.Where(n => n.Up))
            {
                Assert.That(!node.Core.IsOpen(incarnation) || fenced, Is.True, $"{node} lets {incarnation} through, but no level of its devices succeeded");
            }
        }
    }

    [TestCase(FencingMutant.None, false)]
    [TestCase(FencingMutant.GateOnTimeout, true)]
    public void Only_the_mutant_opens_the_gate_on_a_timeout(FencingMutant mutant, bool opens)
    {
        var cluster = Formed(3, Topologies.Ipmi(3), mutant);
        cluster.Crash(3);
        cluster.Install([1, 2]);
        var run = cluster.CompleteOnly(1, FenceResult.Timeout, "ipmi: no answer in 20 s");
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.EqualTo(opens));
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.EqualTo(opens));
            Assert.That(cluster[1].Published<FenceGateOpenedEvent>().Any(), Is.EqualTo(opens));
            Assert.That(cluster[1].Published<FencingExhausted>().Any(), Is.EqualTo(!opens));
        });

        var ground = new[] { (run, FenceResult.Timeout) };
        if (opens)
        {
            Assert.That(() => CheckGate(cluster, ground, [Inc(3, 1)]), Throws.InstanceOf<AssertionException>(), "the ground-truth check catches the mutant");
        }
        else
        {
            CheckGate(cluster, ground, [Inc(3, 1)]);
        }
    }

    [Test]
    public void The_mutant_behaves_like_the_real_core_when_devices_answer()
    {
        foreach (var mutant in new[] { FencingMutant.None, FencingMutant.GateOnTimeout })
        {
            var cluster = Formed(3, Topologies.IpmiThenPdus(3), mutant);
            cluster.Crash(3);
            cluster.Install([1, 2]);
            var answers = new List<(RunFenceDevice, FenceResult)>
            {
                (cluster.CompleteOnly(1, FenceResult.Failed), FenceResult.Failed),
                (cluster.CompleteOnly(1, FenceResult.Success), FenceResult.Success),
            };
            CheckGate(cluster, answers, [Inc(3, 1)]);
            answers.Add((cluster.CompleteOnly(1, FenceResult.Success), FenceResult.Success));
            cluster.Deliver();
            CheckGate(cluster, answers, [Inc(3, 1)]);
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.True, $"{mutant}");
        }
    }
}
