using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>Two real agents sharing a real file as their quorum device (<c>witness-file</c>) on one machine.</summary>
[NonParallelizable]
public sealed class WitnessFileClusterTests : ClusterTestBase
{
    private static readonly int[] Both = [1, 2];

    [TestCase(1)]
    [TestCase(2)]
    public async Task A_two_node_cluster_with_a_witness_file_survives_the_sigkill_of_either_node(int victim)
    {
        StartCluster();
        await WaitForViewAsync(Both, Both);
        await WaitForDeviceAsync(1, granted: true);
        await WaitForDeviceAsync(2, granted: true);

        var survivor = 3 - victim;
        Agent(victim).Signal(Signals.Kill);

        var alone = await WaitForViewAsync([survivor], [survivor]);
        Assert.That(alone[survivor].GetProperty("quorum").GetProperty("reason").GetString(), Is.EqualTo("2 of 3 expected votes (1 from witness-file); 2 needed"));
        var device = await WaitForDeviceAsync(survivor, granted: true);
        Assert.That(device.GetProperty("detail").GetString(), Is.EqualTo("held"));
    }

    [Test]
    public async Task In_a_split_both_sides_share_the_file_and_only_one_is_quorate()
    {
        StartCluster();
        await WaitForViewAsync(Both, Both);
        await WaitForDeviceAsync(1, granted: true);

        foreach (var (node, peer) in new[] { (1, "node2"), (2, "node1") })
        {
            var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", peer, "--socket", SocketOf(node));
            Assert.That(code, Is.Zero, stderr);
        }

        // Whichever side claims first once the old view's claims fell silent keeps the vote.
        var winner = await Poll.UntilAsync("one side alone to be quorate", async () =>
        {
            var statuses = new[] { await StatusAsync(1), await StatusAsync(2) };
            if (statuses.Any(s => s is null || MembersOf(s.Value).Length != 1))
            {
                return null;
            }

            var quorate = statuses.Select(s => s!.Value.GetProperty("quorate").GetBoolean()).ToArray();
            return quorate[0] != quorate[1] ? (quorate[0] ? "1" : "2") : null;
        }, TimeSpan.FromSeconds(60));
        var loser = winner == "1" ? 2 : 1;
        var reason = (await StatusAsync(loser))!.Value.GetProperty("quorum").GetProperty("reason").GetString();
        Assert.That(reason, Does.Contain($"node {winner}'s claim for view ").And.Contain("waiting until it has been silent for the lease"));
    }

    private void StartCluster()
    {
        var file = Dir.Combine("witness.lease");
        WriteCluster(2, clusterExtra: $$""", "Quorum": { "Device": "witness-file", "WitnessFile": { "Path": "{{file}}" } }""");
        StartAgents();
    }
}
