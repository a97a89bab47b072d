using Cohort.Membership;

namespace Cohort.Fencing.PoisonPill.Tests;

/// <summary>The slot and header codec: what decodes as clear, as a message, and what is unreadable.</summary>
public sealed class PillLayoutTests
{
    private static readonly NodeIncarnation Target = new(new NodeId(3), 17);
    private static readonly NodeIncarnation Fencer = new(new NodeId(1), 4);

    private static byte[] Slot(PillKind kind = PillKind.Poison, NodeIncarnation? target = null)
    {
        var slot = new byte[PillLayout.SlotSize];
        PillLayout.Encode(new PillMessage(kind, target ?? Target, Fencer, 9, 1_700_000_000_000), slot);
        return slot;
    }

    [Test]
    public void A_message_decodes_to_what_was_encoded()
    {
        var content = PillLayout.Decode(Slot(), 3);

        Assert.That(content.Error, Is.Null);
        Assert.That(content.Message, Is.EqualTo(new PillMessage(PillKind.Poison, Target, Fencer, 9, 1_700_000_000_000)));
    }

    [Test]
    public void A_slot_of_zeros_was_never_written_and_is_clear()
    {
        var content = PillLayout.Decode(new byte[PillLayout.SlotSize], 3);

        Assert.That((content.NeverWritten, content.Error), Is.EqualTo((true, (string?)null)));
    }

    [TestCase(0, TestName = "A torn slot (its magic changed) is unreadable")]
    [TestCase(20, TestName = "A torn slot (its target incarnation changed) is unreadable")]
    [TestCase(300, TestName = "A torn slot (a byte past the message changed) is unreadable")]
    public void A_torn_slot_is_unreadable(int offset)
    {
        var slot = Slot();
        slot[offset] ^= 0x40;

        var content = PillLayout.Decode(slot, 3);

        Assert.That(content.Message, Is.Null);
        Assert.That(content.Error, Is.Not.Null.And.Contains("slot 3"));
    }

    [Test]
    public void A_write_torn_after_its_first_sector_half_is_unreadable_not_clear()
    {
        // The first 256 bytes of a new message over zeros, the rest never landed: still not the zeros of "clear".
        var slot = new byte[PillLayout.SlotSize];
        Slot().AsSpan(0, 40).CopyTo(slot);

        Assert.That(PillLayout.Decode(slot, 3).Error, Does.Contain("checksum"));
    }

    [Test]
    public void Garbage_is_unreadable()
    {
        var slot = Enumerable.Range(0, PillLayout.SlotSize).Select(i => (byte)(i * 7 + 1)).ToArray();

        Assert.That(PillLayout.Decode(slot, 3).Error, Does.Contain("garbage"));
    }

    [Test]
    public void A_message_for_another_node_is_unreadable()
    {
        Assert.That(PillLayout.Decode(Slot(target: new NodeIncarnation(new NodeId(2), 17)), 3).Error, Does.Contain("misplaced"));
    }

    [Test]
    public void A_clear_message_decodes_as_clear()
    {
        Assert.That(PillLayout.Decode(Slot(PillKind.Clear), 3).Message?.Kind, Is.EqualTo(PillKind.Clear));
    }

    [Test]
    public void A_poison_for_an_older_incarnation_is_stale_and_condemns_only_that_one_and_older()
    {
        var reading = SelfFenceSlotReading.Poisoned(Target, Fencer, "");

        Assert.Multiple(() =>
        {
            Assert.That(reading.Condemns(Target), Is.True, "the incarnation it names");
            Assert.That(reading.Condemns(Target with { Incarnation = 16 }), Is.True, "an older incarnation still running (cannot be, but dies)");
            Assert.That(reading.Condemns(Target with { Incarnation = 18 }), Is.False, "a restarted node ignores its predecessor's poison");
            Assert.That(reading.Condemns(new NodeIncarnation(new NodeId(2), 17)), Is.False, "another node");
            Assert.That(SelfFenceSlotReading.Clear("").Condemns(Target), Is.False);
        });
    }

    [Test]
    public void The_header_round_trips_and_zeros_mean_never_laid_out()
    {
        var block = new byte[PillLayout.HeaderSize];
        Assert.That(PillLayout.ReadHeader(block), Is.EqualTo((0, 0, (string?)null)));

        PillLayout.WriteHeader(block);
        Assert.That(PillLayout.ReadHeader(block), Is.EqualTo((PillLayout.SlotSize, PillLayout.SlotCount, (string?)null)));

        block[14] ^= 1;
        Assert.That(PillLayout.ReadHeader(block).Error, Does.Contain("checksum"));
        block[0] = (byte)'X';
        Assert.That(PillLayout.ReadHeader(block).Error, Does.Contain("not a poison-pill device"));
    }
}
