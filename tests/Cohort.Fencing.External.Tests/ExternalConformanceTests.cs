using Cohort.Plugins;
using Cohort.Fencing.Conformance;

namespace Cohort.Fencing.External.Tests;

/// <summary>external meets the fence-agent contract driving the real fence_dummy, and a program that hangs.</summary>
[TestFixture]
public sealed class ExternalConformanceTests : FenceAgentConformance
{
    protected override ICohortPlugin Plugin => new ExternalPlugin();

    protected override string AgentName => ExternalPlugin.Name;

    protected override bool CanTimeOut => true;

    protected override IFenceAgent CreateAgent() => new ExternalFenceAgent();

    protected override IReadOnlyDictionary<string, string?> DeviceKeys(FenceTarget? target) => target switch
    {
        HangingDevice hanging => new Dictionary<string, string?> { ["Program"] = hanging.Program, ["Options:marker"] = hanging.Marker },
        DummyOutlet outlet => new Dictionary<string, string?> { ["Program"] = "fence_dummy", ["Options:status_file"] = outlet.StatusFile },
        _ => new Dictionary<string, string?> { ["Program"] = "fence_dummy", ["Options:status_file"] = "/nonexistent/status", ["Options:type"] = "file" },
    };

    protected override Task<FenceTarget> StartTargetAsync() => Task.FromResult<FenceTarget>(new DummyOutlet());

    protected override Task<FenceTarget> StartUnresponsiveTargetAsync() => Task.FromResult<FenceTarget>(new HangingDevice());
}
