using Cohort.Fencing.Conformance;
using Cohort.Plugins;

namespace Cohort.Fencing.PoisonPill.Tests;

/// <summary>poison-pill meets the fence-agent contract against real process groups that read their slot and die
/// when poisoned. Its status cannot tell a node's power; its wait can be cut short (a long watchdog timeout).</summary>
[TestFixture]
public sealed class PoisonPillConformanceTests : FenceAgentConformance
{
    private const double Watchdog = 0.2;
    private const double LongWatchdog = 30;

    protected override ICohortPlugin Plugin => new PoisonPillPlugin();

    protected override string AgentName => PoisonPillPlugin.Name;

    protected override bool StatusCanTell => false;

    protected override bool CanTimeOut => true;

    protected override IFenceAgent CreateAgent() => new PoisonPillFenceAgent();

    protected override IReadOnlyDictionary<string, string?> DeviceKeys(FenceTarget? target) => new Dictionary<string, string?>
    {
        ["Path"] = target is PillTarget pill ? pill.DevicePath : Path.Combine(Path.GetTempPath(), $"cohort-pill-monitor-{Environment.ProcessId}"),
        ["WatchdogTimeout"] = target is PillTarget { Watchdog: var seconds } ? seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) : "0.2",
        // The kit's Timeout is 30 s: more than 2 × 0.2 + 0.2, as validation wants.
    };

    protected override async Task<FenceTarget> StartTargetAsync() => await PillTarget.StartAsync(Watchdog);

    protected override async Task<FenceTarget> StartUnresponsiveTargetAsync() => await PillTarget.StartAsync(LongWatchdog);

    [OneTimeTearDown]
    public void RemoveMonitorFile() => File.Delete(Path.Combine(Path.GetTempPath(), $"cohort-pill-monitor-{Environment.ProcessId}"));
}
