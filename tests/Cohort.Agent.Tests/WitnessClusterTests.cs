using System.Globalization;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>Two real agents and a real <c>cohort witness</c> (the <c>witness-node</c> quorum device) on 127.0.0.1.</summary>
[NonParallelizable]
public sealed class WitnessClusterTests : ClusterTestBase
{
    private static readonly int[] Both = [1, 2];

    private string _witness = "";

    [TestCase(1)]
    [TestCase(2)]
    public async Task A_two_node_cluster_with_a_witness_survives_the_sigkill_of_either_node(int victim)
    {
        StartWitnessedCluster();
        await WaitForViewAsync(Both, Both);
        await WaitForDeviceAsync(1, granted: true);

        var survivor = 3 - victim;
        Agent(victim).Signal(Signals.Kill);

        var alone = await WaitForViewAsync([survivor], [survivor]);
        var quorum = await JsonOf("quorum", "--json", "--socket", SocketOf(survivor));
        Assert.Multiple(() =>
        {
            Assert.That(alone[survivor].GetProperty("quorum").GetProperty("reason").GetString(), Is.EqualTo("2 of 3 expected votes (1 from witness-node); 2 needed"));
            Assert.That(quorum.GetProperty("device").GetProperty("granted").GetBoolean(), Is.True);
            Assert.That(quorum.GetProperty("device").GetProperty("detail").GetString(), Is.EqualTo($"granted by witness {_witness}"));
        });

        // The survivor keeps the vote: it stays quorate through many witness leases.
        var changesBefore = QuorumChanges(Agent(survivor)).Count;
        await WaitForDeviceRenewalsAsync(survivor, renewals: 10);
        Assert.That(QuorumChanges(Agent(survivor)), Has.Count.EqualTo(changesBefore), "no quorum change while the witness renews its grant");
        Assert.That((await StatusAsync(survivor))!.Value.GetProperty("quorate").GetBoolean(), Is.True);
    }

    [Test]
    public async Task Without_its_witness_a_lone_node_is_not_quorate()
    {
        var witness = StartWitnessedCluster();
        await WaitForViewAsync(Both, Both);
        await WaitForDeviceAsync(1, granted: true);

        witness.Signal(Signals.Kill);
        await WaitForDeviceAsync(1, granted: false);
        await WaitForViewAsync(Both, Both); // two of three votes: still quorate

        Agent(2).Signal(Signals.Kill);
        var alone = await WaitForViewAsync([1], [1], quorate: false);
        Assert.That(alone[1].GetProperty("quorum").GetProperty("reason").GetString(), Does.StartWith("1 of 3 expected votes (witness-node: ").And.EndWith("); 2 needed"));
    }

    [Test]
    public async Task In_a_split_where_both_halves_reach_the_witness_only_the_tie_breaker_half_is_quorate()
    {
        StartWitnessedCluster();
        await WaitForViewAsync(Both, Both);
        await WaitForDeviceAsync(1, granted: true);

        foreach (var (node, peer) in new[] { (1, "node2"), (2, "node1") })
        {
            var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", peer, "--socket", SocketOf(node));
            Assert.That(code, Is.Zero, stderr);
        }

        var winner = await WaitForViewAsync([1], [1]);
        var loser = await WaitForViewAsync([2], [2], quorate: false);

        // Whether node2 asked while node1's grant held, or while both were free, the answer names node1's view.
        var reason = loser[2].GetProperty("quorum").GetProperty("reason").GetString();
        Assert.That(reason, Does.StartWith($"1 of 3 expected votes (witness-node: witness {_witness}: "));
        Assert.That(reason, Does.Contain($"the vote is view {ViewIdOf(winner[1])}'s for up to").Or.Contain($"view {ViewIdOf(winner[1])} is preferred: it holds the tie-breaker node"));
    }

    [Test]
    public async Task Under_self_fence_the_survivor_of_a_sigkill_waits_for_the_witness_vote_instead_of_fencing_itself()
    {
        StartWitnessedCluster(selfFence: true);
        await WaitForViewAsync(Both, Both);
        await WaitForDeviceAsync(1, granted: true);

        // node1's view of one lacks the witness's vote until node2's hold runs out.
        Agent(2).Signal(Signals.Kill);
        await WaitForViewAsync([1], [1]);
        await WaitForDeviceAsync(1, granted: true);
        Assert.That(Agent(1).Process.HasExited, Is.False, Agent(1).Stderr);
    }

    [Test]
    public async Task Under_self_fence_the_loser_of_a_split_fences_itself_once_the_witness_refused_it()
    {
        StartWitnessedCluster(selfFence: true);
        await WaitForViewAsync(Both, Both);
        await WaitForDeviceAsync(1, granted: true);

        foreach (var (node, peer) in new[] { (1, "node2"), (2, "node1") })
        {
            var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", peer, "--socket", SocketOf(node));
            Assert.That(code, Is.Zero, stderr);
        }

        Assert.That(await Agent(2).WaitForExitAsync(), Is.EqualTo(128 + Signals.Kill), "killed by its own SIGKILL");
        Assert.That(Agent(2).Stderr, Does.Contain("and Cluster:Quorum:NoQuorumPolicy is self-fence: this node fences itself"));
        await WaitForViewAsync([1], [1]);
        Assert.That(Agent(1).Process.HasExited, Is.False);
    }

    /// <summary>Starts <c>cohort witness</c> on a free port and a two-node cluster using it.</summary>
    private CohortProcess StartWitnessedCluster(bool selfFence = false)
    {
        var port = Ports.Free(1)[0];
        _witness = "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture);
        var noQuorum = selfFence ? """, "NoQuorumPolicy": "self-fence" """ : "";
        WriteCluster(2, clusterExtra: $$""", "Quorum": { "Device": "witness-node", "WitnessNode": { "Address": "{{_witness}}" }{{noQuorum}} }""");
        var witness = Start("witness", "--listen", _witness, "--key-file", KeyFile, "--max-lease", "1000");
        StartAgents();
        return witness;
    }

    /// <summary>Waits until the node's grant was renewed this many times, seen as its time left going up.</summary>
    private async Task WaitForDeviceRenewalsAsync(int node, int renewals)
    {
        var seen = 0;
        var last = double.MaxValue;
        await Poll.UntilAsync($"node{node} to see {renewals} renewals of its witness grant", async () =>
        {
            var device = await WaitForDeviceAsync(node, granted: true);
            var left = device.GetProperty("grantRemainingMilliseconds").GetDouble();
            seen += left > last ? 1 : 0;
            last = left;
            return seen >= renewals ? "" : null;
        }, TimeSpan.FromSeconds(60));
    }
}
