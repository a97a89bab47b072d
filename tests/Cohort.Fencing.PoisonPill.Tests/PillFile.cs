using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.PoisonPill.Tests;

/// <summary>A poison-pill device file in a temporary directory, and the device sections that use it.</summary>
internal sealed class PillFile : IDisposable
{
    private readonly TempDirectory _directory = new("cohort-pill-");

    public string Path => _directory.Combine("pill");

    public IConfigurationSection Section(double watchdog = 0.2, double? messageWait = null, double timeout = 30) =>
        FenceDevices.Section("pill", PoisonPillPlugin.Name,
            ("Path", Path),
            ("WatchdogTimeout", watchdog.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("MessageWait", messageWait?.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Timeout", timeout.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Slot <paramref name="node"/>'s raw bytes.</summary>
    public byte[] RawSlot(int node)
    {
        using var file = File.OpenRead(Path);
        var slot = new byte[PillLayout.SlotSize];
        file.Position = PillLayout.OffsetOf(node, PillLayout.SlotSize);
        file.ReadExactly(slot);
        return slot;
    }

    /// <summary>Overwrites slot <paramref name="node"/>'s raw bytes.</summary>
    public void WriteRawSlot(int node, byte[] slot)
    {
        using var file = File.OpenWrite(Path);
        file.Position = PillLayout.OffsetOf(node, PillLayout.SlotSize);
        file.Write(slot);
    }

    public static SelfFenceSlot SlotOf(IConfiguration device, int node, long incarnation) =>
        new("pill", device, new NodeIncarnation(new NodeId(node), incarnation), $"node{node}");

    public void Dispose() => _directory.Dispose();
}
