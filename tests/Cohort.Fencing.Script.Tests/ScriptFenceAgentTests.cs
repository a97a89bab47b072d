using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.Script.Tests;

public sealed class ScriptFenceAgentTests : TempDirectoryTest
{
    private const string Path = "Cluster:Fencing:Devices:s1";

    private readonly ScriptFenceAgent _agent = new();

    private static IConfigurationSection Device(params (string Key, string? Value)[] keys) => FenceDevices.Section("s1", "script", keys);

    private static FenceRequest Request(IConfigurationSection device, FenceAction action) =>
        new("s1", device, action, new NodeIncarnation(new NodeId(3), 42), "node3", "outlet-3", new TaskCompletionSource().Task);

    private string Exits(int code, string stderr = "") =>
        Dir.WriteExecutable($"exit{code}", $"#!/bin/sh\necho 'first line' >&2\n{(stderr.Length > 0 ? $"echo '{stderr}' >&2\n" : "")}exit {code}\n");

    [Test]
    public async Task The_program_gets_its_arguments_and_the_operation_in_its_environment()
    {
        var dump = Dir.Combine("dump");
        var script = Dir.WriteExecutable("dump.sh", $"#!/bin/sh\n{{ printf '%s\\n' \"$@\"; env | grep ^COHORT_FENCE_ | sort; }} > {dump}\n");

        var outcome = await _agent.RunAsync(Request(Device(("Command", script), ("Arguments:0", "a b"), ("Arguments:1", "--c")), FenceAction.Reboot), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        Assert.That(File.ReadAllLines(dump), Is.EqualTo(new[]
        {
            "a b",
            "--c",
            "COHORT_FENCE_ACTION=reboot",
            "COHORT_FENCE_DEVICE=s1",
            "COHORT_FENCE_INCARNATION=42",
            "COHORT_FENCE_NODE=node3",
            "COHORT_FENCE_NODE_ID=3",
            "COHORT_FENCE_PLUG=outlet-3",
        }));
    }

    [Test]
    public async Task A_non_zero_exit_fails_with_the_last_lines_of_stderr()
    {
        var outcome = await _agent.RunAsync(Request(Device(("Command", Exits(1, "the switch said no"))), FenceAction.Off), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Failed));
        Assert.That(outcome.Detail, Does.Contain("exit 1").And.Contain("first line | the switch said no"));
    }

    [TestCase(0, FenceResult.Success, FencePower.On)]
    [TestCase(2, FenceResult.Success, FencePower.Off)]
    [TestCase(1, FenceResult.Failed, FencePower.Unknown)]
    [TestCase(3, FenceResult.Failed, FencePower.Unknown)]
    public async Task Status_follows_the_fence_agents_exit_codes(int code, FenceResult result, FencePower power)
    {
        var outcome = await _agent.RunAsync(Request(Device(("Command", Exits(code))), FenceAction.Status), CancellationToken.None);

        Assert.That((outcome.Result, outcome.Power), Is.EqualTo((result, power)), outcome.Detail);
    }

    [Test]
    public async Task A_process_the_program_leaves_behind_is_killed_when_it_exits()
    {
        var pidFile = Dir.Combine("child");
        var script = Dir.WriteExecutable("leave.sh", $"#!/bin/sh\nsleep 300 </dev/null >/dev/null 2>&1 &\necho $$ > {pidFile}\nexit 0\n");

        var outcome = await _agent.RunAsync(Request(Device(("Command", script)), FenceAction.Off), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        var group = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(VictimGroup.IsGroupGone(group), Is.True, "the script's group is empty once the operation returns");
    }

    [Test]
    public async Task A_program_that_does_not_exist_fails()
    {
        var outcome = await _agent.RunAsync(Request(Device(("Command", Dir.Combine("missing"))), FenceAction.Off), CancellationToken.None);

        Assert.That(outcome.Result, Is.Not.EqualTo(FenceResult.Success), outcome.Detail);
    }

    [Test]
    public void Validate_names_each_bad_key()
    {
        var problems = _agent.Validate(Device(("Command", "relative/fence.sh"), ("Arguments", "not-an-array"), ("Typo", "1")), []).ToList();

        Assert.That(problems.Select(p => p.Key), Is.EquivalentTo(new[] { $"{Path}:Command", $"{Path}:Arguments", $"{Path}:Typo" }));
    }

    [Test]
    public void Validate_requires_a_command_and_a_flat_array_of_arguments()
    {
        var problems = _agent.Validate(Device(("Arguments:0", "ok"), ("Arguments:1:nested", "x")), []).ToList();

        Assert.That(problems.Select(p => p.Key), Is.EquivalentTo(new[] { $"{Path}:Command", $"{Path}:Arguments:1" }));
    }
}
