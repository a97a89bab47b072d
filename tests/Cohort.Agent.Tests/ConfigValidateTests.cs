namespace Cohort.Agent.Tests;

/// <summary><c>cohort config validate</c>: offline, with the installed plugins' validators.</summary>
public sealed class ConfigValidateTests : AgentTestBase
{
    [Test]
    public async Task A_valid_document_is_summarised_with_its_hash()
    {
        var file = Dir.Write("cluster.json", """{ "Name": "prod", "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 2, "Name": "b", "Votes": 2 } ] }""");
        var (code, stdout, stderr) = await CohortProcess.RunAsync("config", "validate", file);
        Assert.That(code, Is.Zero, stderr);
        var sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)));
        Assert.That(stdout.Trim(), Is.EqualTo($"{file}: valid: cluster prod, 2 nodes, 3 votes, policy votequorum; sha256 {sha}"));
    }

    [Test]
    public async Task Every_problem_is_reported_with_its_key_and_what_was_expected()
    {
        var file = Dir.Write("cluster.json", """
            { "version": 4, "Nodes": [ { "Id": 1, "Name": "a", "Votes": -2 } ], "Quorum": { "Policy": "nosuch" }, "Colour": "blue" }
            """);
        var (code, _, stderr) = await CohortProcess.RunAsync("config", "validate", file);
        Assert.That(code, Is.EqualTo(78));
        Assert.That(Lines(stderr), Is.EqualTo(new[]
        {
            $"cohort: {file}: $.version: expected no version key: CCS assigns versions (use --expect-version to apply only on top of a given one), got \"4\"",
        }), "a version key is refused first: it means the file is not a bare document");

        Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "a", "Votes": -2 } ], "Colour": "blue" }""");
        (code, _, stderr) = await CohortProcess.RunAsync("config", "validate", file);
        Assert.That(code, Is.EqualTo(78));
        Assert.That(Lines(stderr), Has.Length.EqualTo(2));
        Assert.That(Lines(stderr)[0], Is.EqualTo($"cohort: {file}: $.Nodes[0].Votes: expected an integer from 0 to 1000000, got \"-2\""));
        Assert.That(Lines(stderr)[1], Does.StartWith($"cohort: {file}: $.Colour: unknown key; the document knows "));

        Dir.Write("cluster.json", """{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Quorum": { "Policy": "nosuch", "VoteQuorum": { "ExpectedVotes": "many" } } }""");
        (code, _, stderr) = await CohortProcess.RunAsync("config", "validate", file);
        Assert.That(code, Is.EqualTo(78));
        Assert.That(Lines(stderr), Has.Length.EqualTo(2));
        Assert.That(Lines(stderr)[0], Does.StartWith($"cohort: {file}: $.Quorum.Policy: expected the name of a quorum-policy plugin in "));
        Assert.That(Lines(stderr)[1], Does.StartWith($"cohort: {file}: $.Quorum.VoteQuorum.ExpectedVotes: "), "the plugin's own validator judged its section");
    }

    [Test]
    public async Task Fence_devices_are_judged_by_their_agents_and_a_missing_agent_is_named()
    {
        var file = Dir.Write("cluster.json", """
            {
              "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 2, "Name": "b" } ],
              "Fencing": {
                "Devices": {
                  "kill": { "Agent": "process-group", "Colour": "red" },
                  "dummy": { "Agent": "external", "Program": "fence_dummy", "Options": { "staus-file": "/tmp/x" } },
                  "pdu": { "Agent": "nosuch" }
                },
                "Levels": { "*": [ [ "dummy" ], [ "kill" ] ], "b": [ [ "pdu" ] ] }
              }
            }
            """);
        var (code, _, stderr) = await CohortProcess.RunAsync("config", "validate", file);
        Assert.That(code, Is.EqualTo(78), stderr);
        var lines = Lines(stderr);
        Assert.Multiple(() =>
        {
            Assert.That(lines, Has.Some.StartsWith($"cohort: {file}: $.Fencing.Devices.kill.Colour: "));
            Assert.That(lines, Has.Some.StartsWith($"cohort: {file}: $.Fencing.Devices.dummy.Options.staus-file: "), "external names an option fence_dummy's metadata does not have");
            Assert.That(lines, Has.Some.StartsWith($"cohort: {file}: $.Fencing.Devices.pdu.Agent: expected the name of a fence-agent plugin in ").And.Contains("external").And.EndsWith("got \"nosuch\""));
            Assert.That(lines, Has.Length.EqualTo(3));
        });

        Dir.Write("cluster.json", """
            { "Nodes": [ { "Id": 1, "Name": "a" } ], "Fencing": { "Devices": { "kill": { "Agent": "process-group" } }, "Levels": { "*": [ [ "kill" ] ] } } }
            """);
        (code, _, stderr) = await CohortProcess.RunAsync("config", "validate", file);
        Assert.That(code, Is.Zero, stderr);
    }

    [Test]
    public async Task A_file_that_is_not_json_is_named()
    {
        var file = Dir.Write("cluster.json", "{ \"Nodes\": [ ");
        var (code, _, stderr) = await CohortProcess.RunAsync("config", "validate", file);
        Assert.That(code, Is.EqualTo(78));
        Assert.That(stderr, Does.StartWith($"cohort: {file}: expected a JSON object: "));
    }
}
