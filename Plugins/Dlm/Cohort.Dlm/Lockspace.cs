using Cohort.Dlm.Engine;
using Cohort.Locking;
using Cohort.Membership;

namespace Cohort.Dlm;

/// <summary>One lockspace as one node keeps it: its resources, locks, directory share and recovery state.</summary>
internal sealed class Lockspace(string name, byte[] nameBytes, int id, int valueBlockLength)
{
    public readonly string Name = name;
    public readonly uint GlobalId = DirectoryHash.Of(nameBytes);
    public readonly int Id = id;
    public readonly int ValueBlockLength = valueBlockLength;

    /// <summary>Resources this node knows, by name (a set of the resources themselves, keyed by their names: an entry
    /// holds no key of its own).</summary>
    public readonly HashSet<Rsb> Resources = new(ResourceNameComparer.Instance);

    /// <summary>The master's rules, reporting to this lockspace.</summary>
    public LockEngine Engine = null!;

    /// <summary>This node's locks, by lock id (a set keyed by <see cref="Lkb.Id"/>, like <see cref="Resources"/>).</summary>
    public readonly HashSet<OwnedLkb> Locks = new(LockIdComparer.Instance);

    /// <summary>Master copies of other nodes' locks on resources mastered here. Looked up only, never enumerated in
    /// an order that reaches an output.</summary>
    public readonly Dictionary<(int Node, long Id), Lkb> Remote = [];

    /// <summary>This node's share of the directory: resource name → master, for resources mastered elsewhere (a
    /// resource mastered here is its own entry).</summary>
    public readonly Dictionary<byte[], int> Directory = new(NameComparer.Instance);

    /// <summary>The highest token counter of a resource this node, as its directory, forgot since the directory was
    /// last rebuilt: a new master's counter starts there.</summary>
    public long ForgottenCounter;

    /// <summary>The nodes this node counts as members (joined or joining), itself included, by node id.</summary>
    public readonly SortedDictionary<int, NodeIncarnation> Members = [];

    /// <summary>Members that left the lockspace cleanly (nothing of theirs waits for a fencing gate).</summary>
    public readonly HashSet<NodeIncarnation> CleanLeft = [];

    /// <summary>While joining: the view members whose answer to the hello is awaited.</summary>
    public readonly SortedSet<int> HelloAwaited = [];

    /// <summary>Peers whose session reset while this lockspace could not recover at once (see DlmCore.Repair).</summary>
    public readonly SortedSet<NodeIncarnation> Repair = [];

    /// <summary>Barriers of the current recovery that arrived, per phase.</summary>
    public readonly Dictionary<DlmRecoveryPhase, SortedSet<int>> Arrived = [];

    /// <summary>Barriers of later recoveries that arrived before their stop.</summary>
    public readonly List<(DlmRecoverySequence Seq, DlmRecoveryPhase Phase, int From)> EarlyBarriers = [];

    /// <summary>Frames of the current recovery that arrived before this node may handle them.</summary>
    public readonly List<(int From, long Incarnation, byte[] Frame)> Parked = [];

    /// <summary>Completions and notifications decided while not running, sent at start.</summary>
    public readonly List<Action> Deferred = [];

    /// <summary>Looks a resource up by name.</summary>
    public Rsb? Find(ReadOnlySpan<byte> name) =>
        Resources.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(name, out var rsb) ? rsb : null;

    /// <summary>Looks one of this node's locks up by id.</summary>
    public OwnedLkb? Lock(long id) => Locks.GetAlternateLookup<long>().TryGetValue(id, out var lkb) ? lkb : null;

    /// <summary>Looks a directory entry up by a name that is not an array.</summary>
    public int? FindEntry(ReadOnlySpan<byte> name) =>
        Directory.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(name, out var master) ? master : null;

    /// <summary>Resources whose claim is awaited in the remaster phase.</summary>
    public readonly HashSet<byte[]> ClaimsAwaited = new(NameComparer.Instance);

    /// <summary>Resources this node found a new master for in the remaster phase, and who.</summary>
    public readonly List<(Rsb Rsb, int Master)> Claimed = [];

    /// <summary>Whether a recovery including this node has finished and none started since.</summary>
    public bool Running;

    /// <summary>Whether this node has finished a recovery that counts it a member.</summary>
    public bool Joined;

    /// <summary>The token of the pending join request.</summary>
    public long JoinToken;

    /// <summary>Whether membership of the lockspace changed since the last recovery this node coordinated.</summary>
    public bool NeedsRecovery = true;

    /// <summary>Whether this node is frozen for lack of quorum.</summary>
    public bool Frozen;

    /// <summary>The members of the last finished recovery.</summary>
    public NodeIncarnation[] RunMembers = [];

    /// <summary>The members of the recovery in progress (or the last one).</summary>
    public NodeIncarnation[] RecMembers = [];

    /// <summary>The directory ring over <see cref="RecMembers"/>.</summary>
    public int[] Ring = [];

    /// <summary>The recovery in progress or last finished.</summary>
    public DlmRecoverySequence Seq;

    /// <summary>The highest recovery sequence heard of (from refusals).</summary>
    public DlmRecoverySequence HighestSeen;

    /// <summary>Its phase (<see cref="DlmRecoveryPhase.Running"/> once finished).</summary>
    public DlmRecoveryPhase Phase = DlmRecoveryPhase.Stop;

    /// <summary>Whether this node did the work of <see cref="Phase"/> and sent its barrier.</summary>
    public bool PhaseDone;

    /// <summary>Whether this node has started no recovery yet (a joiner before its first stop).</summary>
    public bool Fresh = true;

    /// <summary>Whether the hellos of joining went out (they wait for the first view).</summary>
    public bool HelloSent;

    /// <summary>How many resources this node masters.</summary>
    public int Mastered;

    /// <summary>Frames dropped as malformed.</summary>
    public long Rejected;

    /// <summary>The next sequence number of this node's operations.</summary>
    public long NextSeq;

    /// <summary>Nodes back in this recovery as a new incarnation of one this lockspace ran or recovered with since it
    /// last ran: everything their old incarnation held or mastered is gone.</summary>
    public readonly HashSet<int> Replaced = [];

    /// <summary>Whether <paramref name="node"/> takes part in this recovery with what it held before.</summary>
    public bool Survived(int node) => InRecovery(node) && !Replaced.Contains(node);

    /// <summary>Whether <paramref name="node"/> is a member of the recovery in progress.</summary>
    public bool InRecovery(int node)
    {
        foreach (var m in RecMembers)
        {
            if (m.Node.Value == node)
            {
                return true;
            }
        }

        return false;
    }
}

