using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// poison-pill between real agents: a two-node cluster (two_node quorum) whose only fencing level is node2's, so only
/// node1 fences and there is no race. node2's host runs the watchdog; node1 writes the poison into node2's slot of a
/// shared file and declares node2 dead only after 2 × WatchdogTimeout + MessageWait.
/// </summary>
[NonParallelizable]
public sealed partial class PoisonPillClusterTests : ClusterTestBase
{
    private const double WatchdogTimeout = 1;
    private const double MessageWait = 1;
    private static readonly double SafeWait = (2 * WatchdogTimeout) + MessageWait;

    private void WritePillCluster() =>
        WriteCluster(2, clusterExtra: $$"""
            , "Quorum": { "VoteQuorum": { "TwoNode": true } },
              "Fencing": {
                "MonitorInterval": 1,
                "Devices": {
                  "pill": { "Agent": "poison-pill", "Path": {{JsonSerializer.Serialize(Dir.Combine("pill"))}},
                            "WatchdogTimeout": {{WatchdogTimeout}}, "MessageWait": {{MessageWait}}, "Timeout": 10 }
                },
                "Levels": { "node2": [ [ "pill" ] ] }
              }
            """);

    private async Task<long> StartArmedAsync()
    {
        WritePillCluster();
        StartAgents();
        var statuses = await WaitForViewAsync([1, 2], [1, 2]);
        var watchdog = statuses[2].GetProperty("watchdog");
        Assert.Multiple(() =>
        {
            Assert.That(watchdog.GetProperty("armed").GetBoolean(), Is.True, watchdog.GetRawText());
            Assert.That(watchdog.GetProperty("timeoutSeconds").GetDouble(), Is.EqualTo(WatchdogTimeout));
            Assert.That(watchdog.GetProperty("devices").EnumerateArray().Select(d => d.GetString()), Is.EqualTo(new[] { "pill" }));
            Assert.That(statuses[1].TryGetProperty("watchdog", out var none) && none.ValueKind != JsonValueKind.Null, Is.False, "node1 has no self-fencing level: no watchdog");
        });
        await Poll.UntilAsync("node2's watchdog to be petted", async () =>
            (await StatusAsync(2))?.GetProperty("watchdog").GetProperty("lastPetAgeMilliseconds").ValueKind == JsonValueKind.Number ? "" : null);
        return IncarnationOf(statuses[1], 2);
    }

    [Test]
    public async Task A_split_off_node_reads_its_poison_and_its_watchdog_kills_it_while_the_survivor_stays_quorate()
    {
        var incarnation = await StartArmedAsync();

        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node1", "--socket", SocketOf(2));
        Assert.That(code, Is.Zero, stderr);

        Assert.That(await Agent(2).WaitForExitAsync(TimeSpan.FromSeconds(60)), Is.EqualTo(128 + Signals.Kill), "node2's watchdog killed its group with SIGKILL");
        var history = await WaitForFencedAsync(1, 2);
        var fenced = history.Single(e => e.GetProperty("fenced").GetBoolean());
        Assert.Multiple(() =>
        {
            Assert.That((fenced.GetProperty("device").GetString(), fenced.GetProperty("requester").GetString(), fenced.GetProperty("victimIncarnation").GetInt64()),
                Is.EqualTo(("pill", "node1", incarnation)));
            Assert.That(fenced.GetProperty("detail").GetString(), Does.Contain($"waited 2 × 1 s (watchdog) + 1 s (message wait) = {SafeWait} s"));
            Assert.That(Agent(2).Stderr, Does.Contain($"poison pill for this node (2#{incarnation})"));
            Assert.That(Agent(2).Stderr, Does.Contain("the agent fired it (it read a poison pill for itself)"));
        });

        var (gone, written, succeeded) = Timeline(incarnation);
        Assert.That(gone, Is.LessThan(succeeded), "node2's group was gone before node1 declared it fenced");
        Assert.That(succeeded - written, Is.GreaterThanOrEqualTo(SafeWait), "success only after the safe wait");
        await WaitForViewAsync([1], [1]);
    }

    [Test]
    public async Task A_node_that_cannot_read_its_slot_lives_while_it_sees_its_peer_and_dies_once_cut_off()
    {
        await StartArmedAsync();
        using (var pill = new FileStream(Dir.Combine("pill"), FileMode.Open, FileAccess.Write))
        {
            // A damaged header: nobody can read a slot or write a poison any more, as with a broken disk.
            pill.Write(Enumerable.Repeat((byte)0xA5, 4096).ToArray());
            pill.Flush(flushToDisk: true);
        }

        await Poll.UntilAsync("node2 to pet through an unreadable slot while it sees node1", async () =>
            (await StatusAsync(2))?.GetProperty("watchdog").GetProperty("lastReading").GetString()?.Contains("unreadable, but quorate", StringComparison.Ordinal) == true ? "" : null);

        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node1", "--socket", SocketOf(2));
        Assert.That(code, Is.Zero, stderr);
        Assert.That(await Agent(2).WaitForExitAsync(TimeSpan.FromSeconds(60)), Is.EqualTo(128 + Signals.Kill), "alone under two_node with an unreadable slot: no pets, and its watchdog kills it");
        var history = await HistoryAsync(1);
        Assert.Multiple(() =>
        {
            Assert.That(Agent(2).Stderr, Does.Contain("its quorum is dual (two_node alone), which does not count here"));
            Assert.That(history.Any(e => e.GetProperty("fenced").GetBoolean()), Is.False, "node1 cannot write the poison: it never declares node2 fenced");
        });
    }

    [Test]
    public async Task A_paused_agent_is_killed_by_its_watchdog_before_the_survivor_declares_it_fenced()
    {
        var incarnation = await StartArmedAsync();

        Agent(2).Signal(Signals.Stop); // the agent process only: its watchdog leads a session of its own

        Assert.That(await Agent(2).WaitForExitAsync(TimeSpan.FromSeconds(60)), Is.EqualTo(128 + Signals.Kill));
        await WaitForFencedAsync(1, 2);
        Assert.That(Agent(2).Stderr, Does.Contain($"no pet within {WatchdogTimeout} s"));

        var (gone, written, succeeded) = Timeline(incarnation);
        Assert.Multiple(() =>
        {
            Assert.That(gone, Is.LessThan(succeeded), "the paused node's group was gone before the survivor's success");
            Assert.That(succeeded - written, Is.GreaterThanOrEqualTo(SafeWait), "success came at least 2 × WatchdogTimeout + MessageWait after the poison was written");
        });
        await WaitForViewAsync([1], [1]);
    }

    /// <summary>CLOCK_MONOTONIC seconds: when node2's watchdog saw its group gone, when node1 wrote the poison, and
    /// when node1 logged the success.</summary>
    private (double Gone, double Written, double Succeeded) Timeline(long incarnation)
    {
        var victim = Agent(2).Stderr;
        var fencer = Agent(1).Stderr;
        var gone = GoneLine().Match(victim);
        var success = new Regex($@"fenced:True node2 \(2#{incarnation}\): .* at monotonic (\d+\.\d+); waited .* at monotonic (\d+\.\d+)").Match(fencer);
        Assert.That(gone.Success, Is.True, victim);
        Assert.That(success.Success, Is.True, fencer);
        return (Seconds(gone), Seconds(success), double.Parse(success.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    private static double Seconds(Match match) => double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"watchdog of pid \d+ \(incarnation \d+\): .*: killed group \d+ of incarnation \d+; gone at monotonic (\d+\.\d+)")]
    private static partial Regex GoneLine();
}
