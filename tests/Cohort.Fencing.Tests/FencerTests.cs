using Cohort.Cores;
using Cohort.Membership;
using static Cohort.Fencing.Tests.FencingCluster;

namespace Cohort.Fencing.Tests;

/// <summary>Who fences a departed member, through which levels, and how often it tries.</summary>
public class FencerTests
{
    /// <summary>Three nodes; node 3 crashes and nodes 1 and 2 install a view without it, still quorate.</summary>
    private static FencingCluster ThreeLoseNode3(FencingTopology topology, FencingMutant mutant = FencingMutant.None)
    {
        var cluster = Formed(3, topology, mutant);
        cluster.Crash(3);
        cluster.Install([1, 2]);
        cluster.Deliver();
        return cluster;
    }

    [Test]
    public void A_member_that_departs_a_quorate_view_is_fenced_by_the_lowest_id_member_only()
    {
        var cluster = ThreeLoseNode3(Topologies.IpmiThenPdus(3));
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Runs, Is.EqualTo(new[] { new RunFenceDevice(1, Inc(3, 1), 1, "ipmi-3", FenceAction.Off, 1) }));
            Assert.That(cluster[2].Runs, Is.Empty, "node 2 is not the fencer");
            Assert.That(cluster[1].Published<VictimAdded>(), Is.EqualTo(new[] { new VictimAdded(Inc(3, 1), FenceReason.Departed) }));
            Assert.That(cluster[2].Published<VictimAdded>(), Is.EqualTo(new[] { new VictimAdded(Inc(3, 1), FenceReason.Departed) }));
            Assert.That(cluster[1].Core.Status.Pending, Is.EqualTo(new[] { new PendingFence(Inc(3, 1), FenceReason.Departed, new NodeId(1), "running", 1, 1, "ipmi-3") }));
            Assert.That(cluster[2].Core.Status.Pending, Is.EqualTo(new[] { new PendingFence(Inc(3, 1), FenceReason.Departed, new NodeId(1), "elsewhere", 0, 0, null) }));
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.False);
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.False);
        });
    }

    [Test]
    public void Levels_are_tried_in_order_and_every_device_of_a_level_must_succeed()
    {
        var cluster = ThreeLoseNode3(Topologies.IpmiThenPdus(3));
        cluster.CompleteOnly(1, FenceResult.Failed, "ipmi: no route to host");
        Assert.That(cluster[1].Running.Single(), Is.EqualTo(new RunFenceDevice(2, Inc(3, 1), 2, "pdu-a-3", FenceAction.Off, 1)), "level 2 after level 1 failed");

        cluster.CompleteOnly(1, FenceResult.Success, "pdu-a: outlet off");
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Running.Single(), Is.EqualTo(new RunFenceDevice(3, Inc(3, 1), 2, "pdu-b-3", FenceAction.Off, 1)), "the second device of the level");
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.False, "half a level is not a fence");
            Assert.That(cluster[1].Published<FenceGateOpenedEvent>(), Is.Empty);
        });

        cluster.CompleteOnly(1, FenceResult.Success, "pdu-b: outlet off");
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.True);
            Assert.That(cluster[1].Published<FenceGateOpenedEvent>(), Is.EqualTo(new[] { new FenceGateOpenedEvent(Inc(3, 1), false, "pdu-b-3") }));
            Assert.That(cluster[1].Core.Status.Pending, Is.Empty);
            Assert.That(cluster[1].Core.Status.Fenced, Is.EqualTo(new Dictionary<NodeId, long> { [new NodeId(3)] = 1 }));
            Assert.That(cluster[1].Runs.Count(), Is.EqualTo(3), "nothing more is run once fenced");
            Assert.That(cluster[1].Timers, Does.Not.ContainKey("retry"));
        });
    }

    [Test]
    public void History_records_carry_level_device_action_result_requester_and_fenced_only_on_the_last_device()
    {
        var cluster = ThreeLoseNode3(Topologies.IpmiThenPdus(3));
        cluster.CompleteOnly(1, FenceResult.Timeout, "ipmi: timed out");
        cluster.CompleteOnly(1, FenceResult.Success, "pdu-a: off");
        cluster.CompleteOnly(1, FenceResult.Success, "pdu-b: off");
        var ms = 1_700_000_000_000 + (long)cluster.Now.TotalMilliseconds;
        var requester = Inc(1, 1);
        var victim = Inc(3, 1);
        var expected = new[]
        {
            new FenceRecord(requester, 1, victim, 1, "ipmi-3", FenceAction.Off, FenceResult.Timeout, FenceReason.Departed, false, 1, ms, "ipmi: timed out"),
            new FenceRecord(requester, 2, victim, 2, "pdu-a-3", FenceAction.Off, FenceResult.Success, FenceReason.Departed, false, 1, ms, "pdu-a: off"),
            new FenceRecord(requester, 3, victim, 2, "pdu-b-3", FenceAction.Off, FenceResult.Success, FenceReason.Departed, true, 1, ms, "pdu-b: off"),
        };
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.Status.History, Is.EqualTo(expected));
            Assert.That(cluster[1].Published<FenceRecorded>(), Is.EqualTo(expected.Select(r => new FenceRecorded(r, true))));
        });
    }

    [Test]
    public void A_device_that_fails_inside_a_level_skips_the_rest_of_that_level()
    {
        var cluster = ThreeLoseNode3(Topologies.Uniform(3, ["pdu-a", "pdu-b"], ["ipmi"]));
        Assert.That(cluster[1].Running.Single().Device, Is.EqualTo("pdu-a-3"));
        cluster.CompleteOnly(1, FenceResult.Failed);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Running.Single(), Is.EqualTo(new RunFenceDevice(2, Inc(3, 1), 2, "ipmi-3", FenceAction.Off, 1)));
            Assert.That(cluster[1].Runs.Select(r => r.Device), Does.Not.Contain("pdu-b-3"));
        });
    }

    [Test]
    public void A_reboot_topology_runs_its_devices_with_reboot()
    {
        var cluster = ThreeLoseNode3(Topologies.Uniform(3, FenceAction.Reboot, ["ipmi"]));
        Assert.That(cluster[1].Running.Single().Action, Is.EqualTo(FenceAction.Reboot));
        cluster.CompleteOnly(1, FenceResult.Success);
        Assert.That(cluster[1].Core.Status.History.Single().Action, Is.EqualTo(FenceAction.Reboot));
    }

    [TestCase(FenceResult.Timeout)]
    [TestCase(FenceResult.Unknown)]
    [TestCase(FenceResult.Failed)]
    public void A_result_other_than_success_never_fences(FenceResult result)
    {
        var cluster = ThreeLoseNode3(Topologies.IpmiThenPdus(3));
        cluster.CompleteOnly(1, result);
        cluster.CompleteOnly(1, result);
        var failedAt = cluster.Now;
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.False);
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.False);
            Assert.That(cluster[1].Published<FenceGateOpenedEvent>(), Is.Empty);
            Assert.That(cluster[2].Published<FenceGateOpenedEvent>(), Is.Empty);
            Assert.That(cluster[1].Core.Status.History.Select(r => (r.Result, r.Fenced)), Is.EqualTo(new[] { (result, false), (result, false) }));
            Assert.That(cluster[1].Published<FencingExhausted>(), Is.EqualTo(new[] { new FencingExhausted(Inc(3, 1), 1, TimeSpan.FromSeconds(1)) }));
            Assert.That(cluster[1].Timers["retry"], Is.EqualTo(failedAt + TimeSpan.FromSeconds(1)));
            Assert.That(cluster[1].Running, Is.Empty, "nothing runs before the backoff");
            Assert.That(cluster[1].Core.Status.Pending.Single().State, Is.EqualTo("retrying"));
            Assert.That(cluster[2].Core.Status.Pending.Single().Victim, Is.EqualTo(Inc(3, 1)), "still a victim on every member");
        });
    }

    [Test]
    public void Exhausted_passes_are_retried_after_a_doubling_capped_backoff_and_never_succeed_without_a_device()
    {
        var cluster = ThreeLoseNode3(Topologies.Ipmi(3));
        var backoffs = new List<TimeSpan>();
        for (var attempt = 1; attempt <= 8; attempt++)
        {
            var run = cluster[1].Running.Single();
            Assert.That((run.Attempt, run.Level, run.Device), Is.EqualTo((attempt, 1, "ipmi-3")));
            cluster.CompleteOnly(1, attempt % 2 == 0 ? FenceResult.Timeout : FenceResult.Unknown);
            var exhausted = cluster[1].Published<FencingExhausted>().Last();
            Assert.Multiple(() =>
            {
                Assert.That(exhausted.Attempt, Is.EqualTo(attempt));
                Assert.That(cluster[1].Timers["retry"], Is.EqualTo(cluster.Now + exhausted.RetryIn), "the retry timer is set for the backoff");
                Assert.That(cluster[1].Running, Is.Empty);
                Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.False);
            });
            backoffs.Add(exhausted.RetryIn);

            // Something else happens before the timer: no pass starts early.
            cluster.Step(1, new TimerFired("unrelated"));
            Assert.That(cluster[1].Running, Is.Empty);
            var at = cluster.FireRetry(1);
            Assert.That(cluster.Now, Is.EqualTo(at));
        }

        Assert.That(backoffs, Is.EqualTo(new[] { 1, 2, 4, 8, 16, 30, 30, 30 }.Select(s => TimeSpan.FromSeconds(s))));
        Assert.That(cluster[1].Running.Single().Attempt, Is.EqualTo(9));
        cluster.CompleteOnly(1, FenceResult.Success);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.True);
            Assert.That(cluster[1].Core.Status.History[^1], Has.Property(nameof(FenceRecord.Attempt)).EqualTo(9).And.Property(nameof(FenceRecord.Fenced)).True);
            Assert.That(cluster[1].Core.Status.History.Count(r => r.Fenced), Is.EqualTo(1));
        });
    }

    [Test]
    public void A_victim_without_levels_is_recorded_and_retried_until_a_topology_names_devices()
    {
        var cluster = ThreeLoseNode3(FencingTopology.None);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Runs, Is.Empty);
            var record = cluster[1].Core.Status.History.Single();
            Assert.That((record.Level, record.Device, record.Result, record.Fenced), Is.EqualTo((0, "(none)", FenceResult.Failed, false)));
            Assert.That(cluster[1].Published<FencingExhausted>().Single().Attempt, Is.EqualTo(1));
            Assert.That(cluster[1].Timers, Does.ContainKey("retry"));
        });

        cluster.Request(1, new FencingTopologyChanged(Topologies.Ipmi(3)));
        Assert.That(cluster[1].Runs, Is.Empty, "the backoff still holds");
        cluster.FireRetry(1);
        Assert.That(cluster[1].Running.Single(), Is.EqualTo(new RunFenceDevice(1, Inc(3, 1), 1, "ipmi-3", FenceAction.Off, 2)));
        cluster.CompleteOnly(1, FenceResult.Success);
        Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.True);
    }

    [Test]
    public void A_late_or_repeated_answer_is_ignored()
    {
        var cluster = ThreeLoseNode3(Topologies.IpmiThenPdus(3));
        var first = cluster.CompleteOnly(1, FenceResult.Failed);
        var history = cluster[1].Core.Status.History.Count;
        var outputs = cluster.Complete(1, first, FenceResult.Success);
        cluster.Request(1, new FenceDeviceCompleted(999, FenceResult.Success, "no such operation", 0));
        Assert.Multiple(() =>
        {
            Assert.That(outputs, Is.Empty);
            Assert.That(cluster[1].Core.IsOpen(Inc(3, 1)), Is.False, "an answer to an operation already answered fences nothing");
            Assert.That(cluster[1].Core.Status.History, Has.Count.EqualTo(history));
        });
    }

    [Test]
    public void Two_victims_are_fenced_independently()
    {
        var cluster = Formed(5, Topologies.Ipmi(5));
        cluster.Crash(4, 5);
        cluster.Install([1, 2, 3]);
        cluster.Deliver();
        var runs = cluster[1].Running.ToList();
        Assert.That(runs.Select(r => r.Victim), Is.EqualTo(new[] { Inc(4, 1), Inc(5, 1) }));
        cluster.Complete(1, runs[1], FenceResult.Success);
        cluster.Complete(1, runs[0], FenceResult.Failed);
        Assert.Multiple(() =>
        {
            Assert.That(cluster[1].Core.IsOpen(Inc(5, 1)), Is.True);
            Assert.That(cluster[1].Core.IsOpen(Inc(4, 1)), Is.False);
            Assert.That(cluster[1].Core.Status.Pending.Select(p => p.Victim), Is.EqualTo(new[] { Inc(4, 1) }));
        });
    }
}
