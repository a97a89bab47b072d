using Cohort.Membership;
using Cohort.Plugins;

namespace Cohort.Abstractions.Tests.Membership;

public sealed class IdentityTests
{
    private static ViewId V(long seq, int coordinator) => new(seq, new NodeId(coordinator));

    [Test]
    public void View_ids_order_by_sequence_then_coordinator()
    {
        Assert.Multiple(() =>
        {
            Assert.That(V(1, 9) < V(2, 1), Is.True);
            Assert.That(V(2, 1) < V(2, 3), Is.True);
            Assert.That(V(2, 3) > V(2, 1), Is.True);
            Assert.That(V(2, 3) <= V(2, 3), Is.True);
            Assert.That(V(2, 3) == V(2, 3), Is.True);
            Assert.That(V(3, 1).CompareTo(V(2, 5)), Is.Positive);
            Assert.That(V(12, 1).ToString(), Is.EqualTo("12.1"));
        });
    }

    [Test]
    public void Incarnations_order_by_node_then_counter()
    {
        var a = new NodeIncarnation(new NodeId(1), 7);
        var b = new NodeIncarnation(new NodeId(1), 8);
        var c = new NodeIncarnation(new NodeId(2), 1);

        Assert.Multiple(() =>
        {
            Assert.That(a < b && b < c, Is.True);
            Assert.That(a.ToString(), Is.EqualTo("1#7"));
            Assert.That(a, Is.Not.EqualTo(b), "two lives of one node are different identities");
        });
    }

    [Test]
    public void A_view_sorts_its_members_and_refuses_a_node_twice()
    {
        var view = new View(V(4, 2), [new NodeIncarnation(new NodeId(3), 1), new NodeIncarnation(new NodeId(2), 5)]);

        Assert.That(view.Members.Select(m => m.Node.Value), Is.EqualTo(new[] { 2, 3 }));
        Assert.That(view.Contains(new NodeId(3)), Is.True);
        Assert.That(view.Contains(new NodeId(1)), Is.False);
        var error = Assert.Throws<ArgumentException>(() => new View(V(4, 2), [new NodeIncarnation(new NodeId(2), 1), new NodeIncarnation(new NodeId(2), 2)]));
        Assert.That(error!.Message, Does.StartWith("View 4.2 lists node 2 twice."));
    }

    [Test]
    public void Contains_finds_every_member_and_nothing_else()
    {
        var members = new[] { 1, 4, 5, 9, 12, 40, 41 };
        var view = new View(V(1, 1), members.Reverse().Select(n => new NodeIncarnation(new NodeId(n), 1)));
        foreach (var id in Enumerable.Range(0, 45))
        {
            Assert.That(view.Contains(new NodeId(id)), Is.EqualTo(members.Contains(id)), $"node {id}");
        }

        Assert.That(new View(V(1, 1), []).Contains(new NodeId(1)), Is.False);
    }

    [Test]
    public void A_manifest_records_the_contract_version_it_was_compiled_against()
    {
        var manifest = new PluginManifest(PluginSlot.QuorumPolicy, "x", new Version(1, 0));

        Assert.That(manifest.AbstractionsVersion, Is.EqualTo(AbstractionsInfo.Version));
        Assert.That(manifest.ConfigSections, Is.Empty);
    }
}
