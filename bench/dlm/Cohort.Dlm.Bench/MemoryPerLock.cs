using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using Cohort.Dlm.Engine;
using Cohort.Locking;

namespace Cohort.Dlm.Bench;

/// <summary>
/// Managed memory per held lock: one node, N granted locks, <see cref="GC.GetTotalMemory(bool)"/> (after a full
/// collection) before and after, divided by N. Twice: N locks on N resources (EX), and N locks on N/1000 resources
/// (1000 PR holders each). Then a breakdown: the size of each kind of object the core keeps, measured one kind at a
/// time, times how many of it the core keeps per lock (as read from DlmCore.Operate and DirectoryLookup: per lock an
/// OwnedLkb and an entry in Lockspace.Locks; per resource an Rsb, its name, an entry in Lockspace.Resources; a
/// resource mastered on its directory node — here the same node — is its own directory entry, so
/// Lockspace.Directory holds nothing; granted locks without value blocks need no LockValue and no RsbExtra). The sum
/// is printed beside the measured figure, so a missing kind shows.
/// </summary>
internal static class MemoryPerLock
{
    private const double Target = 300;
    private const int NameBytes = 16;

    public static void Run(bool quick)
    {
        var locks = quick ? 100_000 : 1_000_000;
        Console.WriteLine();
        Console.WriteLine($"== Managed memory per held lock, one node, {locks:N0} granted locks, {NameBytes}-byte names (GC.GetTotalMemory(true) after - before) ==");
        foreach (var (resources, mode) in new[] { (locks, LockMode.Exclusive), (locks / 1000, LockMode.ProtectedRead) })
        {
            // The breakdown runs once the measured core is garbage: its full collections then stay short.
            var perLock = Measure(locks, resources, mode);
            Breakdown(locks, resources, perLock);
        }

        Console.WriteLine("    fields (type sizes as laid out by this runtime; the object header and method table pointer are 16 B more, and the runtime may reorder and pad):");
        foreach (var type in new[] { typeof(OwnedLkb), typeof(Lkb), typeof(LockValue), typeof(Rsb), typeof(RsbExtra) })
        {
            Console.WriteLine($"      {type.Name}{(type.BaseType == typeof(Lkb) ? " (beyond Lkb's)" : string.Empty)}: {Fields(type)}");
        }
    }

    /// <summary>The instance fields <paramref name="type"/> declares, with the size of each.</summary>
    private static string Fields(Type type) =>
        string.Join(", ", type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
            .Select(f => $"{f.Name} {FieldSize(f.FieldType)}"));

    private static int FieldSize(Type type) =>
        !type.IsValueType ? IntPtr.Size : (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;

    private static double Measure(int locks, int resources, LockMode mode)
    {
        var cluster = new Cluster(1);
        cluster.Form();
        var name = new byte[NameBytes];
        var before = GC.GetTotalMemory(true);
        for (var i = 0; i < locks; i++)
        {
            Encoding.ASCII.GetBytes($"mem-{i % resources:D12}", name);
            cluster.Lock(1, name, mode);
        }

        var after = GC.GetTotalMemory(true);
        var granted = cluster.Granted[1];
        var status = cluster.Core(1).Status.Lockspaces[0];
        GC.KeepAlive(cluster);
        var perLock = (after - before) / (double)locks;
        Console.WriteLine($"  {locks:N0} {mode} locks on {resources:N0} resources: {perLock,6:N1} B per held lock   ({(after - before) / 1e6:N1} MB; "
            + $"{granted:N0} granted, status: {status.Locks:N0} locks, {status.Resources:N0} resources)   ratio to the target {perLock / Target:N2}x   target <= {Target:N0} B: {(perLock <= Target ? "met" : "MISSED")}");
        if (granted != locks)
        {
            Console.WriteLine($"    NOT ALL GRANTED: {cluster.Describe(1)}");
        }

        return perLock;
    }

    private static void Breakdown(int locks, int resources, double measured)
    {
        var perResource = resources / (double)locks;
        var rsb = new Rsb(new byte[NameBytes]);
        var lkbBytes = Allocations.PerCall(i => new OwnedLkb(1, i, rsb));
        var nameBytes = Allocations.PerCall(_ => new byte[NameBytes]);
        var rsbBytes = Allocations.PerCall(_ => new Rsb(new byte[NameBytes])) - nameBytes;
        var rows = new (string Kind, double Count, double Bytes)[]
        {
            ("OwnedLkb", 1, lkbBytes),
            ("Lockspace.Locks entry (HashSet<OwnedLkb>)", 1, SetBytesPerEntry(locks, new HashSet<OwnedLkb>(LockIdComparer.Instance), i => new OwnedLkb(1, i, rsb), lkbBytes)),
            ("Rsb", perResource, rsbBytes),
            ($"name, byte[{NameBytes}] (Rsb.Name)", perResource, nameBytes),
            ("Lockspace.Resources entry (HashSet<Rsb>)", perResource, SetBytesPerEntry(resources, new HashSet<Rsb>(ResourceNameComparer.Instance), i => new Rsb(Key(i)), rsbBytes + nameBytes)),
        };
        var sum = 0.0;
        foreach (var (kind, count, bytes) in rows)
        {
            var share = count * bytes;
            sum += share;
            Console.WriteLine($"    {kind,-58} {bytes,6:N1} B x {count,6:0.###} per lock = {share,6:N1} B");
        }

        Console.WriteLine($"    {"sum (measured above: " + measured.ToString("N1", System.Globalization.CultureInfo.InvariantCulture) + " B)",-58} {string.Empty,20}   {sum,6:N1} B");
    }

    private static byte[] Key(int i)
    {
        var key = new byte[NameBytes];
        BitConverter.TryWriteBytes(key, i);
        return key;
    }

    /// <summary>The bytes <paramref name="set"/>, grown by adding <paramref name="count"/> elements, keeps per entry
    /// (its bucket and entry arrays at the capacity growth leaves them at), without the elements themselves
    /// (<paramref name="elementBytes"/> each).</summary>
    private static double SetBytesPerEntry<T>(int count, HashSet<T> set, Func<int, T> make, double elementBytes)
    {
        var before = GC.GetTotalMemory(true);
        for (var i = 0; i < count; i++)
        {
            set.Add(make(i));
        }

        var after = GC.GetTotalMemory(true);
        GC.KeepAlive(set);
        return ((after - before) / (double)count) - elementBytes;
    }
}
