using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.Plugins;
using Cohort.TestSupport;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.External.Tests;

public sealed class ExternalFenceAgentTests : TempDirectoryTest
{
    private const string Path = "Cluster:Fencing:Devices:ext";

    private readonly ExternalFenceAgent _agent = new();

    private static IConfigurationSection Device(params (string Key, string? Value)[] keys) => FenceDevices.Section("ext", "external", keys);

    private static FenceRequest Request(IConfigurationSection device, FenceAction action) =>
        new("ext", device, action, new NodeIncarnation(new NodeId(2), 3), "node2", "outlet-7", new TaskCompletionSource().Task);

    private static string[] Keys(IEnumerable<ConfigProblem> problems) => [.. problems.Select(p => p.Key).Order(StringComparer.Ordinal)];

    [Test]
    public void The_metadata_of_fence_dummy_names_its_parameters_aliases_and_long_options()
    {
        var run = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Programs.FenceDummy, "-o metadata") { RedirectStandardOutput = true })!;
        var metadata = FenceAgentMetadata.Parse(run.StandardOutput.ReadToEnd());
        run.WaitForExit();

        Assert.Multiple(() =>
        {
            Assert.That(metadata.Agent, Is.EqualTo("fence_dummy"));
            Assert.That(metadata.Find("status_file")?.LongOption, Is.EqualTo("status-file"));
            Assert.That(metadata.Find("status-file")?.Name, Is.EqualTo("status_file"));
            Assert.That(metadata.Find("debug")?.Deprecated, Is.True);
            Assert.That(metadata.Find("debug_file")?.Obsoletes, Is.EqualTo("debug"));
            Assert.That(metadata.Find("plug"), Is.Null, "fence_dummy has no plug");
            Assert.That(metadata.Actions, Does.Contain("validate-all"));
            Assert.That(metadata.Find("action")?.Required, Is.True);
        });
    }

    [Test]
    public void An_option_the_program_does_not_know_is_named_with_some_it_does()
    {
        var problems = _agent.Validate(Device(("Program", "fence_dummy"), ("Options:status_file", "/tmp/s"), ("Options:ipaddr", "10.0.0.1")), []).ToList();

        Assert.That(Keys(problems), Is.EqualTo(new[] { $"{Path}:Options:ipaddr" }));
        Assert.That(problems[0].Expected, Does.Contain("fence_dummy").And.Contain("status_file"));
        Assert.That(problems[0].Actual, Is.EqualTo("ipaddr"));
    }

    [Test]
    public void Options_may_be_spelled_as_their_long_options()
    {
        Assert.That(_agent.Validate(Device(("Program", "fence_dummy"), ("Options:status-file", "/tmp/s"), ("Options:debug", "/tmp/d")), []), Is.Empty);
    }

    [Test]
    public void Each_missing_required_option_is_named_but_not_those_the_host_supplies()
    {
        var problems = _agent.Validate(Device(("Program", "fence_apc")), []).ToList();

        Assert.That(Keys(problems), Is.EqualTo(new[] { $"{Path}:Options:ip", $"{Path}:Options:username" }), string.Join("; ", problems));
    }

    [Test]
    public void A_deprecated_alias_satisfies_a_required_option()
    {
        var problems = _agent.Validate(Device(("Program", "fence_apc"), ("Options:ipaddr", "10.0.0.1"), ("Options:login", "apc"), ("Options:password", "apc")), []);

        Assert.That(problems, Is.Empty);
    }

    [TestCase(null, TestName = "A missing Program is named")]
    [TestCase("fence_no_such_agent", TestName = "A Program that is not in PATH, /usr/sbin or /sbin is named")]
    [TestCase("/usr/sbin/no_such_fence_agent", TestName = "An absolute Program that does not exist is named")]
    [TestCase("sbin/fence_dummy", TestName = "A relative Program path is named")]
    public void A_program_that_cannot_be_found_is_named(string? program)
    {
        var problems = _agent.Validate(Device(("Program", program), ("Options:x", "1")), []).ToList();

        Assert.That(Keys(problems), Is.EqualTo(new[] { $"{Path}:Program" }));
        Assert.That(problems[0].Actual, Is.EqualTo(program));
    }

    [Test]
    public void A_program_that_prints_no_metadata_is_named()
    {
        var program = Dir.WriteExecutable("fence_silent", "#!/bin/sh\nexit 1\n");

        var problems = _agent.Validate(Device(("Program", program)), []).ToList();

        Assert.That(Keys(problems), Is.EqualTo(new[] { $"{Path}:Program" }));
        Assert.That(problems[0].Expected, Does.Contain("-o metadata"));
    }

    [Test]
    public void Options_must_be_flat_one_line_values_and_not_the_host_s()
    {
        var problems = _agent.Validate(Device(
            ("Program", "fence_dummy"),
            ("Options:delay:nested", "1"),
            ("Options:status_file", "/tmp/a\nb"),
            ("Options:plug", "x"),
            ("Options:action", "off"),
            ("Options:quiet", "maybe")), []);

        Assert.That(Keys(problems), Is.EqualTo(new[]
        {
            $"{Path}:Options:action", $"{Path}:Options:delay", $"{Path}:Options:plug", $"{Path}:Options:quiet", $"{Path}:Options:status_file",
        }));
    }

    [Test]
    public void Metadata_is_read_once_per_program()
    {
        var count = Dir.Combine("count");
        var program = Programs.Write(Dir, "fence_counted", Programs.Metadata("fence_counted", ("ip", false)), "exit 0");
        File.WriteAllText(program, File.ReadAllText(program).Replace("#!/bin/sh\n", $"#!/bin/sh\necho x >> {count}\n", StringComparison.Ordinal));

        for (var i = 0; i < 3; i++)
        {
            Assert.That(_agent.Validate(Device(("Program", program), ("Options:ip", "10.0.0.1")), []), Is.Empty);
        }

        Assert.That(File.ReadAllLines(count), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task The_program_gets_action_plug_nodename_and_the_options_on_stdin()
    {
        var stdin = Dir.Combine("stdin");
        var program = Programs.Write(Dir, "fence_record", Programs.Metadata("fence_record", ("plug", false), ("ip", true)), $"cat > {stdin}\nexit 0");

        var outcome = await _agent.RunAsync(Request(Device(("Program", program), ("Options:ip", "10.0.0.9"), ("Options:lanplus", "1")), FenceAction.Off), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        Assert.That(File.ReadAllLines(stdin), Is.EqualTo(new[] { "action=off", "plug=outlet-7", "nodename=node2", "ip=10.0.0.9", "lanplus=1" }));
    }

    [Test]
    public async Task An_old_program_that_knows_only_port_gets_port_and_one_with_neither_gets_no_plug()
    {
        var portStdin = Dir.Combine("port");
        var port = Programs.Write(Dir, "fence_old", Programs.Metadata("fence_old", ("port", false)), $"cat > {portStdin}");
        var noneStdin = Dir.Combine("none");
        var none = Programs.Write(Dir, "fence_none", Programs.Metadata("fence_none"), $"cat > {noneStdin}");

        await _agent.RunAsync(Request(Device(("Program", port)), FenceAction.Reboot), CancellationToken.None);
        await _agent.RunAsync(Request(Device(("Program", none)), FenceAction.Status), CancellationToken.None);

        Assert.That(File.ReadAllLines(portStdin), Is.EqualTo(new[] { "action=reboot", "port=outlet-7", "nodename=node2" }));
        Assert.That(File.ReadAllLines(noneStdin), Is.EqualTo(new[] { "action=status", "nodename=node2" }));
    }

    [TestCase(FenceAction.Off, 0, FenceResult.Success, FencePower.Unknown)]
    [TestCase(FenceAction.Off, 1, FenceResult.Failed, FencePower.Unknown)]
    [TestCase(FenceAction.Off, 2, FenceResult.Unknown, FencePower.Unknown)]
    [TestCase(FenceAction.Off, 137, FenceResult.Unknown, FencePower.Unknown)]
    [TestCase(FenceAction.Status, 0, FenceResult.Success, FencePower.On)]
    [TestCase(FenceAction.Status, 2, FenceResult.Success, FencePower.Off)]
    [TestCase(FenceAction.Status, 1, FenceResult.Failed, FencePower.Unknown)]
    [TestCase(FenceAction.Status, 3, FenceResult.Unknown, FencePower.Unknown)]
    public async Task Exit_codes_follow_the_fence_agents_protocol(FenceAction action, int code, FenceResult result, FencePower power)
    {
        var program = Programs.Write(Dir, $"fence_exit{code}", Programs.Metadata("fence_exit"), $"cat >/dev/null\necho 'said {code}' >&2\nexit {code}");

        var outcome = await _agent.RunAsync(Request(Device(("Program", program)), action), CancellationToken.None);

        Assert.That((outcome.Result, outcome.Power), Is.EqualTo((result, power)), outcome.Detail);
        Assert.That(outcome.Detail, Does.Contain($"said {code}"));
    }

    [Test]
    public async Task A_program_killed_by_a_signal_leaves_the_state_unknown()
    {
        var program = Programs.Write(Dir, "fence_crash", Programs.Metadata("fence_crash"), "cat >/dev/null\nkill -9 $$");

        var outcome = await _agent.RunAsync(Request(Device(("Program", program)), FenceAction.Off), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Unknown), outcome.Detail);
    }

    [Test]
    public async Task Fence_dummy_powers_its_outlet_off_and_on()
    {
        var status = Dir.Write("status", "on");
        var device = Device(("Program", "fence_dummy"), ("Options:status-file", status));

        var off = await _agent.RunAsync(Request(device, FenceAction.Off), CancellationToken.None);
        var whenOff = await _agent.RunAsync(Request(device, FenceAction.Status), CancellationToken.None);
        var on = await _agent.RunAsync(Request(device, FenceAction.On), CancellationToken.None);
        var whenOn = await _agent.RunAsync(Request(device, FenceAction.Status), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(off.Result, Is.EqualTo(FenceResult.Success), off.Detail);
            Assert.That(whenOff.Power, Is.EqualTo(FencePower.Off), whenOff.Detail);
            Assert.That(on.Result, Is.EqualTo(FenceResult.Success), on.Detail);
            Assert.That(whenOn.Power, Is.EqualTo(FencePower.On), whenOn.Detail);
            Assert.That(File.ReadAllText(status).Trim(), Is.EqualTo("on"));
        });
    }

    [Test]
    public async Task Validate_all_asks_the_program_itself()
    {
        var good = await ExternalFenceAgent.ValidateAllAsync(Device(("Program", "fence_dummy"), ("Options:status_file", Dir.Combine("s"))), CancellationToken.None);
        var bad = await ExternalFenceAgent.ValidateAllAsync(Device(("Program", "fence_apc")), CancellationToken.None);

        Assert.That(good.Result, Is.EqualTo(FenceResult.Success), good.Detail);
        Assert.That(bad.Result, Is.EqualTo(FenceResult.Failed), bad.Detail);
    }

    [Test]
    public async Task A_program_is_found_by_name_and_one_that_is_not_found_fails()
    {
        Assert.That(ExternalFenceAgent.Resolve("fence_dummy"), Is.Not.Null);
        var outcome = await _agent.RunAsync(Request(Device(("Program", "fence_no_such_agent")), FenceAction.Off), CancellationToken.None);
        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Failed));
        Assert.That(outcome.Detail, Does.Contain("fence_no_such_agent"));
    }
}
