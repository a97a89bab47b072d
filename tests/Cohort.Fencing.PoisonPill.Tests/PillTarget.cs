using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.PoisonPill.Tests;

/// <summary>
/// A victim that honours the pill: a real process group, and a guard that reads the group's slot through the agent
/// (as the host's watchdog guard does) and kills the group when the slot condemns its incarnation.
/// </summary>
internal sealed class PillTarget : FenceTarget
{
    public const long VictimIncarnation = 5;

    private readonly PillFile _file;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _guard;

    private PillTarget(PillFile file, VictimGroup group, IConfiguration device, double watchdog)
        : base(new ClusterNode(new NodeId(2), "node2", 1), VictimIncarnation, "node2")
    {
        _file = file;
        Group = group;
        Watchdog = watchdog;
        _guard = GuardAsync(device);
    }

    public VictimGroup Group { get; }

    public double Watchdog { get; }

    public string DevicePath => _file.Path;

    /// <summary>Completes once a poison is in the slot: the operation is under way.</summary>
    public override Task OperationStarted => Poll.UntilAsync("the poison to be in node2's slot", () =>
        File.Exists(_file.Path) && PillLayout.Decode(_file.RawSlot(2), 2).Message?.Kind == PillKind.Poison, TimeSpan.FromSeconds(60));

    public static async Task<PillTarget> StartAsync(double watchdog)
    {
        var file = new PillFile();
        var group = await VictimGroup.StartAsync();
        return new PillTarget(file, group, file.Section(watchdog), watchdog);
    }

    public override Task<bool> IsDeadAsync() => Task.FromResult(Group.IsGone);

    public override async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _guard;
        Group.Dispose();
        _file.Dispose();
        _stop.Dispose();
    }

    private async Task GuardAsync(IConfiguration device)
    {
        var agent = new PoisonPillFenceAgent();
        var self = PillFile.SlotOf(device, 2, VictimIncarnation);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                // A stop while the read is under way cancels it: that ends the guard, it is not a failure.
                if ((await agent.ReadOwnSlotAsync(self, _stop.Token)).Condemns(self.Self))
                {
                    VictimGroup.KillGroup(Group.Pgid);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(20), _stop.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
        }
    }
}
