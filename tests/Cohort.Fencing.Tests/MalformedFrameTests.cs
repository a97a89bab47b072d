using System.Text;
using Cohort.Cores;
using Cohort.Membership;
using Cohort.Transport;
using static Cohort.Fencing.Tests.FencingCluster;

namespace Cohort.Fencing.Tests;

/// <summary>Frames the core must drop without throwing, and a seeded fuzz over mutated valid frames.</summary>
public class MalformedFrameTests
{
    private static byte[] Tagged(string json) => [FencingWire.Tag, .. Encoding.UTF8.GetBytes(json)];

    private static byte[] FencedRecordFrame(int victimNode) => FencingWire.EncodeFrame(new WireFrame(Record: new WireRecord(1, 1, 77, victimNode, 1, 1, "ipmi", (int)FenceAction.Off, (int)FenceResult.Success, (int)FenceReason.Departed, true, 1, 0, "forged")));

    private static IEnumerable<TestCaseData> Garbage()
    {
        var random = new Random(20240611);
        var valid = FencedRecordFrame(3);
        yield return new TestCaseData(Array.Empty<byte>()).SetName("empty");
        yield return new TestCaseData(new[] { FencingWire.Tag }).SetName("tag only");
        for (var i = 0; i < 5; i++)
        {
            var bytes = new byte[random.Next(1, 200)];
            random.NextBytes(bytes);
            yield return new TestCaseData(bytes).SetName($"random bytes {i}");
        }

        yield return new TestCaseData(valid[1..]).SetName("valid JSON without the tag");
        yield return new TestCaseData((byte[])[0xFD, .. valid[1..]]).SetName("wrong tag");
        yield return new TestCaseData(valid[..(valid.Length / 2)]).SetName("truncated JSON");
        yield return new TestCaseData(valid[..^1]).SetName("JSON missing its last brace");
        yield return new TestCaseData(Tagged("null")).SetName("null");
        yield return new TestCaseData(Tagged("[]")).SetName("an array");
        yield return new TestCaseData(Tagged("{}")).SetName("no part set");
        yield return new TestCaseData(Tagged("\"record\"")).SetName("a string");
        yield return new TestCaseData(Tagged("{\"record\":null,\"sync\":null,\"victim\":null,\"ack\":null}")).SetName("every part null");
        yield return new TestCaseData(Tagged("{\"record\":{}}")).SetName("an empty record");
        yield return new TestCaseData(Tagged("{\"record\":[1,2]}")).SetName("a record of the wrong type");
        yield return new TestCaseData(Tagged("{\"ack\":\"three\"}")).SetName("an ack of the wrong type");
        yield return new TestCaseData(Tagged("{\"ack\":99999999999}")).SetName("an ack out of range");
        yield return new TestCaseData(Tagged("{\"victim\":{\"node\":3,\"incarnation\":1,\"reason\":99,\"action\":0}}")).SetName("a victim with an unknown reason");
        yield return new TestCaseData(Tagged("{\"victim\":{}}")).SetName("an empty victim");
        yield return new TestCaseData(Tagged(Encoding.UTF8.GetString(valid[1..]).Replace("\"result\":1", "\"result\":9", StringComparison.Ordinal))).SetName("a record with an unknown result");
        yield return new TestCaseData(Tagged(Encoding.UTF8.GetString(valid[1..]).Replace("\"device\":\"ipmi\"", "\"device\":null", StringComparison.Ordinal))).SetName("a record without a device");
        yield return new TestCaseData(Tagged(Encoding.UTF8.GetString(valid[1..]).Replace("\"action\":1", "\"action\":0", StringComparison.Ordinal))).SetName("a record with no action");
        yield return new TestCaseData(Tagged(new string('[', 5000) + new string(']', 5000))).SetName("nested too deep");
        yield return new TestCaseData(new byte[] { FencingWire.Tag, (byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}' }).SetName("invalid UTF-8");
    }

    [TestCaseSource(nameof(Garbage))]
    public void A_malformed_frame_from_a_member_is_dropped(byte[] frame)
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        var record = cluster[2].Record;
        List<CoreOutput> outputs = [];
        Assert.DoesNotThrow(() => outputs = cluster.Step(2, new FrameReceived(Inc(1, 1), TransportLane.Data, frame)));
        Assert.Multiple(() =>
        {
            Assert.That(outputs, Is.Empty);
            Assert.That(cluster[2].Record, Is.EqualTo(record));
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.False);
        });
    }

    [Test]
    public void A_victim_frame_with_an_unknown_action_uses_the_topologys()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Step(1, new FrameReceived(Inc(2, 1), TransportLane.Data, Tagged("{\"victim\":{\"node\":3,\"incarnation\":1,\"reason\":2,\"action\":77}}")));
        Assert.That(cluster[1].Running.Single(), Is.EqualTo(new RunFenceDevice(1, Inc(3, 1), 1, "ipmi-3", FenceAction.Off, 1)));
    }

    private static IEnumerable<TestCaseData> Strangers()
    {
        yield return new TestCaseData(Inc(9, 1)).SetName("a node outside the view");
        yield return new TestCaseData(Inc(1, 2)).SetName("another incarnation of a member");
        yield return new TestCaseData(Inc(3, 1)).SetName("a member that departed");
    }

    [TestCaseSource(nameof(Strangers))]
    public void A_frame_from_a_non_member_is_dropped(NodeIncarnation from)
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        cluster.Crash(3);
        cluster.Install([1, 2]);
        cluster.Deliver();
        var history = cluster[2].Core.Status.History.Count;
        var outputs = cluster.Step(2, new FrameReceived(from, TransportLane.Data, FencedRecordFrame(3)));
        outputs.AddRange(cluster.Step(2, new FrameReceived(from, TransportLane.Data, FencingWire.EncodeFrame(new WireFrame(Ack: 3)))));
        Assert.Multiple(() =>
        {
            Assert.That(outputs, Is.Empty);
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.False);
            Assert.That(cluster[2].Core.Status.History, Has.Count.EqualTo(history));
        });
    }

    [Test]
    public void A_frame_on_the_membership_lane_is_dropped_and_one_from_outside_the_view_waits_for_it()
    {
        var cluster = new FencingCluster(Topologies.Ipmi(3));
        cluster.Start(Inc(2, 1));
        Assert.Multiple(() =>
        {
            Assert.That(cluster.Step(2, new FrameReceived(Inc(1, 1), TransportLane.Membership, FencedRecordFrame(3))), Is.Empty);
            Assert.That(cluster.Step(2, new FrameReceived(Inc(1, 1), TransportLane.Data, FencedRecordFrame(3))), Is.Empty, "nothing is learned from a node outside this node's view");
            Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.False);
        });

        // The sender's view reached this node after its frame (they travel on different lanes): heard now.
        cluster.Start(Inc(1, 1));
        cluster.Install([1, 2]);
        Assert.That(cluster[2].Core.IsOpen(Inc(3, 1)), Is.True);
    }

    [Test]
    public void A_duplicated_frame_is_learned_once()
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        var frame = FencedRecordFrame(3);
        cluster.Step(2, new FrameReceived(Inc(1, 1), TransportLane.Data, frame));
        var again = cluster.Step(2, new FrameReceived(Inc(1, 1), TransportLane.Data, frame));
        Assert.Multiple(() =>
        {
            Assert.That(again, Is.Empty);
            Assert.That(cluster[2].Core.Status.History, Has.Count.EqualTo(1));
            Assert.That(cluster[2].Published<FenceRecorded>(), Has.Exactly(1).Items);
        });
    }

    /// <summary>
    /// Regression (a bug this test found in the core, now fixed): a sync frame whose lists are missing or hold nulls decodes (System.Text.Json leaves absent
    /// constructor parameters null), and <c>OnFrame</c> dereferences them: <see cref="NullReferenceException"/>
    /// from <see cref="FencingCore.Handle"/>, which stops the node. One flipped byte in a list's name is enough.
    /// </summary>
    [TestCase("{\"sync\":{}}")]
    [TestCase("{\"sync\":{\"victims\":[],\"candidates\":[],\"fenced\":[],\"clean\":[]}}")]
    [TestCase("{\"sync\":{\"victims\":[null],\"candidates\":[],\"fenced\":[],\"clean\":[],\"history\":[]}}")]
    [TestCase("{\"sync\":{\"victims\":[],\"candidates\":[],\"fenced\":[null],\"clean\":[],\"history\":[]}}")]
    [TestCase("{\"sync\":{\"victims\":[],\"candidates\":[],\"fenced\":[],\"clean\":[],\"history\":[null]}}")]

    public void A_sync_with_missing_lists_or_null_entries_is_dropped(string json)
    {
        var cluster = Formed(3, Topologies.Ipmi(3));
        Assert.DoesNotThrow(() => cluster.Step(2, new FrameReceived(Inc(1, 1), TransportLane.Data, Tagged(json))));
    }

    /// <summary>Valid frames of every kind, as the cores sent them in a busy scenario.</summary>
    private static List<byte[]> Corpus(bool sync)
    {
        var cluster = Formed(5, Topologies.IpmiThenPdus(6));
        cluster.Crash(5);
        cluster.Install([1, 2, 3, 4], clean: []);
        cluster.CompleteOnly(1, FenceResult.Timeout, "ipmi: \"timed out\" \u00e9");
        cluster.CompleteOnly(1, FenceResult.Success);
        cluster.Request(3, new FenceNodeRequest(1, new NodeId(4), FenceAction.Reboot));
        cluster.Request(3, new FenceAckRequest(new NodeId(4)));
        cluster.Deliver();
        cluster.Install([1, 2, 3], clean: [Inc(4, 1)]);
        cluster.Start(Inc(6, 3));
        cluster.Install([1, 2, 3, 6]);
        cluster.Deliver();
        var frames = cluster.Sent.Select(s => s.Frame.Frame.ToArray()).Where(f => FencingWire.DecodeFrame(f) is { } frame && (frame.Sync is not null) == sync).ToList();
        Assert.That(frames, Is.Not.Empty);
        return frames;
    }

    [TestCase(false, 1)]
    [TestCase(false, 2)]
    [TestCase(true, 3)]
    public void Mutated_valid_frames_never_make_the_core_throw(bool sync, int seed)
    {
        var corpus = Corpus(sync);
        var random = new Random(seed);
        var cluster = Formed(3, Topologies.IpmiThenPdus(9));
        for (var iteration = 0; iteration < 3000; iteration++)
        {
            var frame = Mutate(corpus[random.Next(corpus.Count)], corpus, random);
            var from = Inc(random.Next(2) == 0 ? 1 : 3, 1);
            Assert.DoesNotThrow(
                () => cluster.Step(2, new FrameReceived(from, TransportLane.Data, frame)),
                $"seed {seed}, iteration {iteration}: {Convert.ToHexString(frame)}");
            cluster.Lose();
        }

        // Whatever it learned, it persisted a record it can start from again.
        Assert.That(cluster[2].Record, Is.Not.Null, "some mutated frames are still valid and teach the core something");
        Assert.That(() => cluster.Restart(2, 2), Throws.Nothing);
    }

    private static byte[] Mutate(byte[] original, List<byte[]> corpus, Random random)
    {
        var bytes = original.ToList();
        var mutations = random.Next(1, 4);
        for (var m = 0; m < mutations && bytes.Count > 0; m++)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(7))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                case 3:
                    bytes.RemoveRange(at, Math.Min(random.Next(1, 16), bytes.Count - at));
                    break;
                case 4:
                    bytes.Insert(at, (byte)"{}[]\":,0-9enulltrue"[random.Next(19)]);
                    break;
                case 5:
                    var other = corpus[random.Next(corpus.Count)];
                    var from = random.Next(other.Length);
                    bytes.InsertRange(at, other.Skip(from).Take(random.Next(1, 40)));
                    break;
                default:
                    bytes[at] = (byte)"0123456789"[random.Next(10)];
                    break;
            }
        }

        if (bytes.Count > 0 && random.Next(4) != 0)
        {
            bytes[0] = FencingWire.Tag; // mostly past the tag check, into the decoder and the core
        }

        return [.. bytes];
    }
}
