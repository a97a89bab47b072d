using System.Diagnostics;
using System.Text;
using Cohort.Cores;
using Cohort.Locking;

namespace Cohort.Dlm.Bench;

/// <summary>
/// Locally mastered lock+unlock on one core: a one-node lockspace, then Lock EX and Unlock of a fresh lock id in a
/// tight loop on one thread, each call's completion read back from the outputs before the next call. One op is one
/// lock+unlock pair. The floor is the least a lock manager must do per op: look the name up in a dictionary (the
/// core's own name comparer, XxHash32), insert the lock id in another and remove it again.
/// </summary>
internal static class LocalThroughput
{
    private const int Batch = 4096;
    private const long Target = 1_000_000;

    public static void Run(bool quick)
    {
        var warmUp = TimeSpan.FromSeconds(0.5); // tiered compilation reaches the optimised code within it
        var round = TimeSpan.FromSeconds(quick ? 0.2 : 1.0);
        var rounds = quick ? 1 : 3;
        Console.WriteLine();
        Console.WriteLine($"== Locally mastered lock+unlock on one core ({rounds} round(s) of {round.TotalSeconds:0.0} s after {warmUp.TotalSeconds:0.0} s of warm-up; the median round) ==");
        foreach (var resources in new[] { 1, 64 })
        {
            Measure(resources, warmUp, round, rounds);
        }
    }

    private static void Measure(int resources, TimeSpan warmUp, TimeSpan round, int rounds)
    {
        var cluster = new Cluster(1);
        cluster.Form();
        var core = cluster.Core(1);
        var ls = cluster.LockspaceIds[1];
        var names = Enumerable.Range(0, resources).Select(i => Encoding.ASCII.GetBytes($"local-{i:D10}")).ToArray();
        var state = new LoopState(core, ls, names);
        var floor = new FloorState(names);

        state.RunFor(warmUp);
        floor.RunFor(warmUp);
        var dlm = new List<(double NsPerOp, double BytesPerOp)>();
        var floors = new List<double>();
        for (var r = 0; r < rounds; r++)
        {
            floors.Add(floor.RunFor(round / 4).NsPerOp);
            dlm.Add(state.RunFor(round));
        }

        var ns = Median(dlm.Select(d => d.NsPerOp));
        var bytes = Median(dlm.Select(d => d.BytesPerOp));
        var floorNs = Median(floors);
        var opsPerSecond = 1e9 / ns;
        var caller = CallerBytesPerOp(ls, names);
        var label = resources == 1 ? "1 resource" : $"{resources} resources round-robin";
        Console.WriteLine($"  {label,-26} {opsPerSecond,12:N0} ops/s  ({ns,7:N1} ns/op)   floor {1e9 / floorNs,12:N0} ops/s ({floorNs,5:N1} ns/op: name lookup + lock-id insert + remove)   "
            + $"ratio to the floor {ns / floorNs,5:N1}x   target >= {Target:N0} ops/s: {(opsPerSecond >= Target ? "met" : "MISSED")}");
        Console.WriteLine($"  {string.Empty,-26} allocated {bytes,6:N0} B/op, of which the caller's requests (2 x LocalRequest + DlmOperation) {caller:N0} B; "
            + $"{state.Ops:N0} ops, {state.Wrong} completions not granted/unlocked{(state.Wrong == 0 ? string.Empty : ": WRONG")}");
        if (resources == 1)
        {
            SampleAllocations(state, round, bytes);
        }
    }

    /// <summary>Prints which types the loop allocates (a separate, untimed run with allocation sampling on).</summary>
    private static void SampleAllocations(LoopState state, TimeSpan duration, double bytesPerOp)
    {
        using var sampler = new AllocationSampler();
        sampler.Start();
        state.RunFor(duration);
        var types = sampler.Stop();
        Console.WriteLine($"  {string.Empty,-26} by type (GCAllocationTick samples, {sampler.Ticks:N0} of them, shares of the {bytesPerOp:N0} B/op):");
        foreach (var (type, share) in types.Take(12))
        {
            Console.WriteLine($"  {string.Empty,-28} {share * bytesPerOp,6:N0} B  {share,4:P0}  {Qualify(type)}");
        }
    }

    /// <summary>The tick names a compiler-generated type (a closure) only by its own name: this adds the class it
    /// belongs to, from the DLM's assembly, or several candidates if the name is not unique there.</summary>
    private static string Qualify(string type)
    {
        if (!type.StartsWith('<'))
        {
            return type;
        }

        var owners = typeof(DlmSystem).Assembly.GetTypes().Where(t => t.Name == type && t.DeclaringType is not null).Select(t => t.DeclaringType!.FullName).ToArray();
        return owners.Length == 0 ? type : $"{type} in {string.Join(" or ", owners)}";
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>What building the two requests of one op allocates, measured alone.</summary>
    private static double CallerBytesPerOp(int ls, byte[][] names) =>
        Allocations.PerCall(i => new LocalRequest(new DlmOperation(DlmOperationKind.Lock, ls, i, names[i % names.Length], LockMode.Exclusive, LockFlags.None, default)))
        + Allocations.PerCall(i => new LocalRequest(new DlmOperation(DlmOperationKind.Unlock, ls, i, default, LockMode.Null, LockFlags.None, default)));

    private sealed class LoopState(ILockManagerCore core, int ls, byte[][] names)
    {
        private readonly List<CoreOutput> _outputs = new(16);
        private long _nextId;
        private int _next;

        public long Ops { get; private set; }

        public long Wrong { get; private set; }

        public (double NsPerOp, double BytesPerOp) RunFor(TimeSpan duration)
        {
            var ops = 0L;
            var allocated = GC.GetAllocatedBytesForCurrentThread();
            var start = Stopwatch.GetTimestamp();
            TimeSpan elapsed;
            do
            {
                for (var i = 0; i < Batch; i++)
                {
                    OneOp();
                }

                ops += Batch;
                elapsed = Stopwatch.GetElapsedTime(start);
            }
            while (elapsed < duration);

            allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
            Ops += ops;
            return (elapsed.TotalNanoseconds / ops, allocated / (double)ops);
        }

        private void OneOp()
        {
            var id = ++_nextId;
            var name = names[_next];
            _next = _next + 1 == names.Length ? 0 : _next + 1;
            _outputs.Clear();
            core.Handle(new LocalRequest(new DlmOperation(DlmOperationKind.Lock, ls, id, name, LockMode.Exclusive, LockFlags.None, default)), Cluster.Now, _outputs);
            Expect(id, LockStatus.Granted);
            _outputs.Clear();
            core.Handle(new LocalRequest(new DlmOperation(DlmOperationKind.Unlock, ls, id, default, LockMode.Null, LockFlags.None, default)), Cluster.Now, _outputs);
            Expect(id, LockStatus.Unlocked);
        }

        private void Expect(long id, LockStatus status)
        {
            foreach (var output in _outputs)
            {
                if (output is PublishEvent { Event: DlmCompleted c } && c.LockId == id)
                {
                    if (c.Result.Status != status)
                    {
                        Wrong++;
                    }

                    return;
                }
            }

            Wrong++;
        }
    }

    /// <summary>The floor: per op, the name looked up (as a span, the way the core looks it up), the lock id
    /// inserted and removed.</summary>
    private sealed class FloorState
    {
        private readonly Dictionary<byte[], object> _resources = new(NameComparer.Instance);
        private readonly Dictionary<long, object> _locks = [];
        private readonly byte[][] _names;
        private long _nextId;
        private int _next;

        public FloorState(byte[][] names)
        {
            _names = names;
            foreach (var name in names)
            {
                _resources.Add(name, new object());
            }
        }

        public (double NsPerOp, long Missing) RunFor(TimeSpan duration)
        {
            var lookup = _resources.GetAlternateLookup<ReadOnlySpan<byte>>();
            var ops = 0L;
            var missing = 0L;
            var start = Stopwatch.GetTimestamp();
            TimeSpan elapsed;
            do
            {
                for (var i = 0; i < Batch; i++)
                {
                    var name = _names[_next];
                    _next = _next + 1 == _names.Length ? 0 : _next + 1;
                    if (!lookup.TryGetValue(name.AsSpan(), out var rsb))
                    {
                        missing++;
                        continue;
                    }

                    var id = ++_nextId;
                    _locks.Add(id, rsb);
                    _locks.Remove(id);
                }

                ops += Batch;
                elapsed = Stopwatch.GetElapsedTime(start);
            }
            while (elapsed < duration);

            return (elapsed.TotalNanoseconds / ops, missing);
        }
    }
}
