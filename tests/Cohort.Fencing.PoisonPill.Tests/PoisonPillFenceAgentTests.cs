using System.Diagnostics;
using Cohort.Fencing.Conformance;
using Cohort.Membership;

namespace Cohort.Fencing.PoisonPill.Tests;

public sealed class PoisonPillFenceAgentTests
{
    private static readonly NodeIncarnation Victim = new(new NodeId(2), 5);
    private static readonly NodeIncarnation Fencer = new(new NodeId(1), 3);
    private static readonly IReadOnlyList<ClusterNode> Nodes = [new(new NodeId(1), "node1", 1), new(new NodeId(2), "node2", 1)];

    private readonly PoisonPillFenceAgent _agent = new();
    private PillFile _file = null!;

    [SetUp]
    public void CreateFile() => _file = new PillFile();

    [TearDown]
    public void RemoveFile() => _file.Dispose();

    private static FenceRequest Request(Microsoft.Extensions.Configuration.IConfiguration device, FenceAction action, NodeIncarnation? target = null) =>
        new("pill", device, action, target ?? Victim, "node2", "node2", new TaskCompletionSource().Task) { Requester = Fencer };

    [Test]
    public async Task Off_writes_a_durable_poison_for_the_victim_s_incarnation_and_succeeds_only_after_the_safe_wait()
    {
        var device = _file.Section(watchdog: 0.3, messageWait: 0.2);
        var clock = Stopwatch.StartNew();

        var outcome = await _agent.RunAsync(Request(device, FenceAction.Off), CancellationToken.None);

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.8)), "2 × 0.3 s + 0.2 s, on a monotonic clock: a safety ordering");
        Assert.That(outcome.Detail, Does.Contain("waited 2 × 0.3 s (watchdog) + 0.2 s (message wait) = 0.8 s").And.Contain("at monotonic "));
        var message = PillLayout.Decode(_file.RawSlot(2), 2).Message;
        Assert.That(message, Is.Not.Null);
        Assert.That((message!.Kind, message.Target, message.Fencer, message.Sequence), Is.EqualTo((PillKind.Poison, Victim, Fencer, 1UL)));
        var reading = await _agent.ReadOwnSlotAsync(PillFile.SlotOf(device, 2, 5), CancellationToken.None);
        Assert.That(reading.Condemns(Victim), Is.True, reading.Detail);
        Assert.That((await _agent.ReadOwnSlotAsync(PillFile.SlotOf(device, 1, 3), CancellationToken.None)).State, Is.EqualTo(SelfFenceSlotState.Clear), "node1's slot is untouched");
    }

    [Test]
    public async Task A_cancelled_wait_is_a_timeout_and_the_poison_stays()
    {
        var device = _file.Section(watchdog: 30);
        using var cancel = new CancellationTokenSource();
        var run = _agent.RunAsync(Request(device, FenceAction.Off), cancel.Token);
        await Cohort.TestSupport.Poll.UntilAsync("the poison to be written", () => File.Exists(_file.Path) && PillLayout.Decode(_file.RawSlot(2), 2).Message is not null);

        await cancel.CancelAsync();
        var outcome = await run;

        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Timeout), outcome.Detail);
        Assert.That(outcome.Detail, Does.Contain("may be alive"));
        Assert.That(PillLayout.Decode(_file.RawSlot(2), 2).Message?.Kind, Is.EqualTo(PillKind.Poison));
    }

    [Test]
    public async Task On_clears_the_slot_and_the_sequence_grows()
    {
        var device = _file.Section(watchdog: 0.1, messageWait: 0.1);
        await _agent.RunAsync(Request(device, FenceAction.Off), CancellationToken.None);

        var on = await _agent.RunAsync(Request(device, FenceAction.On), CancellationToken.None);

        Assert.That(on.Result, Is.EqualTo(FenceResult.Success), on.Detail);
        Assert.That(PillLayout.Decode(_file.RawSlot(2), 2).Message, Is.EqualTo(PillLayout.Decode(_file.RawSlot(2), 2).Message! with { Kind = PillKind.Clear, Sequence = 2 }));
        Assert.That((await _agent.ReadOwnSlotAsync(PillFile.SlotOf(device, 2, 5), CancellationToken.None)).State, Is.EqualTo(SelfFenceSlotState.Clear));
    }

    [Test]
    public async Task A_missing_file_is_created_laid_out_and_reads_clear()
    {
        var device = _file.Section();
        Assume.That(File.Exists(_file.Path), Is.False);

        var reading = await _agent.ReadOwnSlotAsync(PillFile.SlotOf(device, 2, 5), CancellationToken.None);
        var monitor = await _agent.RunAsync(new FenceRequest("pill", device, FenceAction.Monitor, null, null, null, Task.CompletedTask), CancellationToken.None);

        Assert.That((reading.State, reading.Detail), Is.EqualTo((SelfFenceSlotState.Clear, $"slot 2 of {_file.Path} was never written")));
        Assert.That(new FileInfo(_file.Path).Length, Is.EqualTo(PillLayout.DeviceSize));
        Assert.That(monitor.Result, Is.EqualTo(FenceResult.Success), monitor.Detail);
    }

    [Test]
    public async Task A_torn_slot_reads_unreadable_never_clear()
    {
        var device = _file.Section(watchdog: 0.1, messageWait: 0.1);
        await _agent.RunAsync(Request(device, FenceAction.Off), CancellationToken.None);
        var slot = _file.RawSlot(2);
        slot[17] ^= 0xFF;
        _file.WriteRawSlot(2, slot);

        var reading = await _agent.ReadOwnSlotAsync(PillFile.SlotOf(device, 2, 5), CancellationToken.None);

        Assert.That(reading.State, Is.EqualTo(SelfFenceSlotState.Unreadable), reading.Detail);
        Assert.That(reading.Detail, Does.Contain("checksum"));
    }

    [Test]
    public async Task A_device_with_a_damaged_header_fails_monitor_and_reads_unreadable()
    {
        File.WriteAllBytes(_file.Path, [.. Enumerable.Repeat((byte)0x5A, (int)PillLayout.DeviceSize)]);
        var device = _file.Section();

        var monitor = await _agent.RunAsync(new FenceRequest("pill", device, FenceAction.Monitor, null, null, null, Task.CompletedTask), CancellationToken.None);
        var reading = await _agent.ReadOwnSlotAsync(PillFile.SlotOf(device, 2, 5), CancellationToken.None);
        var off = await _agent.RunAsync(Request(device, FenceAction.Off), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(monitor.Result, Is.EqualTo(FenceResult.Failed));
            Assert.That(monitor.Detail, Does.Contain("not a poison-pill device"));
            Assert.That(reading.State, Is.EqualTo(SelfFenceSlotState.Unreadable));
            Assert.That(off.Result, Is.EqualTo(FenceResult.Failed), "nothing was written: never a success");
        });
    }

    [Test]
    public async Task A_path_that_is_a_directory_fails()
    {
        var device = FenceDevices.Section("pill", PoisonPillPlugin.Name, ("Path", Path.GetTempPath()));

        var monitor = await _agent.RunAsync(new FenceRequest("pill", device, FenceAction.Monitor, null, null, null, Task.CompletedTask), CancellationToken.None);

        Assert.That((monitor.Result, monitor.Detail), Is.EqualTo((FenceResult.Failed, $"{Path.GetTempPath()}: neither a regular file nor a block device")));
    }

    [Test]
    public void Validate_names_every_problem_by_its_full_path()
    {
        var device = FenceDevices.Section("pill", PoisonPillPlugin.Name,
            ("Path", "relative/pill"), ("WatchdogTimeout", "0"), ("MessageWait", "soon"), ("Color", "red"), ("DelayBase", "3"), ("DelayMax", "5"));

        var problems = _agent.Validate(device, Nodes).Select(p => p.Key).ToList();

        Assert.That(problems, Is.EquivalentTo(new[]
        {
            "Cluster:Fencing:Devices:pill:Color",
            "Cluster:Fencing:Devices:pill:Path",
            "Cluster:Fencing:Devices:pill:WatchdogTimeout",
            "Cluster:Fencing:Devices:pill:MessageWait",
        }), "DelayBase and DelayMax are the host's");
    }

    [Test]
    public void The_device_timeout_must_exceed_the_safe_wait_and_the_problem_names_the_value_needed()
    {
        var roomy = FenceDevices.Section("pill", PoisonPillPlugin.Name, ("Path", "/dev/shm/pill"), ("WatchdogTimeout", "5"));
        Assert.That(_agent.Validate(roomy, Nodes), Is.Empty, "2 × 5 + 5 = 15 s is under the kit's Timeout of 30 s");

        var tight = FenceDevices.Section("pill", PoisonPillPlugin.Name, ("Path", "/dev/shm/pill"), ("WatchdogTimeout", "8"), ("Timeout", "20"));
        var problem = _agent.Validate(tight, Nodes).Single();
        Assert.That(problem.Key, Is.EqualTo("Cluster:Fencing:Devices:pill:Timeout"));
        Assert.That(problem.Expected, Does.StartWith("more than 2 × WatchdogTimeout + MessageWait = 24 s"));
        Assert.That(problem.Actual, Is.EqualTo("20"));
    }

    [Test]
    public void A_node_id_without_a_slot_is_a_problem()
    {
        var device = FenceDevices.Section("pill", PoisonPillPlugin.Name, ("Path", "/dev/shm/pill"));

        var problems = _agent.Validate(device, [.. Nodes, new ClusterNode(new NodeId(300), "big", 1)]).ToList();

        Assert.That(problems.Select(p => (p.Key, p.Actual)), Is.EqualTo(new[] { ("Cluster:Fencing:Devices:pill:Path", (string?)"node big has id 300") }));
    }

    [Test]
    public void The_timing_has_the_documented_defaults()
    {
        var timing = _agent.Timing(FenceDevices.Section("pill", PoisonPillPlugin.Name, ("Path", "/dev/shm/pill")));

        Assert.That((timing.WatchdogTimeout, timing.MessageWait, timing.SafeWait), Is.EqualTo((TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15))));
    }
}
