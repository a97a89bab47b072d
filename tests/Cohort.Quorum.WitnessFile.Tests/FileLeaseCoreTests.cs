using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.WitnessFile.Tests;

/// <summary>The file lease step by step, the slot format, and the options.</summary>
public sealed class FileLeaseCoreTests
{
    private static readonly NodeId[] Ids = [new(1), new(2)];
    private static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Renew = TimeSpan.FromMilliseconds(100);
    private static readonly View Alone1 = new(new ViewId(3, Ids[0]), [new NodeIncarnation(Ids[0], 1)]);
    private static readonly ViewId Alone2 = new(3, Ids[1]);

    private static FileLeaseCore Core(int node) => new(Ids, new NodeIncarnation(Ids[node - 1], 1), Lease, Renew, 0.01, Ids[0]);

    private static SlotContent Empty => new(default, 0, 0, null);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Test]
    public void A_claim_counts_only_after_it_was_read_back_and_lasts_from_the_write()
    {
        var core = Core(1);
        var claim = core.Read(Ms(0), Alone1, [Empty, Empty]);
        Assert.That((claim!.Claim, core.Grant(Ms(1)).View), Is.EqualTo(((ViewId?)Alone1.Id, (ViewId?)null)), "written, not yet verified");

        core.Written(Ms(1));
        core.Read(Ms(2), Alone1, [claim, Empty]);
        var grant = core.Grant(Ms(3));

        Assert.That((grant.View, grant.Until, grant.Detail), Is.EqualTo(((ViewId?)Alone1.Id, Ms(1) + (Lease * 0.99), "held")));
    }

    [Test]
    public void Another_views_claim_blocks_until_it_has_been_silent_for_the_lease_with_drift()
    {
        var core = Core(1);
        var theirs = new SlotContent(Ids[1], 1, 7, Alone2);
        Assert.That(core.Read(Ms(0), Alone1, [Empty, theirs]), Is.Null);
        Assert.That(core.Read(Ms(504), Alone1, [Empty, theirs]), Is.Null, "500 ms × 1.01 not yet over");
        Assert.That(core.Grant(Ms(504)).Detail, Is.EqualTo($"node 2's claim for view {Alone2} changed 504 ms ago; waiting until it has been silent for the lease"));
        Assert.That(core.BlockedUntil, Is.EqualTo(Ms(0) + (Lease * 1.01) + TimeSpan.FromTicks(1)), "read again when it falls silent");
        Assert.That(core.Read(Ms(506), Alone1, [Empty, theirs])?.Claim, Is.EqualTo(Alone1.Id));
    }

    [Test]
    public void Claims_that_collide_both_withdraw_and_the_tie_breakers_view_retries_first()
    {
        var one = Core(1);
        var two = Core(2);
        var view2 = new View(Alone2, [new NodeIncarnation(Ids[1], 1)]);
        var c1 = one.Read(Ms(0), Alone1, [Empty, Empty])!;
        var c2 = two.Read(Ms(0), view2, [Empty, Empty])!;
        one.Written(Ms(1));
        two.Written(Ms(1));

        var w1 = one.Read(Ms(2), Alone1, [c1, c2]);
        var w2 = two.Read(Ms(2), view2, [c1, c2]);

        Assert.That((w1!.Claim, w2!.Claim), Is.EqualTo(((ViewId?)null, (ViewId?)null)), "both withdraw");
        Assert.That(one.Grant(Ms(3)).View ?? two.Grant(Ms(3)).View, Is.Null);
        one.Written(Ms(3));
        two.Written(Ms(3));
        Assert.That(one.Read(Ms(4), Alone1, [w1, w2])?.Claim, Is.EqualTo(Alone1.Id), "node 1's view holds the tie breaker: no back-off");
        Assert.That(two.Read(Ms(4), view2, [w1, w2]), Is.Null, "node 2 backs off");
    }

    [Test]
    public void A_holder_that_sees_another_views_claim_change_withdraws()
    {
        var core = Core(1);
        var claim = core.Read(Ms(0), Alone1, [Empty, Empty])!;
        core.Written(Ms(1));
        core.Read(Ms(2), Alone1, [claim, Empty]);

        var withdraw = core.Read(Ms(150), Alone1, [claim, new SlotContent(Ids[1], 2, 1, Alone2)]);

        Assert.That((withdraw!.Claim, core.Grant(Ms(151)).View), Is.EqualTo(((ViewId?)null, (ViewId?)null)));
    }

    [Test]
    public void A_slot_written_by_another_node_blocks_like_an_unreadable_one()
    {
        var core = Core(1);
        var stranger = new SlotContent(new NodeId(7), 1, 3, null);

        Assert.That(core.Read(Ms(0), Alone1, [Empty, stranger]), Is.Null);
        Assert.That(core.Grant(Ms(0)).Detail, Does.Contain("(unreadable slot)"));
    }

    [Test]
    public void A_slot_round_trips_and_a_torn_one_reads_as_unknown()
    {
        var content = new SlotContent(Ids[1], 4, 99, Alone2);
        var bytes = new byte[SlotFile.SlotBytes];
        SlotFile.Encode(content, bytes);
        var torn = bytes.ToArray();
        torn[20] ^= 1;

        Assert.That(SlotFile.Decode(bytes), Is.EqualTo(content));
        Assert.That(SlotFile.Decode(torn), Is.Null);
        Assert.That(SlotFile.Decode(new byte[SlotFile.SlotBytes]), Is.EqualTo(Empty), "never written");
    }

    [Test]
    public void Options_are_validated_with_their_keys()
    {
        const string S = WitnessFileOptions.Section;
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [S + ":Path"] = "relative/file",
            [S + ":Lease"] = "200",
            [S + ":TieBreaker"] = "9",
        }).Build().GetSection(S);

        var problems = new WitnessFileOptions.Validator().Validate(section, [new ClusterNode(Ids[0], "a", 1), new ClusterNode(Ids[1], "b", 1)]).Select(p => (p.Key, p.Expected));

        Assert.That(problems, Is.EquivalentTo(new[]
        {
            (S + ":Path", "the absolute path of the shared file, the same on every node"),
            (S + ":TieBreaker", "lowest, highest, or the id of a node in the document"),
        }));
        var fine = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [S + ":Path"] = "/srv/lease", [S + ":Lease"] = "200" }).Build().GetSection(S);
        Assert.That(new WitnessFileOptions.Validator().Validate(fine).Select(p => p.Expected), Is.EqualTo(new[] { "at least three renew intervals (300 ms)" }));
    }
}
