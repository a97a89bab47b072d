using System.Text.Json;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// Owns what a multi-process test starts: a temporary directory and every process, killed in
/// teardown even when the test failed.
/// </summary>
public abstract class AgentTestBase : TempDirectoryTest
{
    private readonly List<CohortProcess> _processes = [];

    protected string Socket => Dir.Combine("state", "admin.sock");

    [TearDown]
    public void KillEverything()
    {
        foreach (var process in _processes)
        {
            if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
            {
                TestContext.Out.WriteLine($"--- {string.Join(' ', process.Process.StartInfo.ArgumentList)} (pid {process.Pid}) stderr:\n{process.Stderr}");
            }

            process.Dispose();
        }

        _processes.Clear();
    }

    /// <summary>Writes a node file (state and socket inside the test directory) and a cluster file.</summary>
    protected string WriteConfig(string cluster, string nodeExtra = "", string name = "node.json")
    {
        Dir.Write("cluster.json", cluster);
        return Dir.Write(name, $$"""
            { "Node": { "Id": 1, "Bootstrap": "cluster.json", "StateDirectory": "state"{{nodeExtra}} } }
            """);
    }

    /// <summary>Deploys a plugin's build output into the test's own plugin directory (<c>plugins</c>),
    /// with the configuration system and the lock manager every agent needs beside it.</summary>
    protected string Deploy(string project)
    {
        Dir.CopyFolder(RepoPaths.BuildOutput("Cohort.Ccs"), Path.Combine("plugins", "Cohort.Ccs"));
        Dir.CopyFolder(RepoPaths.BuildOutput("Cohort.Dlm"), Path.Combine("plugins", "Cohort.Dlm"));
        return Dir.CopyFolder(RepoPaths.BuildOutput(project), Path.Combine("plugins", project));
    }

    protected CohortProcess Start(params string[] arguments)
    {
        var process = CohortProcess.Start(arguments);
        _processes.Add(process);
        return process;
    }

    /// <summary>Starts an agent and waits until its admin socket answers with an installed view.</summary>
    protected async Task<(CohortProcess Agent, JsonElement Status)> StartAgentAsync(string nodeFile, params string[] extra)
    {
        var agent = Start(["agent", "--config", nodeFile, .. extra]);
        var status = await WaitForStatusAsync(agent);
        return (agent, status);
    }

    protected async Task<JsonElement> WaitForStatusAsync(CohortProcess agent, string? socket = null)
    {
        socket ??= Socket;
        var text = await Poll.UntilAsync($"the agent (pid {agent.Pid}) to answer status on {socket}", async () =>
        {
            if (agent.Process.HasExited)
            {
                throw new InvalidOperationException($"the agent exited with {agent.Process.ExitCode} before answering:\n{agent.Stderr}");
            }

            var (code, stdout, _) = await CohortProcess.RunAsync("status", "--json", "--socket", socket);
            return code == 0 && JsonDocument.Parse(stdout).RootElement.GetProperty("view").ValueKind == JsonValueKind.Object ? stdout : null;
        });
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    protected static async Task<JsonElement> JsonOf(params string[] arguments)
    {
        var (code, stdout, stderr) = await CohortProcess.RunAsync(arguments);
        Assert.That(code, Is.Zero, $"cohort {string.Join(' ', arguments)} failed: {stderr}");
        return JsonDocument.Parse(stdout).RootElement.Clone();
    }

    protected static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
