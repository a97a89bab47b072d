using Cohort.Membership;

namespace Cohort.Simulation;

/// <summary>
/// Random faults in alternating periods: chaos (crashes, mid-step crashes, restarts, pauses,
/// partitions, one-way and non-transitive cuts, loss, duplication, jitter, clean leaves), then calm
/// (network healed, every node running; one that exits after a clean leave is started again), at the
/// end of which the liveness checker runs.
/// </summary>
public sealed class FaultPlan : ISimulationObserver
{
    private static readonly int[] JitterChoices = [0, 2, 20, 100];

    private readonly SimulatedCluster _cluster;
    private readonly SimRandom _random;
    private readonly bool _faults;
    private readonly TimeSpan _bound;
    private readonly TimeSpan _extraCalm;
    private TimeSpan _chaosEnd;
    private TimeSpan _checkAt;
    private long _checkGeneration;
    private int _epoch;
    private bool _calm;

    private FaultPlan(SimulatedCluster cluster, bool faults, TimeSpan extraCalm, bool configChanges)
    {
        _cluster = cluster;
        _random = cluster.Random;
        _faults = faults;
        _bound = LivenessChecker.Bound(cluster.Setup.Membership, configChanges);
        _extraCalm = extraCalm;
    }

    /// <summary>Raised when a calm period begins (every node running, the network healed), with the time
    /// by which membership must have converged; service checkers schedule their own checks from it.</summary>
    public event Action<TimeSpan>? Calmed;

    /// <summary>Raised at the end of a calm period, just before chaos resumes.</summary>
    public event Action? CalmEnding;

    /// <summary>How many faults were injected.</summary>
    public int Faults { get; private set; }

    /// <summary>Starts the plan on a fresh cluster: calm first (the cluster forms), then chaos and calm in turn.</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="faults">Whether to inject faults at all.</param>
    /// <param name="extraCalm">How much longer than membership needs each calm period lasts, for a
    /// service that converges after membership does.</param>
    /// <param name="configChanges">Whether committed cluster documents change the quorum rules (see
    /// <see cref="LivenessChecker.Bound"/>).</param>
    public static FaultPlan Install(SimulatedCluster cluster, bool faults = true, TimeSpan extraCalm = default, bool configChanges = false)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var plan = new FaultPlan(cluster, faults, extraCalm, configChanges);
        cluster.Observe(plan);
        cluster.At(TimeSpan.FromMilliseconds(200), plan.Calm);
        return plan;
    }

    /// <inheritdoc />
    public void AfterStep(SimulatedCluster cluster, SimNode node)
    {
    }

    /// <inheritdoc />
    public void Executed(SimulatedCluster cluster, SimNode node, Cores.CoreOutput output)
    {
    }

    /// <inheritdoc />
    public void NodeStopped(SimulatedCluster cluster, SimNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (_calm)
        {
            var index = _cluster.IndexOf(node.Id);
            _cluster.At(_cluster.Now + TimeSpan.FromMilliseconds(1), () => _cluster.Restart(index));
        }
    }

    /// <inheritdoc />
    public void Published(SimulatedCluster cluster, SimNode node, object published)
    {
    }

    /// <summary>
    /// A service disturbed the calm on purpose (a fence device killed a victim that was still alive): membership
    /// gets its convergence bound again from now, and the calm lasts until that check has run.
    /// </summary>
    public void Disturbed()
    {
        if (_calm)
        {
            ScheduleCheck(_cluster.Now);
        }
    }

    private void Calm()
    {
        _epoch++;
        _calm = true;
        _cluster.HealNetwork();
        _cluster.ReviveAll();
        var since = _cluster.Now;
        ScheduleCheck(since);
        Calmed?.Invoke(since + _bound);
        if (_faults)
        {
            EndCalmAfterCheck(_epoch);
        }
    }

    /// <summary>Checks convergence <see cref="_bound"/> after <paramref name="since"/>, unless a later disturbance
    /// moved the check.</summary>
    private void ScheduleCheck(TimeSpan since)
    {
        var generation = ++_checkGeneration;
        _checkAt = since + _bound;
        _cluster.At(_checkAt, () =>
        {
            if (generation == _checkGeneration)
            {
                LivenessChecker.Check(_cluster, since);
            }
        });
    }

    /// <summary>Resumes chaos once the latest convergence check of this calm period has run.</summary>
    private void EndCalmAfterCheck(int epoch)
    {
        var end = _checkAt + TimeSpan.FromMilliseconds(500) + _extraCalm;
        _cluster.At(end, () =>
        {
            if (epoch != _epoch)
            {
                return;
            }

            if (_checkAt + TimeSpan.FromMilliseconds(500) + _extraCalm > _cluster.Now)
            {
                EndCalmAfterCheck(epoch); // disturbed meanwhile: calm on
                return;
            }

            CalmEnding?.Invoke();
            Chaos();
        });
    }

    private void Chaos()
    {
        _calm = false;
        _chaosEnd = _cluster.Now + _random.Between(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(6));
        Next();
    }

    private void Next()
    {
        var at = _cluster.Now + _random.Between(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(600));
        if (at >= _chaosEnd)
        {
            _cluster.At(_chaosEnd, Calm);
            return;
        }

        _cluster.At(at, () =>
        {
            Inject();
            Next();
        });
    }

    /// <summary>An action that is called off if calm began before it came due.</summary>
    private Action InChaos(Action action)
    {
        var epoch = _epoch;
        return () =>
        {
            if (epoch == _epoch)
            {
                action();
            }
        };
    }

    private void Inject()
    {
        Faults++;
        var nodes = _cluster.Nodes;
        var n = nodes.Count;
        var a = _random.Next(n);
        var b = (a + 1 + _random.Next(Math.Max(1, n - 1))) % n;
        var options = _cluster.Setup.Membership;
        if (_cluster.Setup.Device is not null && _random.Chance(0.2))
        {
            _cluster.SetWitnessBlocked(a, _random.Chance(0.7)); // a node loses (or regains) its witness
            return;
        }

        switch (_random.Next(10))
        {
            case 0:
                _cluster.Crash(a, midStep: _random.Chance(0.5));
                break;
            case 1:
                _cluster.Restart(a);
                break;
            case 2:
                _cluster.Pause(a, _random.Between(TimeSpan.FromMilliseconds(50), options.FailureTimeout * 3));
                break;
            case 3:
                var side = new bool[n];
                for (var i = 0; i < n; i++)
                {
                    side[i] = _random.Chance(0.5);
                }

                for (var i = 0; i < n; i++)
                {
                    for (var j = 0; j < n; j++)
                    {
                        if (side[i] != side[j])
                        {
                            _cluster.SetBlocked(i, j, true);
                        }
                    }
                }

                break;
            case 4:
                _cluster.SetBlocked(a, b, true);
                break;
            case 5:
                _cluster.SetBlocked(a, b, true);
                _cluster.SetBlocked(b, a, true);
                break;
            case 6:
                _cluster.HealNetwork();
                break;
            case 7:
                _cluster.LossRate = _random.Chance(0.5) ? _random.NextDouble() * 0.3 : 0;
                _cluster.DuplicateRate = _random.Chance(0.5) ? _random.NextDouble() * 0.1 : 0;
                _cluster.Jitter = TimeSpan.FromMilliseconds(JitterChoices[_random.Next(JitterChoices.Length)]);
                break;
            case 8:
                if (nodes[a].State == SimNodeState.Up && nodes[a].Core!.Phase == MembershipPhase.Member)
                {
                    _cluster.Request(a, LeaveRequest.Instance);
                    _cluster.At(_cluster.Now + _random.Between(TimeSpan.Zero, TimeSpan.FromMilliseconds(200)), InChaos(() => _cluster.Request(a, DrainComplete.Instance)));
                }

                break;
            default:
                _cluster.Crash(a);
                _cluster.At(_cluster.Now + _random.Between(TimeSpan.FromMilliseconds(1), options.FailureTimeout), () => _cluster.Restart(a));
                break;
        }
    }
}
