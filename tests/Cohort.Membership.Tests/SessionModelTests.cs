using System.Buffers.Binary;
using Cohort.Cores;
using Cohort.Simulation;
using Cohort.Transport;

namespace Cohort.Membership.Tests;

/// <summary>
/// The simulator's session model for service cores (DESIGN.md, transport contract): frames arrive in
/// order and once, and are lost only at a session reset that both ends hear of. A probe core numbers
/// its frames per peer and checks them, under the random fault plan.
/// </summary>
public class SessionModelTests
{
    [Test]
    public void Sessions_are_fifo_without_duplicates_or_unreported_loss_under_faults()
    {
        var probes = new List<SessionProbe>();
        long received = 0, resets = 0;
        for (var seed = 1UL; seed <= 4; seed++)
        {
            var setup = Clusters.VoteQuorum(4) with
            {
                Service = self =>
                {
                    var probe = new SessionProbe(4);
                    probes.Add(probe);
                    return probe;
                },
            };
            var (cluster, _, _) = SimulationRunner.RunOne(setup, seed, TimeSpan.FromSeconds(30));
            Assert.That(cluster.Violation, Is.Null, cluster.Violation?.Detail);
            Assert.That(probes.SelectMany(p => p.Violations), Is.Empty, $"seed {seed}");
            received += probes.Sum(p => p.Received);
            resets += probes.Sum(p => p.Resets);
            probes.Clear();
        }

        TestContext.Out.WriteLine($"{received} frames checked, {resets} session resets");
        Assert.That(received, Is.GreaterThan(10_000));
        Assert.That(resets, Is.GreaterThan(0), "the faults broke sessions");
    }

    /// <summary>The probe is a checker too: it catches a session model whose frames overtake each other.</summary>
    [Test]
    public void The_probe_catches_frames_that_overtake_each_other()
    {
        var probes = new List<SessionProbe>();
        var setup = Clusters.VoteQuorum(3) with
        {
            Service = _ =>
            {
                var probe = new SessionProbe(3);
                probes.Add(probe);
                return probe;
            },
        };
        var cluster = new SimulatedCluster(setup, 3) { BreakSessionOrder = true, Jitter = TimeSpan.FromMilliseconds(50) };
        cluster.RunUntil(TimeSpan.FromSeconds(2));
        Assert.That(probes.SelectMany(p => p.Violations), Is.Not.Empty);
    }

    [Test]
    public void The_service_core_is_traced_so_seeds_still_replay()
    {
        string Run() => SimulationRunner.RunOne(Clusters.VoteQuorum(3) with { Service = _ => new SessionProbe(3) }, 5, TimeSpan.FromSeconds(10)).Cluster.TraceHash;
        var withoutService = SimulationRunner.RunOne(Clusters.VoteQuorum(3), 5, TimeSpan.FromSeconds(10)).Cluster.TraceHash;
        var first = Run();
        Assert.That(Run(), Is.EqualTo(first));
        Assert.That(first, Is.Not.EqualTo(withoutService));
    }

    /// <summary>Sends every peer a numbered frame every 10 ms, addressed to the peer incarnation it
    /// knows; expects each peer incarnation's frames numbered 0, 1, 2, ... until a reset, after which
    /// both ends start again from 0.</summary>
    private sealed class SessionProbe(int nodes) : IProtocolCore
    {
        private readonly long[] _nextToSend = new long[nodes + 1];
        private readonly long[] _known = new long[nodes + 1];
        private readonly Dictionary<NodeIncarnation, long> _expected = [];
        private NodeIncarnation _self;

        public List<string> Violations { get; } = [];

        public long Received { get; private set; }

        public long Resets { get; private set; }

        public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
        {
            switch (input)
            {
                case CoreStarted started:
                    _self = started.Self;
                    outputs.Add(new SetTimer("tick", now + TimeSpan.FromMilliseconds(10)));
                    break;
                case TimerFired:
                    for (var peer = 1; peer <= nodes; peer++)
                    {
                        if (peer != _self.Node.Value)
                        {
                            var frame = new byte[8];
                            BinaryPrimitives.WriteInt64LittleEndian(frame, _nextToSend[peer]++);
                            outputs.Add(new SendFrame(new NodeId(peer), TransportLane.Data, frame, _known[peer]));
                        }
                    }

                    outputs.Add(new SetTimer("tick", now + TimeSpan.FromMilliseconds(10)));
                    break;
                case FrameReceived frame:
                    var seq = BinaryPrimitives.ReadInt64LittleEndian(frame.Frame.Span);
                    var expected = _expected.GetValueOrDefault(frame.From);
                    if (seq != expected)
                    {
                        Violations.Add($"{_self} from {frame.From}: expected frame {expected}, got {seq}");
                    }

                    _expected[frame.From] = seq + 1;
                    if (frame.From.Incarnation > _known[frame.From.Node.Value])
                    {
                        if (_known[frame.From.Node.Value] != 0)
                        {
                            _nextToSend[frame.From.Node.Value] = 0; // a new incarnation replaced the one we spoke to
                        }

                        _known[frame.From.Node.Value] = frame.From.Incarnation;
                    }

                    Received++;
                    break;
                case SessionReset reset:
                    _expected.Remove(reset.Peer);
                    if (_known[reset.Peer.Node.Value] is var known && (known == reset.Peer.Incarnation || known == 0))
                    {
                        _known[reset.Peer.Node.Value] = 0;
                        _nextToSend[reset.Peer.Node.Value] = 0;
                    }

                    Resets++;
                    break;
                default:
                    break;
            }
        }
    }
}
