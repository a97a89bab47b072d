using Cohort.Membership;

namespace Cohort.Quorum.WitnessNode.Tests;

/// <summary>
/// The witness's safety property against ground truth: under random schedules of view changes,
/// message delays and node deaths, no two views ever count the witness's vote at one instant, where a
/// node counts a grant from the answer's arrival until its send time + lease × (1−ρ), or until it moves
/// to another view. The checker proves itself on a mutant arbiter.
/// </summary>
public sealed class WitnessExclusionCheckerTests
{
    private const double Rho = 0.01;
    private static readonly TimeSpan Lease = TimeSpan.FromMilliseconds(500);

    [Test]
    public void No_two_views_count_the_vote_at_once_in_random_schedules()
    {
        var moves = 0;
        for (var seed = 1; seed <= 200; seed++)
        {
            var (violation, granted) = Run(seed, WitnessMutant.None);
            Assert.That(violation, Is.Null, $"seed {seed}");
            moves += granted - 1;
        }

        Assert.That(moves, Is.GreaterThan(1000), "the schedules must move the vote between views often");
        TestContext.Out.WriteLine($"the vote moved {moves} times");
    }

    [Test]
    public void The_checker_catches_an_arbiter_that_grants_while_another_view_holds_the_vote()
    {
        var caught = Enumerable.Range(1, 200).Select(seed => Run(seed, WitnessMutant.NoExclusion).Violation).FirstOrDefault(v => v is not null);
        Assert.That(caught, Is.Not.Null, "the mutant went unnoticed in 200 schedules");
        TestContext.Out.WriteLine(caught);
    }

    /// <summary>Runs one schedule; returns the first violation (or null) and how many views got the vote.</summary>
    private static (string? Violation, int GrantedViews) Run(int seed, WitnessMutant mutant)
    {
        var random = new Random(seed);
        var arbiter = new WitnessArbiter(TimeSpan.FromSeconds(1), TimeSpan.Zero, mutant);
        const int nodes = 4;
        var views = new (ViewId View, int[] Members)[nodes + 1];
        var lastArrival = new TimeSpan[nodes + 1];
        var alive = Enumerable.Repeat(true, nodes + 1).ToArray();
        var movedAt = new Dictionary<(int Node, ViewId View), TimeSpan>();
        var counted = new List<(int Node, ViewId View, TimeSpan From, TimeSpan To)>();
        long seq = 1;
        for (var n = 1; n <= nodes; n++)
        {
            views[n] = (new ViewId(1, new NodeId(1)), [1, 2, 3, 4]);
        }

        var now = TimeSpan.FromSeconds(2); // past the witness's quiet period
        for (var step = 0; step < 400; step++)
        {
            now += TimeSpan.FromMilliseconds(random.Next(1, 60));
            var node = random.Next(1, nodes + 1);
            if (!alive[node])
            {
                alive[node] = random.Next(10) == 0; // a dead node rarely comes back, in the same view
                continue;
            }

            if (random.Next(20) == 0)
            {
                alive[node] = false; // dies: it stops asking and counting nothing beyond its grants
                continue;
            }

            if (random.Next(6) == 0)
            {
                // A new view: this node and a random set of others.
                var members = Enumerable.Range(1, nodes).Where(m => m == node || random.Next(2) == 0).ToArray();
                movedAt[(node, views[node].View)] = now;
                views[node] = (new ViewId(++seq, new NodeId(members[0])), members);
            }

            var (view, viewMembers) = views[node];
            var sent = now;
            var arrival = Max(sent + TimeSpan.FromMilliseconds(random.Next(0, 80)), lastArrival[node]);
            lastArrival[node] = arrival;
            var answer = arbiter.Ask(new WitnessRequest("c", new NodeIncarnation(new NodeId(node), 1), view, viewMembers, 1, Lease, Rho, sent.Ticks), arrival);
            if (answer.Granted)
            {
                var received = arrival + TimeSpan.FromMilliseconds(random.Next(0, 80));
                counted.Add((node, view, received, sent + (Lease * (1 - Rho))));
            }
        }

        // A node stops counting a grant when it moves on to another view.
        var intervals = counted
            .Select(c => (c.Node, c.View, c.From, To: movedAt.TryGetValue((c.Node, c.View), out var moved) ? Min(c.To, moved) : c.To))
            .Where(c => c.From < c.To)
            .ToList();
        foreach (var a in intervals)
        {
            foreach (var b in intervals)
            {
                if (a.View != b.View && a.From < b.To && b.From < a.To)
                {
                    return ($"seed {seed}: node {a.Node} counted view {a.View} over [{a.From.TotalMilliseconds}, {a.To.TotalMilliseconds}) ms while node {b.Node} counted view {b.View} over [{b.From.TotalMilliseconds}, {b.To.TotalMilliseconds}) ms", 0);
                }
            }
        }

        return (null, counted.Select(c => c.View).Distinct().Count());
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
