using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace Cohort.Fencing.Conformance;

/// <summary>
/// The conformance kit for fence agents: inherit it in an NUnit test project, say how to create the agent, a valid
/// device section and a live target, and the <see cref="IFenceAgent"/> contract is checked:
/// <list type="bullet">
/// <item>off is idempotent: off twice succeeds twice, and the target is then dead by its own evidence;</item>
/// <item>status after off reports off (unless <see cref="StatusCanTell"/> is false);</item>
/// <item>an operation cancelled in flight (the host's timeout) is never a success, and leaves nothing running
/// (when <see cref="CanTimeOut"/>);</item>
/// <item>monitor of a working device succeeds;</item>
/// <item>validation accepts the fixture's device with the host's own keys in it, and reports an unknown key by
/// its full path.</item>
/// </list>
/// </summary>
/// <remarks>
/// <para>The kit builds each device section the way the host does: <c>Cluster:Fencing:Devices:NAME</c> with
/// <c>Agent</c> and <c>Timeout</c> set, plus the keys <see cref="DeviceKeys"/> gives.</para>
/// <para>Mark the inheriting class <c>[TestFixture]</c>: NUnit's adapter skips an assembly that references no
/// NUnit attribute of its own, even when its classes inherit tests.</para>
/// </remarks>
public abstract class FenceAgentConformance
{
    /// <summary>The device's name in the sections the kit builds.</summary>
    protected const string DeviceName = "dev1";

    /// <summary>How long the kit waits for anything (an operation to start, a cancelled one to return).</summary>
    protected static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>The agent's name (<c>Agent</c> in the device section).</summary>
    protected abstract string AgentName { get; }

    /// <summary>Creates the agent; called once per test.</summary>
    protected abstract IFenceAgent CreateAgent();

    /// <summary>The agent's keys of a valid device (relative to the device section, <c>:</c>-separated:
    /// <c>Options:ip</c>) that acts on <paramref name="target"/>; with a null target, any valid device.</summary>
    protected abstract IReadOnlyDictionary<string, string?> DeviceKeys(FenceTarget? target);

    /// <summary>Starts a live target the device of <see cref="DeviceKeys"/> can fence.</summary>
    protected abstract Task<FenceTarget> StartTargetAsync();

    /// <summary>Whether the agent can be made to hang, so that the kit can cancel an operation in flight; then
    /// <see cref="StartUnresponsiveTargetAsync"/> gives a target whose device never answers off.</summary>
    protected virtual bool CanTimeOut => false;

    /// <summary>Starts a target whose device (<see cref="DeviceKeys"/> of it) does not answer off until
    /// cancelled; needed only when <see cref="CanTimeOut"/>.</summary>
    protected virtual Task<FenceTarget> StartUnresponsiveTargetAsync() =>
        throw new NotSupportedException($"{GetType().Name}: CanTimeOut is true, so override StartUnresponsiveTargetAsync");

    /// <summary>Whether the agent's status can tell on from off; false skips the status check.</summary>
    protected virtual bool StatusCanTell => true;

    /// <summary>The cluster's nodes; the targets stand for one of them.</summary>
    protected virtual IReadOnlyList<ClusterNode> Nodes { get; } =
        [new(new NodeId(1), "node1", 1), new(new NodeId(2), "node2", 1), new(new NodeId(3), "node3", 1)];

    /// <summary>The plugin that registers the agent; when given, the kit checks its manifest and registration.</summary>
    protected virtual ICohortPlugin? Plugin => null;

    /// <summary>The device section for <paramref name="target"/>, as the host hands it over, with
    /// <paramref name="extra"/> keys added.</summary>
    protected IConfigurationSection Device(FenceTarget? target, IReadOnlyDictionary<string, string?>? extra = null) =>
        FenceDevices.Section(DeviceName, AgentName, [.. DeviceKeys(target).Concat(extra ?? new Dictionary<string, string?>()).Select(k => (k.Key, k.Value))]);

    /// <summary>The request for <paramref name="action"/> on <paramref name="target"/>.</summary>
    protected static FenceRequest Request(IConfigurationSection device, FenceAction action, FenceTarget target)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new FenceRequest(DeviceName, device, action, new NodeIncarnation(target.Node.Id, target.Incarnation), target.Node.Name, target.Plug, target.Acknowledged);
    }

    [Test]
    public async Task Off_is_idempotent_and_the_target_is_dead_after_it()
    {
        var agent = CreateAgent();
        await using var target = await StartTargetAsync();
        Assert.That(await target.IsDeadAsync(), Is.False, "the target is alive before it is fenced");
        var device = Device(target);

        var first = await agent.RunAsync(Request(device, FenceAction.Off, target), CancellationToken.None);
        Assert.That(first.Result, Is.EqualTo(FenceResult.Success), $"the first off: {first.Detail}");
        Assert.That(await target.IsDeadAsync(), Is.True, $"off succeeded ({first.Detail}), so the target must be dead");

        var second = await agent.RunAsync(Request(device, FenceAction.Off, target), CancellationToken.None);
        Assert.That(second.Result, Is.EqualTo(FenceResult.Success), $"off of a dead target: {second.Detail}");
        Assert.That(await target.IsDeadAsync(), Is.True);
    }

    [Test]
    public async Task Status_after_off_reports_off()
    {
        if (!StatusCanTell)
        {
            Assert.Ignore($"{AgentName} cannot tell a target's power state");
        }

        var agent = CreateAgent();
        await using var target = await StartTargetAsync();
        var device = Device(target);

        var before = await agent.RunAsync(Request(device, FenceAction.Status, target), CancellationToken.None);
        var off = await agent.RunAsync(Request(device, FenceAction.Off, target), CancellationToken.None);
        var after = await agent.RunAsync(Request(device, FenceAction.Status, target), CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That((before.Result, before.Power), Is.EqualTo((FenceResult.Success, FencePower.On)), $"status of a live target: {before.Detail}");
            Assert.That(off.Result, Is.EqualTo(FenceResult.Success), off.Detail);
            Assert.That((after.Result, after.Power), Is.EqualTo((FenceResult.Success, FencePower.Off)), $"status after off: {after.Detail}");
        });
    }

    [Test]
    public async Task A_cancelled_operation_is_never_a_success_and_leaves_nothing_running()
    {
        if (!CanTimeOut)
        {
            Assert.Ignore($"{AgentName} cannot be made to hang");
        }

        var agent = CreateAgent();
        await using var target = await StartUnresponsiveTargetAsync();
        using var timeout = new CancellationTokenSource();
        var run = agent.RunAsync(Request(Device(target), FenceAction.Off, target), timeout.Token);

        var started = target.OperationStarted;
        var first = await Task.WhenAny(started, run).WaitAsync(Deadline);
        Assert.That(first, Is.SameAs(started), $"the unresponsive device answered off before it was cancelled: {(run.IsCompletedSuccessfully ? run.Result.Detail : run.Exception?.Message)}");
        await timeout.CancelAsync();

        FenceOutcome? outcome = null;
        try
        {
            outcome = await run.WaitAsync(Deadline);
        }
        catch (OperationCanceledException)
        {
            // An exception is an unknown result to the host: acceptable.
        }

        Assert.That(outcome?.Result, Is.Not.EqualTo(FenceResult.Success), $"a cancelled off must not succeed: {outcome?.Detail}");
        Assert.That(await target.OperationLeftNothingAsync(), Is.True, "the cancelled operation left something running");
    }

    [Test]
    public async Task Monitor_of_a_working_device_succeeds()
    {
        var device = Device(null);
        var outcome = await CreateAgent().RunAsync(
            new FenceRequest(DeviceName, device, FenceAction.Monitor, null, null, null, new TaskCompletionSource().Task), CancellationToken.None);
        Assert.That(outcome.Result, Is.EqualTo(FenceResult.Success), outcome.Detail);
    }

    [Test]
    public void Validate_accepts_the_fixture_device_and_ignores_the_host_keys()
    {
        var device = Device(null, new Dictionary<string, string?> { ["HostMap:node2"] = "somewhere", ["Retries"] = "2", ["DelayBase:node2"] = "5", ["DelayMax"] = "8" });
        Assert.That(CreateAgent().Validate(device, Nodes).Select(Describe), Is.Empty);
    }

    [Test]
    public void Validate_reports_an_unknown_key_by_its_full_path()
    {
        var device = Device(null, new Dictionary<string, string?> { ["NoSuchKey"] = "1" });
        var problems = CreateAgent().Validate(device, Nodes).ToList();
        Assert.That(problems.Select(p => p.Key), Is.EqualTo(new[] { $"Cluster:Fencing:Devices:{DeviceName}:NoSuchKey" }), string.Join("; ", problems.Select(Describe)));
    }

    [Test]
    public void The_plugin_registers_the_agent_in_the_fence_agent_slot_under_its_name()
    {
        var plugin = Plugin;
        if (plugin is null)
        {
            Assert.Ignore($"{GetType().Name} names no plugin");
            return;
        }

        var services = new ServiceCollection();
        plugin.Register(services, new ConfigurationBuilder().Build());
        using var provider = services.BuildServiceProvider();

        Assert.That((plugin.Manifest.Slot, plugin.Manifest.Name), Is.EqualTo((PluginSlot.FenceAgent, AgentName)));
        Assert.That(provider.GetRequiredService<IFenceAgent>().GetType(), Is.EqualTo(CreateAgent().GetType()));
        Assert.That(
            plugin.GetType().Assembly.GetCustomAttributes(typeof(CohortPluginAttribute), false).Cast<CohortPluginAttribute>().Select(a => a.EntryType),
            Is.EqualTo(new[] { plugin.GetType() }),
            "the assembly names the plugin as its entry point");
    }

    private static string Describe(ConfigProblem problem) => $"{problem.Key}: expected {problem.Expected}, got {problem.Actual ?? "nothing"}";
}
