using Cohort.Plugins;
using Cohort.Fencing.Conformance;

namespace Cohort.Fencing.Script.Tests;

/// <summary>script meets the fence-agent contract, running a shell script that kills a real process group.</summary>
[TestFixture]
public sealed class ScriptConformanceTests : FenceAgentConformance
{
    private Scripts _scripts = null!;

    [OneTimeSetUp]
    public void WriteScripts() => _scripts = new Scripts();

    [OneTimeTearDown]
    public void RemoveScripts() => _scripts.Dispose();

    protected override ICohortPlugin Plugin => new ScriptPlugin();

    protected override string AgentName => ScriptPlugin.Name;

    protected override bool CanTimeOut => true;

    protected override IFenceAgent CreateAgent() => new ScriptFenceAgent();

    protected override IReadOnlyDictionary<string, string?> DeviceKeys(FenceTarget? target) => target is HangingTarget hanging
        ? new Dictionary<string, string?> { ["Command"] = _scripts.Hang, ["Arguments:0"] = hanging.Marker }
        : new Dictionary<string, string?> { ["Command"] = _scripts.Kill, ["Arguments:0"] = "pgid" };

    protected override Task<FenceTarget> StartTargetAsync() => GroupTarget.StartAsync();

    protected override Task<FenceTarget> StartUnresponsiveTargetAsync() => Task.FromResult<FenceTarget>(new HangingTarget());
}
