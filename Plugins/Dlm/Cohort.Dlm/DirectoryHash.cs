using System.IO.Hashing;
using Cohort.Dlm.Engine;
using Cohort.Membership;

namespace Cohort.Dlm;

/// <summary>
/// Places resources in the directory: XxHash32 of the name (seed 0), taken modulo a ring of the lockspace's
/// members in node-id order, each repeated as often as its weight (Linux's <c>dlm_hash2nodeid</c> over
/// <c>ls_node_array</c>). A node of weight 0 is never a directory node. Stable across processes and machines:
/// pinned by test vectors.
/// </summary>
internal static class DirectoryHash
{
    /// <summary>The name's hash.</summary>
    public static uint Of(ReadOnlySpan<byte> name) => XxHash32.HashToUInt32(name);

    /// <summary>The ring of <paramref name="members"/> (sorted by node id) under <paramref name="weights"/>;
    /// if every member has weight 0, every member counts once (someone must hold the directory).</summary>
    public static int[] Ring(IReadOnlyList<NodeIncarnation> members, IReadOnlyDictionary<NodeId, int> weights)
    {
        var ring = new List<int>();
        foreach (var m in members)
        {
            var w = weights.TryGetValue(m.Node, out var weight) ? weight : 1;
            for (var i = 0; i < w; i++)
            {
                ring.Add(m.Node.Value);
            }
        }

        if (ring.Count == 0)
        {
            foreach (var m in members)
            {
                ring.Add(m.Node.Value);
            }
        }

        return [.. ring];
    }

    /// <summary>A digest of <paramref name="weights"/> (node id and weight, by node id): equal on nodes that place
    /// resources alike.</summary>
    public static uint Placement(IReadOnlyDictionary<NodeId, int> weights)
    {
        var bytes = new byte[weights.Count(w => w.Value != 1) * 8];
        var at = 0;
        foreach (var (node, weight) in weights.Where(w => w.Value != 1).OrderBy(w => w.Key.Value)) // 1 is the default
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), node.Value);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 4), weight);
            at += 8;
        }

        return XxHash32.HashToUInt32(bytes);
    }

    /// <summary>The directory node of a resource of hash <paramref name="hash"/>.</summary>
    public static int Node(uint hash, int[] ring) => ring[(int)(hash % (uint)ring.Length)];
}

/// <summary>Compares resource names by content, hashing them with the stable hash (never <c>HashCode</c>).</summary>
internal sealed class NameComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly NameComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj) => (int)DirectoryHash.Of(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)DirectoryHash.Of(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}

/// <summary>Resources by name, for <see cref="Lockspace.Resources"/>: looked up by the name as a span, which
/// allocates nothing.</summary>
internal sealed class ResourceNameComparer : IEqualityComparer<Rsb>, IAlternateEqualityComparer<ReadOnlySpan<byte>, Rsb>
{
    public static readonly ResourceNameComparer Instance = new();

    public bool Equals(Rsb? x, Rsb? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.Name.AsSpan().SequenceEqual(y.Name));

    public int GetHashCode(Rsb obj) => (int)DirectoryHash.Of(obj.Name);

    public bool Equals(ReadOnlySpan<byte> alternate, Rsb other) => alternate.SequenceEqual(other.Name);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)DirectoryHash.Of(alternate);

    /// <summary>Not supported: a resource is added as itself.</summary>
    public Rsb Create(ReadOnlySpan<byte> alternate) => throw new NotSupportedException("dlm: add the resource itself, not its name");
}

/// <summary>This node's locks by lock id, for <see cref="Lockspace.Locks"/>: looked up by the id alone.</summary>
internal sealed class LockIdComparer : IEqualityComparer<OwnedLkb>, IAlternateEqualityComparer<long, OwnedLkb>
{
    public static readonly LockIdComparer Instance = new();

    public bool Equals(OwnedLkb? x, OwnedLkb? y) => x?.Id == y?.Id;

    public int GetHashCode(OwnedLkb obj) => obj.Id.GetHashCode();

    public bool Equals(long alternate, OwnedLkb other) => alternate == other.Id;

    public int GetHashCode(long alternate) => alternate.GetHashCode();

    /// <summary>Not supported: a lock is added as itself.</summary>
    public OwnedLkb Create(long alternate) => throw new NotSupportedException("dlm: add the lock itself, not its id");
}
