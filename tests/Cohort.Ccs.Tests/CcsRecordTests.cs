using System.Text;
using Cohort.ClusterConfiguration;
using Cohort.Cores;
using Cohort.Membership;

namespace Cohort.Ccs.Tests;

/// <summary>The records CCS persists: what a node reads back at start-up, and that damage is refused.</summary>
public class CcsRecordTests
{
    private static ConfigVersion Version(long number, string text, ViewId ballot = default) =>
        new(number, Encoding.UTF8.GetBytes(text), CcsHash.Of(Encoding.UTF8.GetBytes(text)), ballot, new NodeIncarnation(new NodeId(1), 3), number, DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));

    private static Dictionary<string, ReadOnlyMemory<byte>> Records(IEnumerable<PersistRecord> records) =>
        records.ToDictionary(r => r.Name, r => r.Contents);

    [Test]
    public void A_seeded_node_holds_version_1_and_nothing_in_doubt()
    {
        var first = Version(1, "votes=1:1");
        var contents = CcsCore.Load(Records(CcsCore.Seed(first)));
        Assert.Multiple(() =>
        {
            Assert.That(contents.Committed?.Version, Is.EqualTo(1));
            Assert.That(contents.Committed?.Sha256, Is.EqualTo(first.Sha256));
            Assert.That(contents.Committed?.Document.ToArray(), Is.EqualTo(first.Document.ToArray()));
            Assert.That(contents.InDoubt, Is.Null);
            Assert.That(contents.History, Has.Count.EqualTo(1));
        });
    }

    [Test]
    public void An_accepted_version_after_the_committed_one_is_in_doubt()
    {
        var records = Records(CcsCore.Seed(Version(1, "votes=1:1")));
        records[CcsCore.AcceptorRecord] = CcsCodec.AcceptorRecord(new ViewId(4, new NodeId(2)), Version(2, "votes=1:1;n=2", new ViewId(4, new NodeId(2))));
        var contents = CcsCore.Load(records);
        Assert.That(contents.InDoubt?.Version, Is.EqualTo(2));
        Assert.That(contents.InDoubt?.Ballot, Is.EqualTo(new ViewId(4, new NodeId(2))));
    }

    [TestCase(CcsCore.LogRecord)]
    [TestCase(CcsCore.AcceptorRecord)]
    public void A_truncated_record_is_refused_by_name(string name)
    {
        var records = Records(CcsCore.Seed(Version(1, "votes=1:1")));
        records[CcsCore.AcceptorRecord] = CcsCodec.AcceptorRecord(new ViewId(4, new NodeId(2)), null);
        for (var length = 0; length < records[name].Length; length += 7)
        {
            var damaged = new Dictionary<string, ReadOnlyMemory<byte>>(records) { [name] = records[name][..length] };
            var error = Assert.Throws<InvalidDataException>(() => CcsCore.Load(damaged), $"truncated to {length} bytes");
            Assert.That(error!.Message, Does.StartWith(name + ":"));
        }
    }

    [TestCase(CcsCore.LogRecord)]
    [TestCase(CcsCore.AcceptorRecord)]
    public void A_record_with_a_flipped_bit_is_refused_by_name(string name)
    {
        var records = Records(CcsCore.Seed(Version(1, "votes=1:1")));
        records[CcsCore.AcceptorRecord] = CcsCodec.AcceptorRecord(new ViewId(4, new NodeId(2)), Version(2, "votes=1:1;n=2"));
        for (var bit = 0; bit < records[name].Length * 8; bit += 13)
        {
            var bytes = records[name].ToArray();
            bytes[bit / 8] ^= (byte)(1 << (bit % 8));
            var damaged = new Dictionary<string, ReadOnlyMemory<byte>>(records) { [name] = bytes };
            var error = Assert.Throws<InvalidDataException>(() => CcsCore.Load(damaged), $"bit {bit} flipped");
            Assert.That(error!.Message, Does.StartWith(name + ":"));
        }
    }
}
