using Cohort.Membership;

namespace Cohort.Quorum.WitnessFile.Tests;

/// <summary>
/// The file lease's safety against ground truth: nodes run the real core against a simulated shared
/// file whose slot reads and writes take effect at random instants within IOs of random length (some
/// hang for seconds), under pauses, deaths, drifting clocks and random view changes. No two views may
/// count the vote at one instant of real time. The checker proves itself on a mutant.
/// </summary>
public sealed class FileLeaseCheckerTests
{
    private const double Rho = 0.01;
    private static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Renew = TimeSpan.FromMilliseconds(100);

    [Test]
    public void No_two_views_count_the_vote_at_once_in_random_schedules()
    {
        var moves = 0;
        for (var seed = 1; seed <= 150; seed++)
        {
            var (violation, views) = Run(seed, FileLeaseMutant.None);
            Assert.That(violation, Is.Null, $"seed {seed}");
            moves += views;
        }

        Assert.That(moves, Is.GreaterThan(300), "the schedules must move the vote between views often");
        TestContext.Out.WriteLine($"{moves} views held the vote over all schedules");
    }

    [Test]
    public void The_checker_catches_a_core_that_counts_a_claim_without_reading_back()
    {
        var caught = Enumerable.Range(1, 150).Select(seed => Run(seed, FileLeaseMutant.NoInterlock).Violation).FirstOrDefault(v => v is not null);
        Assert.That(caught, Is.Not.Null, "the mutant went unnoticed in 150 schedules");
        TestContext.Out.WriteLine(caught);
    }

    private static (string? Violation, int Views) Run(int seed, FileLeaseMutant mutant)
    {
        var random = new Random(seed);
        const int n = 3;
        var ids = Enumerable.Range(1, n).Select(i => new NodeId(i)).ToArray();
        var history = Enumerable.Range(0, n).Select(_ => new List<(TimeSpan At, SlotContent Content)>()).ToArray();
        var nodes = Enumerable.Range(0, n).Select(i => new SimNode(
            i,
            new FileLeaseCore(ids, new NodeIncarnation(ids[i], 1), Lease, Renew, Rho, ids[0], mutant),
            (random.NextDouble() * 2 - 1) * Rho)).ToArray();
        var queue = new PriorityQueue<(int Node, int Kind), (TimeSpan, long)>();
        long order = 0;
        void At(TimeSpan t, int node, int kind) => queue.Enqueue((node, kind), (t, order++));
        var counted = new List<(int Node, ViewId View, TimeSpan From, TimeSpan To)>();
        long seq = 1;
        for (var i = 0; i < n; i++)
        {
            nodes[i].View = new View(new ViewId(1, ids[0]), ids.Select(id => new NodeIncarnation(id, 1)));
            At(TimeSpan.FromMilliseconds(random.Next(0, 50)), i, 0);
        }

        TimeSpan Io() => TimeSpan.FromMilliseconds(random.Next(10) == 0 ? random.Next(100, 3000) : random.Next(0, 20));

        SlotContent? ReadSlot(int slot, TimeSpan at) => history[slot].LastOrDefault(h => h.At <= at).Content;

        void Record(int i, TimeSpan now)
        {
            var node = nodes[i];
            var grant = node.Core.Grant(node.Local(now));
            node.CloseGrant(now, counted);
            if (grant.View is { } view && node.View?.Id == view)
            {
                node.Open = (view, now, node.Real(grant.Until));
            }
        }

        var end = TimeSpan.FromSeconds(40);
        while (queue.TryDequeue(out var e, out var key) && key.Item1 < end)
        {
            var now = key.Item1;
            var node = nodes[e.Node];
            if (now < node.PausedUntil)
            {
                At(node.PausedUntil, e.Node, e.Kind);
                continue;
            }

            switch (e.Kind)
            {
                case 0: // start a read of every slot
                    if (random.Next(60) == 0)
                    {
                        // Paused: a grant it holds stays its belief (it acts on it the moment it resumes, if
                        // still before the grant's end); everything it would do waits until it resumes.
                        node.PausedUntil = now + TimeSpan.FromMilliseconds(random.Next(200, 3000));
                        At(node.PausedUntil, e.Node, 0);
                        break;
                    }

                    if (random.Next(8) == 0)
                    {
                        // A view change: this node and a random set of others.
                        var members = Enumerable.Range(0, n).Where(m => m == e.Node || random.Next(2) == 0).Select(m => new NodeIncarnation(ids[m], 1));
                        node.View = new View(new ViewId(++seq, ids[e.Node]), members);
                        node.CloseGrant(now, counted);
                    }

                    var done = now + Io();
                    node.PendingRead = [.. Enumerable.Range(0, n).Select(s => ReadSlot(s, now + TimeSpan.FromTicks((long)(random.NextDouble() * (done - now).Ticks))))];
                    At(done, e.Node, 1);
                    break;
                case 1: // the read completed
                    var write = node.Core.Read(node.Local(now), node.View, node.PendingRead!);
                    Record(e.Node, now);
                    if (write is null)
                    {
                        At(now + Renew, e.Node, 0);
                        break;
                    }

                    node.WriteStart = now;
                    var finish = now + Io();
                    history[e.Node].Add((now + TimeSpan.FromTicks((long)(random.NextDouble() * (finish - now).Ticks)), write));
                    history[e.Node].Sort((a, b) => a.At.CompareTo(b.At));
                    At(finish, e.Node, 2);
                    break;
                case 2: // the write completed
                    node.Core.Written(node.Local(node.WriteStart));
                    Record(e.Node, now);
                    At(now, e.Node, 0); // read back at once
                    break;
            }
        }

        foreach (var node in nodes)
        {
            node.CloseGrant(end, counted);
        }

        var intervals = counted.Where(c => c.From < c.To).ToList();
        foreach (var a in intervals)
        {
            foreach (var b in intervals.Where(b => b.View != a.View && a.From < b.To && b.From < a.To))
            {
                return ($"seed {seed}: node {a.Node} counted view {a.View} over [{a.From.TotalMilliseconds:F1}, {a.To.TotalMilliseconds:F1}) ms " +
                        $"while node {b.Node} counted view {b.View} over [{b.From.TotalMilliseconds:F1}, {b.To.TotalMilliseconds:F1}) ms", 0);
            }
        }

        return (null, intervals.Select(c => c.View).Distinct().Count());
    }

    private sealed class SimNode(int index, FileLeaseCore core, double drift)
    {
        public FileLeaseCore Core { get; } = core;

        public TimeSpan PausedUntil { get; set; }

        public View? View { get; set; }

        public SlotContent?[]? PendingRead { get; set; }

        public TimeSpan WriteStart { get; set; }

        public (ViewId View, TimeSpan From, TimeSpan To)? Open { get; set; }

        public TimeSpan Local(TimeSpan real) => TimeSpan.FromTicks((long)(real.Ticks * (1 + drift)));

        public TimeSpan Real(TimeSpan local) => TimeSpan.FromTicks((long)(local.Ticks / (1 + drift)));

        /// <summary>Ends the grant being counted now (a view change, a pause, a new report).</summary>
        public void CloseGrant(TimeSpan now, List<(int, ViewId, TimeSpan, TimeSpan)> counted)
        {
            if (Open is { } open)
            {
                counted.Add((index + 1, open.View, open.From, open.To < now ? open.To : now));
                Open = null;
            }
        }
    }
}
