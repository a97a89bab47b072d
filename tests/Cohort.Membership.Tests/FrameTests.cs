using Cohort.Simulation;

namespace Cohort.Membership.Tests;

public class FrameTests
{
    private static readonly byte[] Hash = [.. Enumerable.Range(0, 32).Select(i => (byte)i)];

    private static IEnumerable<object> Frames() =>
    [
        new Heartbeat(Hash, 7, 123_456, new ViewId(4, new NodeId(1)), new ViewId(5, new NodeId(2)), 9, 777, new ViewId(4, new NodeId(1)), 555, HeartbeatFlags.PromisesExpired | HeartbeatFlags.Leaving, 3),
        new Propose(new ViewId(5, new NodeId(2)), Hash, [new NodeIncarnation(new NodeId(2), 3), new NodeIncarnation(new NodeId(4), 1)], [new NodeIncarnation(new NodeId(5), 2)], 4),
        new Accept(new ViewId(5, new NodeId(2))),
        new Install(new ViewId(5, new NodeId(2))),
        new Farewell(new ViewId(6, new NodeId(1))),
        new StateRecord(12, new ViewId(11, new NodeId(3)), Hash, [new NodeIncarnation(new NodeId(3), 8)]),
    ];

    [TestCaseSource(nameof(Frames))]
    public void RoundTrips(object frame)
    {
        var decoded = MembershipFrames.Decode(MembershipFrames.Encode(frame));
        Assert.That(MembershipFrames.Encode(decoded!), Is.EqualTo(MembershipFrames.Encode(frame)));
        Assert.That(decoded!.GetType(), Is.EqualTo(frame.GetType()));
    }

    [TestCaseSource(nameof(Frames))]
    public void TruncatedOrExtendedFramesAreRejected(object frame)
    {
        var bytes = MembershipFrames.Encode(frame);
        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.That(MembershipFrames.Decode(bytes.AsSpan(0, length)), Is.Null, $"truncated to {length}");
        }

        Assert.That(MembershipFrames.Decode([.. bytes, 0]), Is.Null, "a trailing byte");
        var wrongVersion = bytes.ToArray();
        wrongVersion[0] = 2;
        Assert.That(MembershipFrames.Decode(wrongVersion), Is.Null, "another version");
    }

    /// <summary>Fuzzing: mutated frames decode to something or to null, and the core digests whatever
    /// decodes without throwing.</summary>
    [Test]
    public void MutatedFramesNeverThrow()
    {
        var random = new SimRandom(99);
        var setup = Clusters.VoteQuorum(3);
        var core = new MembershipCore(setup.Nodes, setup.Cluster, setup.ConfigHash, setup.Policy(), setup.Membership);
        var outputs = new List<Cores.CoreOutput>();
        core.Handle(new Cores.CoreStarted(new NodeIncarnation(new NodeId(1), 1), new Dictionary<string, ReadOnlyMemory<byte>>()), TimeSpan.Zero, outputs);
        var valid = Frames().Select(MembershipFrames.Encode).ToList();
        valid.Add(MembershipFrames.Encode(new Propose(new ViewId(9, new NodeId(2)), setup.ConfigHash, [new NodeIncarnation(new NodeId(1), 1), new NodeIncarnation(new NodeId(2), 1)], [], 0)));
        var now = TimeSpan.Zero;
        for (var i = 0; i < 50_000; i++)
        {
            var frame = valid[random.Next(valid.Count)].ToArray();
            for (var flips = 1 + random.Next(4); flips > 0; flips--)
            {
                frame[random.Next(frame.Length)] = (byte)random.Next(256);
            }

            MembershipFrames.Decode(frame);
            now += TimeSpan.FromMilliseconds(1);
            outputs.Clear();
            core.Handle(new Cores.FrameReceived(new NodeIncarnation(new NodeId(2 + random.Next(2)), 1 + random.Next(2)), Transport.TransportLane.Membership, frame), now, outputs);
        }

        Assert.That(core.Phase, Is.Not.EqualTo(MembershipPhase.Left));
    }
}
