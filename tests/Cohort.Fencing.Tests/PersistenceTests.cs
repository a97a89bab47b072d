using Cohort.Cores;
using Cohort.Membership;
using Cohort.Transport;
using static Cohort.Fencing.Tests.FencingCluster;

namespace Cohort.Fencing.Tests;

/// <summary>The <c>fencing</c> record: written before anything that depends on it, and enough to restart from.
/// (<see cref="FencingCluster.Step(FencingNode, CoreInput)"/> also checks, after every step of every test, that the
/// record comes first and describes what the core reports.)</summary>
public class PersistenceTests
{
    [Test]
    public void A_step_that_makes_a_victim_persists_it_before_any_frame_or_event()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Crash(3);
        var node = cluster[1];
        var view = new View(new ViewId(9, new NodeId(1)), [Inc(1, 1), Inc(2, 1)]);
        var installed = cluster.Step(node, new LocalRequest(new FencingViewInstalled(view, [], [Inc(3, 1)])));
        var quorate = cluster.Step(node, new LocalRequest(new FencingQuorum(true, view.Id)));
        Assert.Multiple(() =>
        {
            Assert.That(installed[0], Is.InstanceOf<PersistRecord>(), "the candidate is durable before the view's sync leaves");
            Assert.That(installed.OfType<SendFrame>().Select(f => f.To), Is.EqualTo(new[] { new NodeId(2) }));
            Assert.That(installed.OfType<PublishEvent>(), Is.Empty, "not a victim before this node is quorate in the view");
            Assert.That(quorate[0], Is.InstanceOf<PersistRecord>());
            Assert.That(quorate.Skip(1).OfType<PersistRecord>(), Is.Empty);
            Assert.That(quorate.OfType<PublishEvent>().Select(e => e.Event.GetType()), Is.EqualTo(new[] { typeof(VictimAdded), typeof(RunFenceDevice) }));
            var state = FencingWire.DecodeState(((PersistRecord)quorate[0]).Contents.Span);
            Assert.That(state.Victims.Select(v => (v.Node, v.Incarnation, v.Reason, v.Action)), Is.EqualTo(new[] { (3, 1L, (int)FenceReason.Departed, 0) }));
            Assert.That(state.Victims[0].Namers, Is.EqualTo(new[] { new WireIncarnation(1, 1) }), "who named it is durable too");
        });
    }

    [Test]
    public void A_step_that_records_a_result_persists_it_before_sharing_it()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Crash(3);
        cluster.Install([1, 2]);
        var run = cluster[1].Running.Single();
        var outputs = cluster.Complete(1, run, FenceResult.Success);
        Assert.Multiple(() =>
        {
            Assert.That(outputs[0], Is.InstanceOf<PersistRecord>());
            var state = FencingWire.DecodeState(((PersistRecord)outputs[0]).Contents.Span);
            Assert.That(state.Fenced, Is.EqualTo(new[] { new WireIncarnation(3, 1) }));
            Assert.That(state.History.Single().Fenced, Is.True);
            Assert.That(state.Victims, Is.Empty);
            Assert.That(outputs.Skip(1).Select(o => o.GetType()).Distinct(), Is.EquivalentTo(new[] { typeof(PublishEvent), typeof(SendFrame) }));
        });
    }

    [Test]
    public void A_step_that_changes_nothing_persists_nothing()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        Assert.Multiple(() =>
        {
            Assert.That(cluster.Step(1, new TimerFired("retry")), Is.Empty);
            Assert.That(cluster.Step(1, new TimerFired("something else")), Is.Empty);
            Assert.That(cluster.Step(1, new SessionReset(Inc(2, 1))), Is.Empty);
            Assert.That(cluster.Step(1, new LocalRequest("not a fencing request")), Is.Empty);
            Assert.That(cluster.Step(1, new LocalRequest(new FencingQuorum(true, cluster[1].View!.Id))), Is.Empty);
        });
    }

    [Test]
    public void A_restarted_core_still_knows_victims_fenced_incarnations_candidates_and_history()
    {
        var cluster = Formed(4, Topologies.IpmiThenPdus(4));
        cluster.Crash(4);
        cluster.Install([1, 2, 3]);
        cluster.CompleteOnly(1, FenceResult.Failed);
        cluster.CompleteOnly(1, FenceResult.Success);
        cluster.CompleteOnly(1, FenceResult.Success);
        cluster.Crash(3);
        cluster.Install([1, 2], quorate: true); // as with a quorum device's vote
        cluster.CompleteOnly(1, FenceResult.Timeout);
        cluster.Deliver();
        var history = cluster[1].Core.Status.History;
        Assert.That(history, Has.Count.EqualTo(4));

        var again = cluster.Restart(1, 2);
        Assert.Multiple(() =>
        {
            Assert.That(again.Core.Status.Pending.Select(p => (p.Victim, p.Reason)), Is.EqualTo(new[] { (Inc(3, 1), FenceReason.Departed) }));
            Assert.That(again.Core.Status.Fenced, Is.EqualTo(new Dictionary<NodeId, long> { [new NodeId(4)] = 1 }));
            Assert.That(again.Core.Status.History, Is.EqualTo(history));
            Assert.That(again.Core.IsOpen(Inc(4, 1)), Is.True);
            Assert.That(again.Core.IsOpen(Inc(3, 1)), Is.False);
            Assert.That(again.Runs, Is.Empty, "nothing runs before a view and quorum");
        });

        // Back in a quorate view (1#1 had left cleanly before the restart), the restarted node fences 3#1 again
        // from the first level; its records are its own.
        cluster.Install([1, 2], clean: [Inc(1, 1)]);
        cluster.Quorate(1);
        Assert.That(again.Running.Single(), Is.EqualTo(new RunFenceDevice(1, Inc(3, 1), 1, "ipmi-3", FenceAction.Off, 1)));
        cluster.CompleteOnly(1, FenceResult.Success);
        cluster.Deliver();
        Assert.Multiple(() =>
        {
            Assert.That(again.Core.Status.History[^1], Has.Property(nameof(FenceRecord.Requester)).EqualTo(Inc(1, 2)).And.Property(nameof(FenceRecord.Seq)).EqualTo(1));
            Assert.That(cluster[2].Core.Status.History, Has.Count.EqualTo(5), "a new incarnation's seq 1 is a new record, not 1#1's seq 1");
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.True);
        });
    }

    [Test]
    public void A_restarted_core_remembers_candidates_and_clean_leavers()
    {
        var cluster = Formed(4, Topologies.Ipmi(4));
        cluster.NotQuorate(1, 2);
        cluster.Crash(3, 4);
        cluster.Install([1, 2], clean: [Inc(4, 1)]);
        var again = cluster.Restart(1, 2);
        Assert.That(again.Core.IsOpen(Inc(4, 1)), Is.True, "the clean leaver");
        cluster.Install([1, 2]);
        cluster.Quorate(1);
        Assert.That(again.Running.Single().Victim, Is.EqualTo(Inc(3, 1)), "the candidate became a victim once quorate");
    }

    [Test]
    public void A_damaged_record_is_refused_rather_than_starting_with_nothing_to_fence()
    {
        var core = new FencingCore(Topologies.Ipmi(3), new Random(1).NextDouble);
        var records = new Dictionary<string, ReadOnlyMemory<byte>> { [FencingCore.RecordName] = "{\"victims\":[{\"node\":3,"u8.ToArray() };
        Assert.Throws<InvalidDataException>(() => core.Handle(new CoreStarted(Inc(1, 2), records), TimeSpan.Zero, []));
    }

    [Test]
    public void Same_inputs_same_outputs_byte_for_byte()
    {
        static List<string> Run()
        {
            var cluster = Formed(4, Topologies.IpmiThenPdus(4));
            cluster.Crash(4);
            cluster.Install([1, 2, 3]);
            cluster.CompleteOnly(1, FenceResult.Timeout);
            cluster.CompleteOnly(1, FenceResult.Success);
            cluster.CompleteOnly(1, FenceResult.Success);
            cluster.Deliver();
            return [.. cluster.Sent.Select(s => $"{s.From}>{s.Frame.To}:{Convert.ToHexString(s.Frame.Frame.Span)}"), .. cluster.Nodes.Select(n => n.Record is null ? "-" : Convert.ToHexString(n.Record))];
        }

        var first = Run();
        var second = Run();
        Assert.That(second, Is.EqualTo(first));
    }

    /// <summary>
    /// Regression (a latent bug, now fixed) against <see cref="IProtocolCore.Handle"/> ("where the core appends"): to put its record
    /// first, the core copies the whole collection, clears it and re-adds it behind the record — so a record is put
    /// ahead of outputs the driver had already collected in it, and the driver would carry out those earlier outputs
    /// (which were meant to precede this step) after it.
    /// </summary>
    [Test]

    public void The_record_goes_ahead_of_this_steps_outputs_only()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        var earlier = new PublishEvent("an earlier output");
        var outputs = new List<CoreOutput> { earlier };
        cluster[1].Core.Handle(new LocalRequest(new FencingViewInstalled(new View(new ViewId(9, new NodeId(1)), [Inc(1, 1), Inc(2, 1)]), [], [Inc(3, 1)])), cluster.Now, outputs);
        Assert.Multiple(() =>
        {
            Assert.That(outputs[0], Is.SameAs(earlier));
            Assert.That(outputs[1], Is.InstanceOf<PersistRecord>());
        });
    }

    [Test]
    public void Frames_go_to_the_incarnation_of_the_view()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Crash(3);
        var outputs = cluster.Step(cluster[1], new LocalRequest(new FencingViewInstalled(new View(new ViewId(9, new NodeId(1)), [Inc(1, 1), Inc(2, 7)]), [], [Inc(3, 1)])));
        Assert.That(outputs.OfType<SendFrame>().Select(f => (f.To, f.Lane, f.ToIncarnation)), Is.EqualTo(new[] { (new NodeId(2), TransportLane.Data, 7L) }));
    }
}
