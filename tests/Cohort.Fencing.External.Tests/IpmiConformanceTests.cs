using Cohort.Fencing.Conformance;
using Cohort.Plugins;
using Cohort.TestSupport;

namespace Cohort.Fencing.External.Tests;

/// <summary>
/// external meets the fence-agent contract driving the real <c>fence_ipmilan</c> over RMCP+ against OpenIPMI's
/// <c>ipmi_sim</c>, whose chassis power is a real process group recorded in a state directory's <c>agent.pid</c>
/// (see <see cref="IpmiSimulator"/>): off kills the group, status reads it, and a BMC that never answers is
/// cancelled with fence_ipmilan's group gone.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class IpmiConformanceTests : FenceAgentConformance
{
    // Validation and monitor need a device but no particular target: one BMC for the fixture.
    private IpmiNode _fixtureNode = null!;

    protected override ICohortPlugin Plugin => new ExternalPlugin();

    protected override string AgentName => ExternalPlugin.Name;

    protected override bool CanTimeOut => true;

    [OneTimeSetUp]
    public async Task StartFixtureBmc() => _fixtureNode = await IpmiNode.StartAsync();

    [OneTimeTearDown]
    public async Task StopFixtureBmc() => await _fixtureNode.DisposeAsync();

    protected override IFenceAgent CreateAgent() => new ExternalFenceAgent();

    protected override IReadOnlyDictionary<string, string?> DeviceKeys(FenceTarget? target) => target switch
    {
        IpmiNode node => IpmiDevice.Keys(node.Bmc.FenceOptions()),
        BlackholedBmc blackholed => IpmiDevice.Keys(blackholed.Options),
        _ => IpmiDevice.Keys(_fixtureNode.Bmc.FenceOptions()),
    };

    protected override async Task<FenceTarget> StartTargetAsync() => await IpmiNode.StartAsync();

    protected override Task<FenceTarget> StartUnresponsiveTargetAsync() => Task.FromResult<FenceTarget>(new BlackholedBmc());
}
