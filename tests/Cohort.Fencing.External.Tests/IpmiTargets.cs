using System.Net;
using System.Net.Sockets;
using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;

namespace Cohort.Fencing.External.Tests;

/// <summary>The keys of a device that runs the real <c>fence_ipmilan</c> with the given options.</summary>
internal static class IpmiDevice
{
    public const string Program = "fence_ipmilan";

    public static Dictionary<string, string?> Keys(IReadOnlyDictionary<string, string> options)
    {
        var keys = new Dictionary<string, string?> { ["Program"] = Program };
        foreach (var (key, value) in options)
        {
            keys["Options:" + key] = value;
        }

        return keys;
    }
}

/// <summary>
/// A node behind a simulated BMC: a real process group (a <see cref="VictimGroup"/>) recorded as the agent in a
/// state directory's <c>agent.pid</c>, and an <see cref="IpmiSimulator"/> whose chassis power is that group.
/// </summary>
internal sealed class IpmiNode : FenceTarget
{
    private readonly TempDirectory _state;
    private readonly VictimGroup _victim;

    private IpmiNode(TempDirectory state, VictimGroup victim, IpmiSimulator bmc)
        : base(new ClusterNode(new NodeId(2), "node2", 1), 3, "node2")
    {
        _state = state;
        _victim = victim;
        Bmc = bmc;
    }

    public IpmiSimulator Bmc { get; }

    public VictimGroup Victim => _victim;

    public static async Task<IpmiNode> StartAsync()
    {
        var state = new TempDirectory("cohort-ipmi-state-");
        VictimGroup? victim = null;
        try
        {
            victim = await VictimGroup.StartAsync();
            state.Write("agent.pid", victim.Record(incarnation: 3) + "\n");
            return new IpmiNode(state, victim, await IpmiSimulator.StartAsync(state.Path));
        }
        catch
        {
            victim?.Dispose();
            state.Dispose();
            throw;
        }
    }

    /// <summary>The evidence: the recorded group has no process left.</summary>
    public override Task<bool> IsDeadAsync() => Task.FromResult(_victim.IsGone);

    public override ValueTask DisposeAsync()
    {
        Bmc.Dispose();
        _victim.Dispose();
        _state.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// A BMC that never answers: a UDP socket on 127.0.0.1 that receives and drops everything. fence_ipmilan runs
/// ipmitool through a wrapper (its <c>ipmitool_path</c> option) that records ipmitool's process group — which is
/// fence_ipmilan's — before it execs the real one, so the test learns when the operation is in flight and whether
/// the group is gone after it was cancelled.
/// </summary>
internal sealed class BlackholedBmc : FenceTarget
{
    private readonly GroupMarker _marker = new();
    private readonly UdpClient _socket;

    public BlackholedBmc()
        : base(new ClusterNode(new NodeId(2), "node2", 1), 3, "node2")
    {
        Port = Ports.Free(1)[0];
        _socket = new UdpClient(new IPEndPoint(IPAddress.Loopback, Port));
        Ipmitool = _marker.Directory.WriteExecutable("ipmitool", $"""
            #!/bin/sh
            cut -d' ' -f5 /proc/$$/stat > '{_marker.Path}.tmp' && mv '{_marker.Path}.tmp' '{_marker.Path}'
            exec {IpmiSimulator.Ipmitool} "$@"

            """);
    }

    public int Port { get; }

    /// <summary>The wrapper fence_ipmilan runs as ipmitool.</summary>
    public string Ipmitool { get; }

    /// <summary>Options that make fence_ipmilan and ipmitool wait for a reply far longer than any test.</summary>
    public IReadOnlyDictionary<string, string> Options => new Dictionary<string, string>
    {
        ["ip"] = "127.0.0.1",
        ["ipport"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["username"] = "admin",
        ["password"] = "secret",
        ["lanplus"] = "1",
        ["cipher"] = IpmiSimulator.Cipher,
        ["ipmitool_path"] = Ipmitool,
        ["ipmitool_timeout"] = "300",
        ["power_timeout"] = "300",
    };

    public override Task OperationStarted => _marker.WaitAsync();

    public override Task<bool> IsDeadAsync() => Task.FromResult(false);

    public override Task<bool> OperationLeftNothingAsync() => Task.FromResult(_marker.GroupIsGone);

    public override ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _marker.Dispose();
        return ValueTask.CompletedTask;
    }
}
