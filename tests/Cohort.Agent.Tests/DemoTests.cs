using System.Globalization;
using System.Text.RegularExpressions;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

[NonParallelizable]
public sealed partial class DemoTests : AgentTestBase
{
    [Test]
    public async Task The_demo_runs_a_real_agent_until_interrupted_and_cleans_up()
    {
        var demo = Start("demo");
        await Poll.UntilAsync("the demo to say it runs", () => demo.Stdout.Contains("Ctrl-C stops it", StringComparison.Ordinal));
        var socket = SocketLine().Match(demo.Stdout).Groups[1].Value;
        var agentPid = int.Parse(PidLine().Match(demo.Stdout).Groups[1].Value, CultureInfo.InvariantCulture);
        demo.AlsoOwnGroup(agentPid);

        var status = await JsonOf("status", "--json", "--socket", socket);
        Assert.That(status.GetProperty("quorate").GetBoolean(), Is.True);
        Assert.That(status.GetProperty("pid").GetInt32(), Is.EqualTo(agentPid));
        Assert.That(demo.Stdout, Does.Contain("quorum   quorate"));

        demo.Signal(Signals.Interrupt);

        Assert.That(await demo.WaitForExitAsync(), Is.Zero, demo.Stderr);
        Assert.That(Signals.Send(agentPid, 0), Is.False, "the demo's agent is gone");
        Assert.That(Directory.Exists(Path.GetDirectoryName(socket)), Is.False, "the demo's directory is removed");
    }

    [GeneratedRegex(@"Try: \./cohort status --socket (\S+)")]
    private static partial Regex SocketLine();

    [GeneratedRegex(@"pid (\d+)")]
    private static partial Regex PidLine();
}
