using Cohort.Plugins;
using Cohort.Fencing.Conformance;

namespace Cohort.Fencing.ProcessGroup.Tests;

/// <summary>process-group meets the fence-agent contract against real process groups. It cannot be made to hang:
/// killing is immediate.</summary>
[TestFixture]
public sealed class ProcessGroupConformanceTests : FenceAgentConformance
{
    protected override ICohortPlugin Plugin => new ProcessGroupPlugin();

    protected override string AgentName => ProcessGroupPlugin.Name;

    protected override IFenceAgent CreateAgent() => new ProcessGroupFenceAgent();

    protected override IReadOnlyDictionary<string, string?> DeviceKeys(FenceTarget? target) => new Dictionary<string, string?>();

    protected override async Task<FenceTarget> StartTargetAsync() => await AgentStateDirectory.StartAsync();
}
