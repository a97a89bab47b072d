using Cohort.Cores;

namespace Cohort.Membership.Tests;

/// <summary>The membership core driven by hand, one input at a time.</summary>
public class CoreTests
{
    private static readonly NodeIncarnation Self = new(new NodeId(1), 1);

    private static (MembershipCore Core, List<CoreOutput> Outputs) Started(int nodes = 1)
    {
        var setup = Clusters.VoteQuorum(nodes);
        var core = new MembershipCore(setup.Nodes, setup.Cluster, setup.ConfigHash, setup.Policy(), setup.Membership);
        var outputs = new List<CoreOutput>();
        core.Handle(new CoreStarted(Self, new Dictionary<string, ReadOnlyMemory<byte>>()), TimeSpan.Zero, outputs);
        return (core, outputs);
    }

    [Test]
    public void A_one_node_cluster_installs_its_view_persisted_first_and_is_quorate_at_once()
    {
        var (core, outputs) = Started();
        Assert.That(core.Installed?.Members, Is.EqualTo(new[] { Self }));
        Assert.That(core.IsQuorate(TimeSpan.Zero), Is.True);
        var persisted = outputs.FindIndex(o => o is PersistRecord);
        var published = outputs.FindIndex(o => o is PublishEvent { Event: ViewInstalled });
        Assert.That(persisted, Is.GreaterThanOrEqualTo(0).And.LessThan(published), "the view is durable before anyone hears of it");
    }

    /// <summary>The heartbeat re-arms itself each time, so the lease keeps being renewed.</summary>
    [Test]
    public void The_heartbeat_keeps_renewing_the_lease()
    {
        var (core, outputs) = Started();
        var now = TimeSpan.Zero;
        for (var beat = 0; beat < 40; beat++)
        {
            now = outputs.OfType<SetTimer>().Last(t => t.Name == "heartbeat").At;
            outputs.Clear();
            core.Handle(new TimerFired("heartbeat"), now, outputs);
        }

        Assert.That(now, Is.GreaterThan(new MembershipOptions().QuorumLease * 4));
        Assert.That(core.IsQuorate(now), Is.True);
    }

    [Test]
    public void A_restart_resumes_view_ids_from_the_persisted_record()
    {
        var (first, outputs) = Started();
        var record = outputs.OfType<PersistRecord>().Last();
        var setup = Clusters.VoteQuorum(1);
        var again = new MembershipCore(setup.Nodes, setup.Cluster, setup.ConfigHash, setup.Policy(), setup.Membership);
        again.Handle(new CoreStarted(Self with { Incarnation = 2 }, new Dictionary<string, ReadOnlyMemory<byte>> { [record.Name] = record.Contents }), TimeSpan.Zero, []);
        Assert.That(again.Installed!.Id, Is.GreaterThan(first.Installed!.Id));
    }

    [Test]
    public void Leaving_alone_drains_then_leaves()
    {
        var (core, outputs) = Started();
        outputs.Clear();
        core.Handle(new LocalRequest(LeaveRequest.Instance), TimeSpan.FromMilliseconds(10), outputs);
        Assert.That(core.Phase, Is.EqualTo(MembershipPhase.Leaving));
        Assert.That(outputs.OfType<PublishEvent>().Select(e => e.Event), Has.One.InstanceOf<Draining>());
        Assert.That(core.IsQuorate(TimeSpan.FromMilliseconds(10)), Is.True, "a leaving node serves until drained");

        outputs.Clear();
        core.Handle(new LocalRequest(DrainComplete.Instance), TimeSpan.FromMilliseconds(20), outputs);
        Assert.That(core.Phase, Is.EqualTo(MembershipPhase.Left));
        Assert.That(core.IsQuorate(TimeSpan.FromMilliseconds(20)), Is.False);
        Assert.That(outputs.OfType<PublishEvent>().Select(e => e.Event), Has.One.InstanceOf<LeftCluster>());
    }

    [Test]
    public void A_node_of_a_larger_cluster_alone_is_not_quorate()
    {
        var (core, _) = Started(nodes: 3);
        Assert.That(core.Installed?.Members, Is.EqualTo(new[] { Self }));
        Assert.That(core.IsQuorate(TimeSpan.FromSeconds(1)), Is.False);
        Assert.That(core.QuorumReason, Does.Contain("1 of 3"));
    }
}

/// <summary>The policy contract as the core keeps it: a throwing policy never makes a node quorate, and
/// what a policy asks to remember is persisted and handed back after a restart.</summary>
public class PolicyContractTests
{
    private static readonly NodeIncarnation Self = new(new NodeId(1), 1);

    [Test]
    public void A_policy_that_throws_leaves_the_node_not_quorate()
    {
        var setup = Clusters.VoteQuorum(1);
        var core = new MembershipCore(setup.Nodes, setup.Cluster, setup.ConfigHash, new Throwing(), setup.Membership);
        core.Handle(new CoreStarted(Self, new Dictionary<string, ReadOnlyMemory<byte>>()), TimeSpan.Zero, []);
        Assert.That(core.Installed, Is.Not.Null);
        Assert.That(core.IsQuorate(TimeSpan.Zero), Is.False);
        Assert.That(core.QuorumReason, Is.EqualTo("the quorum policy threw InvalidOperationException: broken"));
    }

    [Test]
    public void Policy_state_is_persisted_and_returned_after_a_restart()
    {
        var setup = Clusters.VoteQuorum(1);
        var remembering = new Remembering();
        var outputs = new List<CoreOutput>();
        new MembershipCore(setup.Nodes, setup.Cluster, setup.ConfigHash, remembering, setup.Membership)
            .Handle(new CoreStarted(Self, new Dictionary<string, ReadOnlyMemory<byte>>()), TimeSpan.Zero, outputs);
        var record = outputs.OfType<PersistRecord>().Single(r => r.Name == MembershipCore.PolicyRecordName);
        Assert.That(record.Contents.ToArray(), Is.EqualTo(new byte[] { 1 }));

        var again = new Remembering();
        new MembershipCore(setup.Nodes, setup.Cluster, setup.ConfigHash, again, setup.Membership)
            .Handle(new CoreStarted(Self with { Incarnation = 2 }, new Dictionary<string, ReadOnlyMemory<byte>> { [record.Name] = record.Contents }), TimeSpan.Zero, []);
        Assert.That(again.FirstStateSeen, Is.EqualTo(new byte[] { 1 }));
    }

    private sealed class Throwing : Quorum.IQuorumPolicy
    {
        public Quorum.QuorumDecision Decide(Quorum.QuorumContext context) => throw new InvalidOperationException("broken");
    }

    /// <summary>Quorate; asks to remember one byte.</summary>
    private sealed class Remembering : Quorum.IQuorumPolicy
    {
        public byte[]? FirstStateSeen { get; private set; }

        public Quorum.QuorumDecision Decide(Quorum.QuorumContext context)
        {
            FirstStateSeen ??= context.State.ToArray();
            return new Quorum.QuorumDecision(Quorum.QuorumVerdict.Quorate, 1, 1, "remembering") { State = new byte[] { 1 } };
        }
    }
}
