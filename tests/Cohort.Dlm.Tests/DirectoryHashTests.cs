using System.Text;
using Cohort.Membership;

namespace Cohort.Dlm.Tests;

/// <summary>The directory's placement is the same on every node, in every process, on every machine: pinned here.</summary>
public class DirectoryHashTests
{
    private static NodeIncarnation Inc(int node) => new(new NodeId(node), 1);

    /// <summary>The published xxHash32 reference values (seed 0).</summary>
    [TestCase("", 0x02CC5D05u)]
    [TestCase("a", 0x550D7456u)]
    [TestCase("abc", 0x32D153FFu)]
    public void Names_hash_with_xxhash32(string name, uint expected) =>
        Assert.That(DirectoryHash.Of(Encoding.UTF8.GetBytes(name)), Is.EqualTo(expected));

    [TestCase("abc", 4)] // 852579327 % 4 = 3: the fourth node
    [TestCase("a", 3)] // 1426945110 % 4 = 2
    [TestCase("", 2)] // 46947589 % 4 = 1
    public void Four_equal_nodes_place_by_hash_modulo_four(string name, int node)
    {
        var ring = DirectoryHash.Ring([Inc(1), Inc(2), Inc(3), Inc(4)], new Dictionary<NodeId, int>());
        Assert.That(DirectoryHash.Node(DirectoryHash.Of(Encoding.UTF8.GetBytes(name)), ring), Is.EqualTo(node));
    }

    [Test]
    public void Weights_repeat_a_node_and_zero_leaves_it_out()
    {
        var weights = new Dictionary<NodeId, int> { [new NodeId(2)] = 2, [new NodeId(3)] = 0 };
        var ring = DirectoryHash.Ring([Inc(1), Inc(2), Inc(3)], weights);
        Assert.Multiple(() =>
        {
            Assert.That(ring, Is.EqualTo(new[] { 1, 2, 2 }));
            Assert.That(DirectoryHash.Node(0x32D153FFu, ring), Is.EqualTo(1)); // 852579327 % 3 = 0
            Assert.That(DirectoryHash.Node(0x02CC5D05u, ring), Is.EqualTo(2)); // 46947589 % 3 = 1
        });
    }

    [Test]
    public void When_every_weight_is_zero_every_member_holds_a_share()
    {
        var weights = new Dictionary<NodeId, int> { [new NodeId(1)] = 0, [new NodeId(2)] = 0 };
        Assert.That(DirectoryHash.Ring([Inc(1), Inc(2)], weights), Is.EqualTo(new[] { 1, 2 }));
    }
}
