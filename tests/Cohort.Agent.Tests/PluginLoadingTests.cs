using System.Reflection;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>Third-party plugins, deployed by copying their build output, loaded by a real agent.</summary>
[NonParallelizable]
public sealed class PluginLoadingTests : AgentTestBase
{
    [Test]
    public async Task A_third_party_policy_is_loaded_in_its_own_context_and_chosen_by_config()
    {
        var folder = Deploy("Acme.Quorum.Percent");
        Deploy("Cohort.Quorum.VoteQuorum");
        var node = WriteConfig(
            """{ "Nodes": [ { "Id": 1, "Name": "n1", "Votes": 2 } ], "Quorum": { "Policy": "percent", "Percent": { "Percent": 60 } } }""",
            nodeExtra: ", \"PluginDirectory\": \"plugins\"");
        var (_, status) = await StartAgentAsync(node);
        var plugins = await JsonOf("plugins", "--json", "--socket", Socket);

        var percent = plugins.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "percent");
        Assert.Multiple(() =>
        {
            Assert.That(percent.GetProperty("path").GetString(), Is.EqualTo(Path.Combine(folder, "Acme.Quorum.Percent.dll")));
            Assert.That(percent.GetProperty("loadContext").GetString(), Is.EqualTo("Acme.Quorum.Percent"), "its own load context, not Default");
            Assert.That(percent.GetProperty("selected").GetBoolean(), Is.True);
            Assert.That(plugins.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "votequorum").GetProperty("selected").GetBoolean(), Is.False);
            Assert.That(status.GetProperty("quorum").GetProperty("policy").GetString(), Is.EqualTo("percent"));
            Assert.That(status.GetProperty("quorum").GetProperty("reason").GetString(), Is.EqualTo("2 of 2 votes; 60% is 2"), "the plugin decided, with its configured option");
            Assert.That(status.GetProperty("quorate").GetBoolean(), Is.True);
        });
    }

    [Test]
    public async Task A_plugin_carrying_another_version_of_a_host_dependency_loads_side_by_side()
    {
        Deploy("Acme.Quorum.Rule");
        var node = WriteConfig(
            """{ "Nodes": [ { "Id": 1, "Name": "n1" } ], "Quorum": { "Policy": "rule", "Rule": { "Expression": "--min-votes 1 --require 1" } } }""",
            nodeExtra: ", \"PluginDirectory\": \"plugins\"");

        var (_, status) = await StartAgentAsync(node);
        var plugins = await JsonOf("plugins", "--json", "--socket", Socket);

        var hostVersion = AssemblyName.GetAssemblyName(Path.Combine(RepoPaths.Install, "System.CommandLine.dll")).Version!;
        var rule = plugins.EnumerateArray().Single(p => p.GetProperty("name").GetString() == "rule");
        var privateCopy = rule.GetProperty("privateAssemblies").EnumerateArray()
            .Single(a => a.GetProperty("name").GetString() == "System.CommandLine").GetProperty("version").GetString();
        Assert.Multiple(() =>
        {
            Assert.That(hostVersion.Major, Is.EqualTo(3), "the host runs System.CommandLine 3");
            Assert.That(privateCopy, Is.EqualTo("2.0.0.0"), "the plugin runs its own System.CommandLine 2.0.0");
            Assert.That(status.GetProperty("quorum").GetProperty("reason").GetString(), Does.EndWith("(rule parsed by System.CommandLine 2.0.0.0)"));
            Assert.That(status.GetProperty("quorate").GetBoolean(), Is.True);
        });
    }

    [Test]
    public async Task A_broken_plugin_in_the_directory_stops_the_agent_with_one_line_naming_it()
    {
        Deploy("Cohort.Quorum.VoteQuorum");
        Deploy("Cohort.TestPlugins.Throwing");
        var node = WriteConfig("""{ "Nodes": [ { "Id": 1, "Name": "n1" } ] }""", nodeExtra: ", \"PluginDirectory\": \"plugins\"");

        var (code, _, stderr) = await CohortProcess.RunAsync("agent", "--config", node);

        Assert.That(code, Is.EqualTo(Host.ExitCodes.Config));
        Assert.That(Lines(stderr), Is.EqualTo(new[]
        {
            $"cohort: plugin Cohort.TestPlugins.Throwing ({Dir.Combine("plugins", "Cohort.TestPlugins.Throwing", "Cohort.TestPlugins.Throwing.dll")}): refused: its entry Cohort.TestPlugins.Throwing.ThrowingPlugin threw InvalidOperationException: license server unreachable",
        }));
    }
}
