using System.Globalization;
using System.Text.RegularExpressions;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

[NonParallelizable]
public sealed partial class DemoTests : AgentTestBase
{
    [Test]
    public async Task The_demo_runs_three_real_agents_that_agree_on_a_quorate_view_fence_a_node_cut_off_and_stop_when_interrupted()
    {
        var demo = Start("demo");
        await Poll.UntilAsync("the demo to say it runs", () => demo.Stdout.Contains("Ctrl-C stops the demo", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
        var agents = AgentLine().Matches(demo.Stdout).Select(m => (Name: m.Groups[1].Value, Pid: int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), Socket: m.Groups[3].Value)).ToList();
        foreach (var agent in agents)
        {
            demo.AlsoOwnGroup(agent.Pid);
        }

        Assert.That(agents.Select(a => a.Name), Is.EqualTo(new[] { "node1", "node2", "node3" }), demo.Stdout);
        foreach (var agent in agents)
        {
            var status = await JsonOf("status", "--json", "--socket", agent.Socket);
            Assert.Multiple(() =>
            {
                Assert.That(status.GetProperty("pid").GetInt32(), Is.EqualTo(agent.Pid));
                Assert.That(status.GetProperty("quorate").GetBoolean(), Is.True);
                Assert.That(status.GetProperty("view").GetProperty("members").GetArrayLength(), Is.EqualTo(3));
                Assert.That(status.GetProperty("view").GetProperty("coordinator").GetInt32(), Is.EqualTo(1));
                Assert.That(status.GetProperty("view").GetProperty("epoch").GetInt64(), Is.GreaterThan(0));
                Assert.That(status.GetProperty("quorum").GetProperty("policy").GetString(), Is.EqualTo("votequorum"));
                Assert.That(status.GetProperty("quorum").GetProperty("votes").GetInt32(), Is.EqualTo(3));
                Assert.That(status.GetProperty("quorum").GetProperty("expected").GetInt32(), Is.EqualTo(3));
                Assert.That(status.GetProperty("transport").GetProperty("plugin").GetString(), Is.EqualTo("tcp"));
            });
        }

        Assert.That(demo.Stdout, Does.Contain("quorum   quorate on every node"));

        // The hint it prints works: cut node3 off, and the others re-form without it and fence it through
        // the process-group device: its agent dies and the history says so.
        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node1,node2", "--socket", agents[2].Socket);
        Assert.That(code, Is.Zero, stderr);
        await Poll.UntilAsync("node1 to have fenced node3", async () =>
            (await JsonOf("fence", "history", "--json", "--socket", agents[0].Socket)).EnumerateArray()
                .Any(e => e.GetProperty("victim").GetString() == "node3" && e.GetProperty("fenced").GetBoolean()) ? "" : null);
        await Poll.UntilAsync("the demo to report node3's death", () => demo.Stdout.Contains("node3 exited (code 137)", StringComparison.Ordinal));
        Assert.That((await JsonOf("status", "--json", "--socket", agents[0].Socket)).GetProperty("view").GetProperty("members").GetArrayLength(), Is.EqualTo(2));

        demo.Signal(Signals.Interrupt);

        Assert.That(await demo.WaitForExitAsync(TimeSpan.FromSeconds(60)), Is.Zero, demo.Stderr);
        Assert.That(agents.Where(a => Signals.Send(a.Pid, 0)), Is.Empty, "the demo's agents are gone");
        Assert.That(Directory.Exists(Path.GetDirectoryName(Path.GetDirectoryName(agents[0].Socket))), Is.False, "the demo's directory is removed");
    }

    [GeneratedRegex(@"^(node\d)\s+(\d+)\s+\S+\s+quorate\s+(\S+)$", RegexOptions.Multiline)]
    private static partial Regex AgentLine();
}
