using System.Globalization;
using Cohort.Membership;
using Microsoft.Extensions.Configuration;
using NUnit.Framework;

namespace Cohort.Quorum.Conformance;

/// <summary>
/// The conformance kit for quorum policies: inherit it in an NUnit test project, say how to create
/// the policy and what its documented defaults are, and every rule of the <see cref="IQuorumPolicy"/>
/// contract is checked:
/// <list type="bullet">
/// <item>for every split of up to 7 nodes into two sides, under several vote assignments and every
/// option set you name, at most one side is quorate — unless a quorate side's decision declares
/// <see cref="QuorumDecision.DualQuorum"/> — both with fresh state and with the state of a decision on
/// the whole cluster carried into both sides (they were together before the split); with a quorum
/// device configured, whichever side holds its vote (or neither);</item>
/// <item>verdicts are upward closed: a superset of a quorate set of members is quorate, and so is the
/// same set once it holds the device's vote;</item>
/// <item>decisions are deterministic: equal inputs, even to a fresh instance, give equal decisions;</item>
/// <item>the documented defaults hold: no options and the defaults spelled out decide alike.</item>
/// </list>
/// </summary>
/// <remarks>
/// <para>A failure names the nodes, votes, options and views involved.</para>
/// <para>Mark the inheriting class <c>[TestFixture]</c>: NUnit's adapter skips an assembly that
/// references no NUnit attribute of its own, even when its classes inherit tests.</para>
/// </remarks>
public abstract class QuorumPolicyConformance
{
    /// <summary>The largest cluster the split check covers.</summary>
    public const int MaxNodes = 7;

    /// <summary>Creates the policy; called often, each time for a fresh instance.</summary>
    protected abstract IQuorumPolicy CreatePolicy();

    /// <summary>The documented defaults of the policy's options, as full keys
    /// (<c>Cluster:Quorum:MyPolicy:Key</c>) and values. Empty when the policy has no options (or none
    /// whose default can be written down).</summary>
    protected abstract IReadOnlyDictionary<string, string> DocumentedDefaults { get; }

    /// <summary>The option sets (full keys and values) every check runs under; by default only the
    /// defaults. Name every supported combination that matters for safety.</summary>
    protected virtual IEnumerable<IReadOnlyDictionary<string, string>> OptionSets => [new Dictionary<string, string>()];

    /// <summary>The times (<see cref="QuorumContext.Now"/>) the checks ask at; a policy with time windows
    /// should be asked before and after them.</summary>
    protected virtual IEnumerable<TimeSpan> Times => [TimeSpan.Zero, TimeSpan.FromHours(1)];

    /// <summary>The votes of the quorum device the checks configure, 0 meaning none; by default no
    /// device and a device of one vote. A policy that ignores devices passes unchanged.</summary>
    protected virtual IEnumerable<int> DeviceVotes => [0, 1];

    /// <summary>The vote assignments of an <paramref name="n"/>-node cluster the checks run under: one
    /// vote each, one node with two, one node with none.</summary>
    protected virtual IEnumerable<int[]> VoteAssignments(int n)
    {
        yield return [.. Enumerable.Repeat(1, n)];
        if (n >= 2)
        {
            yield return [2, .. Enumerable.Repeat(1, n - 1)];
            yield return [.. Enumerable.Repeat(1, n - 1), 0];
        }
    }

    [Test]
    public void At_most_one_side_of_any_split_is_quorate_unless_dual_quorum_is_declared()
    {
        var splits = 0;
        foreach (var (votes, options, now, device) in Cases(MaxNodes))
        {
            var n = votes.Length;
            var whole = Ask(votes, options, Range(n), now, default, device: Device(device, granted: true));
            for (var mask = 1; mask < (1 << n) - 1; mask++)
            {
                var left = Members(n, mask);
                var right = Members(n, ((1 << n) - 1) & ~mask);
                if (left[0] > right[0])
                {
                    continue; // each split once
                }

                foreach (var state in new[] { ReadOnlyMemory<byte>.Empty, whole.State })
                {
                    // The device's vote goes to the left side, the right side, or neither; never both.
                    foreach (var holder in device == 0 ? [0] : new[] { 0, 1, 2 })
                    {
                        splits++;
                        var a = Ask(votes, options, left, now, state, device: Device(device, granted: holder == 1));
                        var b = Ask(votes, options, right, now, state, device: Device(device, granted: holder == 2));
                        if (a.Verdict == QuorumVerdict.Quorate && b.Verdict == QuorumVerdict.Quorate)
                        {
                            Assert.That(a.DualQuorum || b.DualQuorum, Is.True,
                                $"both sides quorate without declaring dual quorum: {Describe(votes, options, now, device)}, " +
                                $"[{string.Join(",", left)}] ({a.Reason}) and [{string.Join(",", right)}] ({b.Reason}), " +
                                (state.IsEmpty ? "fresh state" : "state carried from the whole cluster") +
                                (holder == 0 ? "" : $", the device's vote with the {(holder == 1 ? "first" : "second")} side"));
                        }
                    }
                }
            }
        }

        TestContext.Out.WriteLine($"{splits} splits checked");
    }

    [Test]
    public void A_superset_of_a_quorate_set_of_members_is_quorate()
    {
        foreach (var (votes, options, now, device) in Cases(6))
        {
            var n = votes.Length;
            var quorate = new bool[1 << n];
            var helped = new bool[1 << n];
            for (var mask = 1; mask < 1 << n; mask++)
            {
                quorate[mask] = Ask(votes, options, Members(n, mask), now, default, device: Device(device, granted: false)).Verdict == QuorumVerdict.Quorate;
                helped[mask] = device > 0 && Ask(votes, options, Members(n, mask), now, default, device: Device(device, granted: true)).Verdict == QuorumVerdict.Quorate;
                Assert.That(!quorate[mask] || device == 0 || helped[mask], Is.True,
                    $"[{string.Join(",", Members(n, mask))}] is quorate without the device's vote but not with it: {Describe(votes, options, now, device)}");
            }

            for (var mask = 1; mask < 1 << n; mask++)
            {
                for (var superset = mask; superset < 1 << n; superset = (superset + 1) | mask)
                {
                    Assert.That(!quorate[mask] || quorate[superset], Is.True,
                        $"[{string.Join(",", Members(n, mask))}] is quorate but its superset [{string.Join(",", Members(n, superset))}] is not: {Describe(votes, options, now, device)}");
                    Assert.That(!helped[mask] || helped[superset], Is.True,
                        $"[{string.Join(",", Members(n, mask))}] is quorate with the device's vote but its superset [{string.Join(",", Members(n, superset))}] is not: {Describe(votes, options, now, device)}");
                }
            }
        }
    }

    [Test]
    public void Equal_inputs_give_equal_decisions_even_to_a_fresh_instance()
    {
        var reused = CreatePolicy();
        foreach (var (votes, options, now, device) in Cases(5))
        {
            var n = votes.Length;
            for (var mask = 1; mask < 1 << n; mask++)
            {
                var members = Members(n, mask);
                var granted = Device(device, granted: mask % 2 == 1);
                var state = Ask(votes, options, Range(n), now, default, device: granted).State;
                var first = Ask(votes, options, members, now, state, reused, granted);
                var second = Ask(votes, options, members, now, state, reused, granted);
                var fresh = Ask(votes, options, members, now, state, device: granted);
                foreach (var other in new[] { second, fresh })
                {
                    Assert.That(Fingerprint(other), Is.EqualTo(Fingerprint(first)), $"[{string.Join(",", members)}]: {Describe(votes, options, now, device)}");
                }
            }
        }
    }

    [Test]
    public void No_options_and_the_documented_defaults_spelled_out_decide_alike()
    {
        var spelled = DocumentedDefaults;
        foreach (var (votes, _, now, _) in Cases(5, [new Dictionary<string, string>()], [0]))
        {
            var n = votes.Length;
            for (var mask = 1; mask < 1 << n; mask++)
            {
                var members = Members(n, mask);
                Assert.That(Fingerprint(Ask(votes, spelled, members, now, default)), Is.EqualTo(Fingerprint(Ask(votes, new Dictionary<string, string>(), members, now, default))),
                    $"[{string.Join(",", members)}]: {Describe(votes, spelled, now)} against no options");
            }
        }
    }

    /// <summary>Asks the policy about one view, as the membership core would: the lowest member asks, in
    /// its first incarnation (every member of every view is incarnation 1), with the quorum device
    /// <paramref name="device"/> when one is configured.</summary>
    protected QuorumDecision Ask(int[] votes, IReadOnlyDictionary<string, string> options, int[] members, TimeSpan now, ReadOnlyMemory<byte> state, IQuorumPolicy? policy = null, QuorumDeviceVote? device = null)
    {
        var nodes = votes.Select((v, i) => new ClusterNode(new NodeId(i + 1), $"node{i + 1}", v)).ToList();
        var view = new View(new ViewId(1, new NodeId(members[0])), members.Select(m => new NodeIncarnation(new NodeId(m), 1)));
        var cluster = new ConfigurationBuilder()
            .AddInMemoryCollection(options.Select(o => new KeyValuePair<string, string?>(o.Key, o.Value)))
            .AddInMemoryCollection(nodes.SelectMany(NodeKeys))
            .Build();
        IReadOnlyList<QuorumDeviceVote>? devices = device is null ? null : [device];
        return (policy ?? CreatePolicy()).Decide(new QuorumContext(new NodeId(members[0]), view, nodes, cluster, now, state, localIncarnation: 1, devices));
    }

    /// <summary>A quorum device of <paramref name="votes"/> votes (none when 0), holding the vote of the
    /// view asked about or not.</summary>
    protected static QuorumDeviceVote? Device(int votes, bool granted) =>
        votes == 0 ? null : new QuorumDeviceVote("test-device", votes, granted, granted ? "granted" : "not granted");

    private static IEnumerable<KeyValuePair<string, string?>> NodeKeys(ClusterNode node)
    {
        var index = (node.Id.Value - 1).ToString(CultureInfo.InvariantCulture);
        yield return new($"Cluster:Nodes:{index}:Id", node.Id.Value.ToString(CultureInfo.InvariantCulture));
        yield return new($"Cluster:Nodes:{index}:Name", node.Name);
        yield return new($"Cluster:Nodes:{index}:Votes", node.Votes.ToString(CultureInfo.InvariantCulture));
    }

    private IEnumerable<(int[] Votes, IReadOnlyDictionary<string, string> Options, TimeSpan Now, int Device)> Cases(int maxNodes, IEnumerable<IReadOnlyDictionary<string, string>>? optionSets = null, IEnumerable<int>? deviceVotes = null)
    {
        var sets = (optionSets ?? OptionSets).ToList();
        var times = Times.ToList();
        var devices = (deviceVotes ?? DeviceVotes).ToList();
        for (var n = 1; n <= maxNodes; n++)
        {
            foreach (var votes in VoteAssignments(n))
            {
                foreach (var options in sets)
                {
                    foreach (var now in times)
                    {
                        foreach (var device in devices)
                        {
                            yield return (votes, options, now, device);
                        }
                    }
                }
            }
        }
    }

    private static int[] Range(int n) => [.. Enumerable.Range(1, n)];

    private static int[] Members(int n, int mask) => [.. Enumerable.Range(1, n).Where(i => (mask & (1 << (i - 1))) != 0)];

    private static string Fingerprint(QuorumDecision d) =>
        $"{d.Verdict} votes={d.Votes} expected={d.ExpectedVotes} needed={d.Needed} flags={string.Join(",", d.Flags)} dual={d.DualQuorum} reevaluate={d.ReevaluateAt} state={Convert.ToHexString(d.State.Span)} reason={d.Reason}";

    private static string Describe(int[] votes, IReadOnlyDictionary<string, string> options, TimeSpan now, int device = 0) =>
        $"votes [{string.Join(",", votes)}], options {{{string.Join(", ", options.Select(o => $"{o.Key}={o.Value}"))}}}, now {now}" +
        (device == 0 ? "" : $", a quorum device of {device} vote(s)");
}
