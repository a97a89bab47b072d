using Cohort.Plugins;
using Cohort.Fencing.Conformance;

namespace Cohort.Fencing.Manual.Tests;

/// <summary>manual meets the fence-agent contract, with a simulated operator who kills a real process group and
/// acknowledges; without one, the operation waits until cancelled. It cannot tell power states.</summary>
[TestFixture]
public sealed class ManualConformanceTests : FenceAgentConformance
{
    private OperatorLog _log = new();

    protected override ICohortPlugin Plugin => new ManualPlugin();

    protected override string AgentName => ManualPlugin.Name;

    protected override bool CanTimeOut => true;

    protected override bool StatusCanTell => false;

    protected override IFenceAgent CreateAgent()
    {
        _log = new OperatorLog();
        return new ManualFenceAgent(_log);
    }

    protected override IReadOnlyDictionary<string, string?> DeviceKeys(FenceTarget? target) =>
        new Dictionary<string, string?> { ["Instructions"] = "The power switch is in rack 4." };

    protected override Task<FenceTarget> StartTargetAsync() => OperatedTarget.StartAsync(_log, present: true);

    protected override Task<FenceTarget> StartUnresponsiveTargetAsync() => OperatedTarget.StartAsync(_log, present: false);
}
