using System.Text.Json;
using Cohort.Host;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary><c>cohort simulate</c>, run as operators run it: separate processes, plugins loaded from the plugin directory.</summary>
[NonParallelizable]
public sealed class SimulateCommandTests : AgentTestBase
{
    [Test]
    public async Task The_same_seed_gives_the_same_trace_hash_in_two_processes()
    {
        string[] args = ["simulate", "--seed", "7", "--nodes", "5", "--seeds", "2", "--span", "30", "--json"];
        var first = await JsonOf(args);
        var second = await JsonOf(args);

        Assert.That(first.GetProperty("traceHash").GetString(), Has.Length.EqualTo(64));
        Assert.That(second.GetProperty("traceHash").GetString(), Is.EqualTo(first.GetProperty("traceHash").GetString()));
        Assert.That(first.GetProperty("schedules").GetInt32(), Is.EqualTo(2));
        Assert.That(first.GetProperty("violations").GetArrayLength(), Is.Zero);
        Assert.That(first.GetProperty("viewsInstalled").GetInt64(), Is.GreaterThan(0));
    }

    [Test]
    public async Task A_mutant_is_reported_as_a_violation_and_fails_the_command()
    {
        var (code, stdout, stderr) = await CohortProcess.RunAsync("simulate", "--seed", "7", "--nodes", "5", "--seeds", "3", "--span", "60", "--mutant", "lease-off", "--json");

        Assert.That(code, Is.EqualTo(ExitCodes.Failure), stderr);
        var violations = JsonDocument.Parse(stdout).RootElement.GetProperty("violations");
        Assert.That(violations.GetArrayLength(), Is.GreaterThan(0));
        var first = violations[0];
        Assert.That(first.GetProperty("invariant").GetString(), Is.EqualTo("no-split-brain"));
        Assert.That(first.GetProperty("lastSteps").GetArrayLength(), Is.GreaterThan(0));
        Assert.That(first.GetProperty("seed").GetUInt64(), Is.GreaterThanOrEqualTo(7));
    }

    [Test]
    public async Task Ccs_is_simulated_and_its_mutants_are_caught()
    {
        string[] args = ["simulate", "--ccs", "--seed", "3", "--nodes", "5", "--seeds", "2", "--span", "20", "--json"];
        var (code, stdout, stderr) = await CohortProcess.RunAsync(args);
        Assert.That(code, Is.Zero, stderr);
        var report = JsonDocument.Parse(stdout).RootElement;
        Assert.That(report.GetProperty("violations").GetArrayLength(), Is.Zero);
        Assert.That(report.GetProperty("schedules").GetInt32(), Is.EqualTo(2));
        Assert.That(stderr, Does.Match(@"ccs: \d+ proposals, \d+ answered committed, [1-9]\d* versions committed"));
        var again = JsonDocument.Parse((await CohortProcess.RunAsync(args)).Stdout).RootElement;
        Assert.That(again.GetProperty("traceHash").GetString(), Is.EqualTo(report.GetProperty("traceHash").GetString()), "the same seed gives the same trace in another process");
        Assert.That(again.GetProperty("steps").GetInt64(), Is.EqualTo(report.GetProperty("steps").GetInt64()));

        (code, stdout, stderr) = await CohortProcess.RunAsync("simulate", "--mutant", "ack-before-fsync", "--nodes", "5", "--seeds", "100", "--span", "10", "--json");
        Assert.That(code, Is.EqualTo(ExitCodes.Failure), stderr);
        var caught = JsonDocument.Parse(stdout).RootElement.GetProperty("violations")[0];
        Assert.That(caught.GetProperty("invariant").GetString(), Is.EqualTo("ccs"));
        Assert.That(caught.GetProperty("detail").GetString(), Does.Contain("two documents under one version"));
    }

    [Test]
    public async Task Fencing_is_simulated_and_the_gate_on_timeout_mutant_is_caught()
    {
        string[] args = ["simulate", "--fencing", "--seed", "5", "--nodes", "3", "--seeds", "2", "--span", "30", "--json"];
        var (code, stdout, stderr) = await CohortProcess.RunAsync(args);
        Assert.That(code, Is.Zero, stderr);
        var report = JsonDocument.Parse(stdout).RootElement;
        Assert.That(report.GetProperty("violations").GetArrayLength(), Is.Zero);
        Assert.That(stderr, Does.Match(@"fencing: [1-9]\d* fence operations, \d+ live victims killed by a device, \d+ timeouts, [1-9]\d* gates opened"));
        var again = JsonDocument.Parse((await CohortProcess.RunAsync(args)).Stdout).RootElement;
        Assert.That(again.GetProperty("traceHash").GetString(), Is.EqualTo(report.GetProperty("traceHash").GetString()), "the same seed gives the same trace in another process");

        (code, stdout, stderr) = await CohortProcess.RunAsync("simulate", "--mutant", "gate-on-timeout", "--nodes", "3", "--seeds", "50", "--span", "30", "--json");
        Assert.That(code, Is.EqualTo(ExitCodes.Failure), stderr);
        var caught = JsonDocument.Parse(stdout).RootElement.GetProperty("violations")[0];
        Assert.That(caught.GetProperty("invariant").GetString(), Is.EqualTo("fencing"));
        Assert.That(caught.GetProperty("detail").GetString(), Does.Contain("what it holds would be recovered while it is alive"));
    }

    [Test]
    public async Task The_two_node_sample_runs_fence_races_and_the_no_delay_mutant_is_caught()
    {
        var sample = Path.Combine(RepoPaths.Root, "samples", "two-node", "cluster.json");
        var (code, stdout, stderr) = await CohortProcess.RunAsync("simulate", "--cluster", sample, "--seeds", "5", "--span", "90", "--json");
        Assert.That(code, Is.Zero, stderr);
        Assert.That(JsonDocument.Parse(stdout).RootElement.GetProperty("violations").GetArrayLength(), Is.Zero);
        Assert.That(stderr, Does.Match(@"fence races: [1-9]\d* splits, [1-9]\d* with one survivor, 0 double fences; [1-9]\d* decided by the delays \(gap 5 s, "));

        (code, stdout, stderr) = await CohortProcess.RunAsync("simulate", "--cluster", sample, "--mutant", "no-delay", "--seeds", "20", "--span", "90", "--json");
        Assert.That(code, Is.EqualTo(ExitCodes.Failure), stderr);
        var caught = JsonDocument.Parse(stdout).RootElement.GetProperty("violations")[0];
        Assert.That(caught.GetProperty("invariant").GetString(), Is.EqualTo("fence-race"));
        Assert.That(caught.GetProperty("detail").GetString(), Does.StartWith("(b) no survivor"));
    }

    [Test]
    public async Task A_cluster_file_with_a_third_party_policy_is_simulated_through_the_plugin_loader()
    {
        var cluster = Dir.Write("cluster.json", """
            { "Name": "sim", "Nodes": [ { "Id": 1, "Name": "a" }, { "Id": 2, "Name": "b" }, { "Id": 3, "Name": "c", "Votes": 2 } ],
              "Quorum": { "Policy": "percent", "Percent": { "Percent": 60 } },
              "Membership": { "HeartbeatInterval": 100, "FailureTimeout": 800, "QuorumLease": 600 } }
            """);

        var report = await JsonOf("simulate", "--cluster", cluster, "--seeds", "2", "--span", "30", "--json");

        Assert.That(report.GetProperty("nodes").GetInt32(), Is.EqualTo(3));
        Assert.That(report.GetProperty("violations").GetArrayLength(), Is.Zero);
    }

    [Test]
    public async Task The_static_policy_is_simulated_and_its_validator_sees_the_node_list()
    {
        const string nodes = """[ { "Id": 1, "Name": "a" }, { "Id": 2, "Name": "b" }, { "Id": 3, "Name": "c" }, { "Id": 4, "Name": "d" } ]""";
        var unsafeFile = Dir.Write("unsafe.json", $$"""{ "Nodes": {{nodes}}, "Quorum": { "Policy": "static", "Static": { "MinimumMembers": 2 } } }""");
        var safeFile = Dir.Write("safe.json", $$"""{ "Nodes": {{nodes}}, "Quorum": { "Policy": "static", "Static": { "MinimumMembers": 3 } } }""");

        var (code, _, stderr) = await CohortProcess.RunAsync("simulate", "--cluster", unsafeFile);
        var report = await JsonOf("simulate", "--cluster", safeFile, "--seeds", "2", "--span", "30", "--json");

        Assert.That(code, Is.EqualTo(ExitCodes.Config));
        Assert.That(Lines(stderr), Is.EqualTo(new[] { $"cohort: {unsafeFile}: $.Quorum.Static.MinimumMembers: expected more than half of the 4 voting nodes (at least 3), or AllowDualQuorum: true to accept that both sides of a split may be quorate, got \"2\"" }));
        Assert.That(report.GetProperty("violations").GetArrayLength(), Is.Zero);
        Assert.That(report.GetProperty("viewsInstalled").GetInt64(), Is.GreaterThan(0));
    }

    [TestCase("votequorum")]
    [TestCase("static")]
    [TestCase("keep-oldest")]
    public async Task Every_reference_policy_is_simulated_with_every_reference_device_and_none(string policy)
    {
        foreach (var device in new[] { "none", "witness-node", "witness-file" })
        {
            var report = await JsonOf("simulate", "--nodes", "3", "--policy", policy, "--device", device, "--seeds", "2", "--span", "30", "--json");

            Assert.That(report.GetProperty("violations").GetArrayLength(), Is.Zero, $"{policy} with device {device}");
            Assert.That(report.GetProperty("viewsInstalled").GetInt64(), Is.GreaterThan(0));
        }
    }

    [Test]
    public async Task The_witness_sample_is_simulated_with_its_device_and_its_mutant_is_caught()
    {
        var sample = Path.Combine(Cohort.TestSupport.RepoPaths.Root, "samples", "witness", "cluster.json");
        var clean = await JsonOf("simulate", "--cluster", sample, "--seeds", "2", "--span", "30", "--json");
        var (code, stdout, stderr) = await CohortProcess.RunAsync("simulate", "--cluster", sample, "--seeds", "40", "--span", "60", "--mutant", "device-grant-never-ends", "--json");

        Assert.That(clean.GetProperty("violations").GetArrayLength(), Is.Zero);
        Assert.That(code, Is.EqualTo(ExitCodes.Failure), stderr);
        Assert.That(JsonDocument.Parse(stdout).RootElement.GetProperty("violations")[0].GetProperty("invariant").GetString(), Is.EqualTo("no-split-brain"));
    }

    [Test]
    public async Task A_device_the_simulator_has_no_model_of_is_one_line()
    {
        var (code, _, stderr) = await CohortProcess.RunAsync("simulate", "--device", "witness-moon");
        Assert.That(code, Is.EqualTo(ExitCodes.Config));
        Assert.That(Lines(stderr), Has.Length.EqualTo(1));
        Assert.That(stderr, Does.Contain("witness-moon"));
    }

    [Test]
    public async Task Bad_arguments_are_one_line()
    {
        var (code, _, stderr) = await CohortProcess.RunAsync("simulate", "--mutant", "nope");
        Assert.That(code, Is.EqualTo(ExitCodes.Usage));
        Assert.That(Lines(stderr), Is.EqualTo(new[] { "cohort: --mutant: expected one of lease-off, no-promise, install-without-all-acks, device-grant-never-ends, ack-before-fsync, number-only-compare, gate-on-timeout, no-delay, no-overrule, ignore-convert-queue, skip-stop-barrier, token-reset, got \"nope\"" }));

        var cluster = Dir.Write("bad.json", """{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Membership": { "QuorumLease": "soon" } }""");
        (code, _, stderr) = await CohortProcess.RunAsync("simulate", "--cluster", cluster);
        Assert.That(code, Is.EqualTo(ExitCodes.Config));
        Assert.That(Lines(stderr), Is.EqualTo(new[] { $"cohort: {cluster}: $.Membership.QuorumLease: expected a whole number of milliseconds, at least 1, got \"soon\"" }));
    }
}
