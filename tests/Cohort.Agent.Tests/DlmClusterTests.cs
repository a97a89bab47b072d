using System.Globalization;
using System.Text.Json;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// The lock manager in real agents on 127.0.0.1, driven through <c>cohort debug dlm-bench</c> (lock+unlock cycles of
/// one resource through the agent's <c>IDistributedLockManager</c>) and read back through <c>cohort status</c>.
/// </summary>
[NonParallelizable]
public sealed class DlmClusterTests : ClusterTestBase
{
    private const string Lockspace = "ls";
    private const string Resource = "r";
    private static readonly int[] All = [1, 2, 3];

    /// <summary>Idle resources stay with their master for the whole test (the default 10 s could drop them between steps).</summary>
    private const string LongCache = """, "Dlm": { "CacheTime": 600 }""";

    [Test]
    public async Task Dlm_bench_runs_on_every_node_and_the_tokens_of_a_resource_only_grow()
    {
        WriteCluster(3, clusterExtra: LongCache);
        StartAgents();
        await WaitForViewAsync(All, All);

        var last = Token.None;
        foreach (var node in new[] { 2, 1, 3, 2 })
        {
            var report = await BenchAsync(node, count: 20);
            var first = Token.Parse(report.GetProperty("firstToken").GetString()!);
            var final = Token.Parse(report.GetProperty("lastToken").GetString()!);
            Assert.Multiple(() =>
            {
                Assert.That(report.GetProperty("dlm").GetProperty("samples").GetInt32(), Is.EqualTo(20), $"node{node}");
                Assert.That(report.GetProperty("tokensGrew").GetBoolean(), Is.True, $"node{node}: every EX grant's token above the one before");
                Assert.That(final, Is.GreaterThan(first), $"node{node}: {first} then {final}");
                Assert.That(first, Is.GreaterThan(last), $"node{node}'s first token {first} above the last one seen before, {last}");
            });
            last = final;
        }
    }

    [Test]
    public async Task Dlm_status_shows_each_lockspace_with_all_its_members_and_the_master_of_a_resource_and_a_clean_leaver_drops_out()
    {
        WriteCluster(3, clusterExtra: LongCache);
        StartAgents();
        await WaitForViewAsync(All, All);

        foreach (var node in new[] { 2, 1, 3 })
        {
            await BenchAsync(node, count: 1); // node2 asks first: it masters the resource
        }

        var lockspaces = await WaitForLockspaceAsync(All, All);
        Assert.Multiple(() =>
        {
            foreach (var (node, ls) in lockspaces)
            {
                Assert.That(ls.GetProperty("phase").GetString(), Is.EqualTo("running"), $"node{node}");
                Assert.That(ls.GetProperty("locks").GetInt32(), Is.Zero, $"node{node}: every bench unlocked");
                Assert.That(ls.GetProperty("mastered").GetInt32(), Is.EqualTo(node == 2 ? 1 : 0), $"node{node}: the first node to ask masters the resource");
                Assert.That(ls.GetProperty("rejectedFrames").GetInt64(), Is.Zero, $"node{node}");
                Assert.That(ls.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("name").GetString()), Is.EqualTo(new[] { "node1", "node2", "node3" }));
            }
        });

        var (code, stdout, stderr) = await CohortProcess.RunAsync("status", "--socket", SocketOf(1));
        Assert.That(code, Is.Zero, stderr);
        Assert.That(stdout, Does.Contain("lockspace  ls (id 1): running, recovery ").And.Contain("members node1 (1#1), node2 (2#1), node3 (3#1)"));

        // A clean leave drains the lock manager (its drain hook is collected with the plugins'), and the lockspace recovers without it.
        (code, _, stderr) = await CohortProcess.RunAsync("leave", "--socket", SocketOf(3));
        Assert.That(code, Is.Zero, stderr);
        Assert.That(await Agent(3).WaitForExitAsync(), Is.Zero);
        Assert.That(Agent(3).Stderr, Does.Contain("dlm: every lock of this node's clients is released"));
        var survivors = await WaitForLockspaceAsync([1, 2], [1, 2]);
        Assert.That(survivors[2].GetProperty("mastered").GetInt32(), Is.EqualTo(1), "node2 still masters the resource");
        await BenchAsync(1, count: 3);
    }

    [Test]
    public async Task Dlm_after_the_master_of_a_resource_is_killed_a_survivor_locks_it_with_a_greater_token()
    {
        WriteFencedCluster();
        StartAgents();
        await WaitForViewAsync(All, All);

        var first = await BenchAsync(3, count: 5); // node3 masters the resource
        var seen = Token.Parse(first.GetProperty("lastToken").GetString()!);
        var remote = await BenchAsync(1, count: 5);
        seen = Max(seen, Token.Parse(remote.GetProperty("lastToken").GetString()!));
        await BenchAsync(2, count: 1);
        var before = await WaitForLockspaceAsync(All, All);
        Assert.That(before[3].GetProperty("mastered").GetInt32(), Is.EqualTo(1), "node3 masters the resource");

        Agent(3).Signal(Signals.Kill);
        await WaitForViewAsync([1, 2], [1, 2]);
        await WaitForFencedAsync(1, 3);
        await WaitForLockspaceAsync([1, 2], [1, 2]);

        var after = await BenchAsync(1, count: 5, timeoutSeconds: 30);
        var token = Token.Parse(after.GetProperty("firstToken").GetString()!);
        Assert.Multiple(() =>
        {
            Assert.That(after.GetProperty("tokensGrew").GetBoolean(), Is.True);
            Assert.That(token, Is.GreaterThan(seen), $"the first token after node3 died, {token}, above every token granted before, up to {seen}");
        });
    }

    /// <summary>Three nodes fenced by a process-group device (which kills the victim agent's group), idle resources kept.</summary>
    private void WriteFencedCluster() => WriteCluster(3, clusterExtra: LongCache + ProcessGroupFencing(3));

    /// <summary>Runs <c>cohort debug dlm-bench</c> on a node (EX on <see cref="Resource"/>); returns its report.</summary>
    private async Task<JsonElement> BenchAsync(int node, int count, int timeoutSeconds = 20)
    {
        var (code, stdout, stderr) = await CohortProcess.RunAsync(
            "debug", "dlm-bench", "--socket", SocketOf(node), "--lockspace", Lockspace, "--resource", Resource,
            "--count", count.ToString(CultureInfo.InvariantCulture), "--warmup", "0", "--timeout", timeoutSeconds.ToString(CultureInfo.InvariantCulture));
        Assert.That(code, Is.Zero, $"dlm-bench on node{node}: {stderr}\nnode{node}'s log:\n{Agent(node).Stderr}");
        return JsonDocument.Parse(stdout).RootElement.Clone();
    }

    /// <summary>Polls until each node's status shows <see cref="Lockspace"/> running with exactly these members; returns it per node.</summary>
    private async Task<Dictionary<int, JsonElement>> WaitForLockspaceAsync(int[] nodes, int[] members) =>
        await Poll.UntilAsync($"nodes {string.Join(",", nodes)} to run lockspace {Lockspace} with members {string.Join(",", members)}", async () =>
        {
            var found = new Dictionary<int, JsonElement>();
            foreach (var node in nodes)
            {
                if (await StatusAsync(node) is not { } status
                    || !status.TryGetProperty("dlm", out var dlm) || dlm.ValueKind != JsonValueKind.Object
                    || dlm.GetProperty("lockspaces").EnumerateArray().FirstOrDefault(l => l.GetProperty("name").GetString() == Lockspace) is not { ValueKind: JsonValueKind.Object } ls
                    || ls.GetProperty("phase").GetString() != "running"
                    || !ls.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("nodeId").GetInt32()).SequenceEqual(members))
                {
                    return null;
                }

                found[node] = ls;
            }

            return found;
        }, TimeSpan.FromSeconds(90));

    private static Token Max(Token a, Token b) => a.CompareTo(b) >= 0 ? a : b;

    /// <summary>A fencing token as dlm-bench prints it: <c>viewseq.recovery:counter</c>, or <c>-</c>.</summary>
    private sealed record Token(long ViewSeq, int Recovery, long Counter) : IComparable<Token>
    {
        public static Token None { get; } = new(0, 0, 0);

        public static Token Parse(string text)
        {
            if (text == "-")
            {
                return None;
            }

            var colon = text.IndexOf(':', StringComparison.Ordinal);
            var dot = text.IndexOf('.', StringComparison.Ordinal);
            return new Token(
                long.Parse(text[..dot], CultureInfo.InvariantCulture),
                int.Parse(text[(dot + 1)..colon], CultureInfo.InvariantCulture),
                long.Parse(text[(colon + 1)..], CultureInfo.InvariantCulture));
        }

        public int CompareTo(Token? other)
        {
            ArgumentNullException.ThrowIfNull(other);
            var c = ViewSeq.CompareTo(other.ViewSeq);
            c = c != 0 ? c : Recovery.CompareTo(other.Recovery);
            return c != 0 ? c : Counter.CompareTo(other.Counter);
        }

        public override string ToString() => $"{ViewSeq}.{Recovery}:{Counter}";
    }
}
