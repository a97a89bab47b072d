using Cohort.Cores;
using Cohort.Simulation;

namespace Cohort.Membership.Tests;

public class SimulatorTimerTests
{
    /// <summary>A timer moved while its old event waits in a paused node's backlog fires once, at its
    /// new time. (The simulator once delivered the stale event and lost the moved timer; a workaround in
    /// the membership core's heartbeat hid it.)</summary>
    [Test]
    public void A_timer_moved_while_its_old_event_waits_in_the_backlog_fires_once_at_its_new_time()
    {
        var fired = new List<(string Name, TimeSpan Now)>();
        var setup = Clusters.VoteQuorum(1) with { Service = _ => new Script(fired) };
        var cluster = new SimulatedCluster(setup, 1);
        cluster.RunUntil(TimeSpan.FromMilliseconds(250)); // booted, timers a and b pending
        cluster.Pause(0, TimeSpan.FromSeconds(1)); // both come due during the pause
        cluster.RunUntil(TimeSpan.FromSeconds(5));

        Assert.That(fired.Select(f => f.Name), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(fired[1].Now, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(2000)));
    }

    /// <summary>Sets a at 500 ms and b at 600 ms; when a fires, moves b to 2000 ms.</summary>
    private sealed class Script(List<(string Name, TimeSpan Now)> fired) : IProtocolCore
    {
        public void Handle(CoreInput input, TimeSpan now, ICollection<CoreOutput> outputs)
        {
            switch (input)
            {
                case CoreStarted:
                    outputs.Add(new SetTimer("a", now + TimeSpan.FromMilliseconds(500)));
                    outputs.Add(new SetTimer("b", now + TimeSpan.FromMilliseconds(600)));
                    break;
                case TimerFired { Name: "a" }:
                    fired.Add(("a", now));
                    outputs.Add(new SetTimer("b", TimeSpan.FromMilliseconds(2000)));
                    break;
                case TimerFired { Name: "b" }:
                    fired.Add(("b", now));
                    break;
                default:
                    break;
            }
        }
    }
}
