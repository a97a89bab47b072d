using System.Diagnostics;
using System.Globalization;
using Cohort.Fencing;
using Cohort.Host.Admin;
using Cohort.Host.Configuration;
using Cohort.Host.Native;
using Cohort.Host.State;
using Cohort.Plugins;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Cohort.Host.Agent;

/// <summary>
/// The node's side of self-fencing (<see cref="ISelfFenceGuard"/>, the <c>poison-pill</c> agent): when this node's
/// own fencing levels name a device whose agent fences by a message the victim must read, starts the watchdog
/// process (<c>cohort watchdog</c>, see <see cref="Watchdog"/>) and, on a thread of its own, reads this node's slot
/// of each such device every half <c>MessageWait</c>, petting the watchdog while that is safe and firing it when the
/// slot condemns this incarnation.
/// </summary>
/// <remarks>
/// <para>The rule (each tick): a poison for this incarnation or a newer one fires; every device clear (or holding a
/// stale poison, for an older incarnation) pets; a device that cannot be read within the tick pets only while this
/// node is quorate in an installed view and that quorum is not dual — or its view holds more than half of the
/// document's nodes (both nodes of a two-node cluster: a node that sees its peer may live with a broken disk, a node
/// alone under <c>two_node</c> may not).
/// Otherwise no pet, and the watchdog kills the agent's group once its timeout passes.</para>
/// <para>It is armed at start (a watchdog that cannot be started stops the start) and at every committed document
/// whose levels for this node need it; a document that shortens the watchdog timeout starts a new watchdog before the
/// old one is disarmed. A document that no longer needs it leaves it armed until the agent stops. It is disarmed only
/// when the agent stops normally (it stops last). If the watchdog process exits while armed, nothing guards the node
/// any more, and the agent kills its own group.</para>
/// </remarks>
internal sealed partial class WatchdogService : IHostedService, IDisposable
{
    private static readonly TimeSpan ReadyWait = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinimumTick = TimeSpan.FromMilliseconds(50);

    private readonly AgentState _state;
    private readonly ConfigService _config;
    private readonly TimeProvider _time;
    private readonly ILogger<WatchdogService> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private volatile Guarded? _guarded;
    private volatile WatchdogChild? _child;
    private Thread? _guard;
    private long _lastPet;
    private volatile string? _lastReading;
    private volatile bool _fired;

    public WatchdogService(AgentState state, ConfigService config, TimeProvider time, ILogger<WatchdogService> logger)
    {
        _state = state;
        _config = config;
        _time = time;
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_state.Cluster is not { } cluster)
        {
            return Task.CompletedTask;
        }

        Arm(cluster);
        _config.Committed += committed => _ = Task.Run(() =>
        {
            try
            {
                Arm(committed);
            }
            catch (Exception ex)
            {
                LogArmFailed(_logger, ex.Message);
            }
        });
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _guard?.Join(TimeSpan.FromSeconds(5));
        if (_child is { } child)
        {
            child.Disarming = true;
            child.Send(Watchdog.Disarm);
            await child.WaitForExitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _child?.Dispose();
        _stopping.Dispose();
    }

    /// <summary>The watchdog in status; null when this node needs none.</summary>
    public WatchdogReport? Report()
    {
        if (_child is not { } child || _guarded is not { } guarded)
        {
            return null;
        }

        var lastPet = Interlocked.Read(ref _lastPet);
        return new WatchdogReport(
            !child.Exited && !child.Disarming,
            child.Pid,
            guarded.Timing.WatchdogTimeout.TotalSeconds,
            guarded.Timing.MessageWait.TotalSeconds,
            [.. guarded.Devices.Select(d => d.Device.Name)],
            lastPet == 0 ? null : _time.GetElapsedTime(lastPet).TotalMilliseconds,
            _lastReading,
            _fired);
    }

    /// <summary>Arms the watchdog for <paramref name="cluster"/>'s levels of this node, if they need one.</summary>
    private void Arm(ClusterDocument cluster)
    {
        lock (_lock)
        {
            if (_stopping.IsCancellationRequested || GuardedDevices(cluster) is not { Count: > 0 } devices)
            {
                return;
            }

            var timing = new SelfFenceTiming(devices.Min(d => d.Timing.WatchdogTimeout), devices.Min(d => d.Timing.MessageWait));
            var old = _child;
            if (old is null || old.Timeout > timing.WatchdogTimeout)
            {
                // The new watchdog is armed before the old one is disarmed: the node is never unguarded.
                _child = WatchdogChild.Start(timing.WatchdogTimeout, AgentProcessInfo.Current(_state.Self.Incarnation), _state.StateDirectory, OnExited);
                if (old is not null)
                {
                    old.Disarming = true;
                    old.Send(Watchdog.Disarm);
                }

                var names = string.Join(", ", devices.Select(d => d.Device.Name));
                LogArmed(_logger, _child.Pid, timing.WatchdogTimeout.TotalSeconds, timing.MessageWait.TotalSeconds, names);
            }

            _guarded = new Guarded([.. devices], old is null || old.Timeout > timing.WatchdogTimeout ? timing : timing with { WatchdogTimeout = old.Timeout });
            if (_guard is null)
            {
                _guard = new Thread(GuardLoop) { IsBackground = true, Name = "cohort-watchdog-guard", Priority = ThreadPriority.AboveNormal };
                _guard.Start();
            }
        }
    }

    /// <summary>The devices of this node's levels whose agents fence by a message this node must read.</summary>
    private List<GuardedDevice> GuardedDevices(ClusterDocument cluster)
    {
        var fencing = cluster.Fencing;
        var found = new List<GuardedDevice>();
        foreach (var name in fencing.Topology.LevelsOf(_state.Self.Node).SelectMany(l => l).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (!fencing.Devices.TryGetValue(name, out var device) || _state.Plugins.Find(PluginSlot.FenceAgent, device.Agent) is not { } plugin)
            {
                continue;
            }

            if (_state.Plugins.Instance<IFenceAgent>(plugin, _state.Configuration.Root) is ISelfFenceGuard guard)
            {
                var options = _state.Configuration.Root.GetSection(device.Path);
                found.Add(new GuardedDevice(device, guard, guard.Timing(options), new SelfFenceSlot(device.Name, options, _state.Self, device.PlugOf(_state.Name))));
            }
        }

        return found;
    }

    private void GuardLoop()
    {
        var pending = new Dictionary<string, Task<SelfFenceSlotReading>>(StringComparer.OrdinalIgnoreCase);
        var said = "";
        while (!_stopping.IsCancellationRequested && !_fired)
        {
            var started = _time.GetTimestamp();
            var guarded = _guarded!;
            var tick = guarded.Timing.MessageWait / 2 < MinimumTick ? MinimumTick : guarded.Timing.MessageWait / 2;
            var readings = Read(guarded.Devices, pending, started, tick);
            var (verdict, why) = Judge(readings);
            _lastReading = why;
            if (verdict != said)
            {
                LogVerdict(_logger, verdict == "pet" ? LogLevel.Information : LogLevel.Warning, verdict, why);
                said = verdict;
            }

            if (verdict == "fire")
            {
                LogFire(_logger, _state.Self, why);
                _fired = true;
                _child?.Send(Watchdog.Fire);
                return;
            }

            if (verdict == "pet" && _child is { } child && child.Send(Watchdog.Pet))
            {
                Interlocked.Exchange(ref _lastPet, _time.GetTimestamp());
            }

            var left = tick - _time.GetElapsedTime(started);
            if (left > TimeSpan.Zero)
            {
                _stopping.Token.WaitHandle.WaitOne(left);
            }
        }
    }

    /// <summary>Reads every device's slot, all at once, waiting at most until <paramref name="tick"/> after
    /// <paramref name="started"/>; a read still hanging from before is not started again.</summary>
    private List<(GuardedDevice Device, SelfFenceSlotReading Reading)> Read(IReadOnlyList<GuardedDevice> devices, Dictionary<string, Task<SelfFenceSlotReading>> pending, long started, TimeSpan tick)
    {
        foreach (var device in devices.Where(d => !pending.ContainsKey(d.Device.Name)))
        {
            pending[device.Device.Name] = Task.Run(() => device.Guard.ReadOwnSlotAsync(device.Slot, _stopping.Token).AsTask());
        }

        var readings = new List<(GuardedDevice, SelfFenceSlotReading)>();
        foreach (var device in devices)
        {
            var read = pending[device.Device.Name];
            var left = tick - _time.GetElapsedTime(started);
            try
            {
                read.Wait(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            }
            catch (AggregateException)
            {
                // Faulted: judged below.
            }

            if (!read.IsCompleted)
            {
                readings.Add((device, SelfFenceSlotReading.Unreadable($"device {device.Device.Name}: the read of this node's slot has not completed within {tick.TotalSeconds:0.###} s")));
                continue;
            }

            pending.Remove(device.Device.Name);
            readings.Add((device, read.IsCompletedSuccessfully
                ? read.Result
                : SelfFenceSlotReading.Unreadable($"device {device.Device.Name}: the read failed: {read.Exception?.GetBaseException().Message ?? "cancelled"}")));
        }

        return readings;
    }

    /// <summary>fire, pet or hold (no pet), and why.</summary>
    private (string Verdict, string Why) Judge(List<(GuardedDevice Device, SelfFenceSlotReading Reading)> readings)
    {
        var self = _state.Self;
        if (readings.FirstOrDefault(r => r.Reading.Condemns(self)) is { Reading: not null } condemned)
        {
            return ("fire", $"device {condemned.Device.Device.Name}: {condemned.Reading.Detail}");
        }

        var unreadable = readings.Where(r => r.Reading.State is not (SelfFenceSlotState.Clear or SelfFenceSlotState.Poisoned)).ToList();
        var summary = string.Join("; ", readings.Select(r => r.Reading.State == SelfFenceSlotState.Poisoned
            ? $"{r.Device.Device.Name}: stale, ignored: {r.Reading.Detail}"
            : $"{r.Device.Device.Name}: {r.Reading.Detail}"));
        if (unreadable.Count == 0)
        {
            return ("pet", summary);
        }

        var snapshot = _state.Current;
        var majority = snapshot.View is { } view && _state.Cluster is { } cluster && view.Members.Count * 2 > cluster.Nodes.Count;
        if (snapshot.View is not null && _state.IsQuorate && (!snapshot.QuorumIsDual || majority))
        {
            return ("pet", $"unreadable, but quorate in view {snapshot.View.Id}: {summary}");
        }

        var why = snapshot.QuorumIsDual && _state.IsQuorate
            ? "its quorum is dual (two_node alone), which does not count here"
            : "it is not quorate";
        return ("hold", $"unreadable and {why}: no pet; the watchdog kills this node within its timeout unless that changes: {summary}");
    }

    private void OnExited(WatchdogChild child)
    {
        if (child.Disarming || _stopping.IsCancellationRequested)
        {
            return;
        }

        LogWatchdogDied(_logger, child.Pid, child.ExitCode);
        _ = Libc.kill(-Libc.getpgrp(), Libc.SIGKILL);
    }

    private sealed record GuardedDevice(FenceDeviceEntry Device, ISelfFenceGuard Guard, SelfFenceTiming Timing, SelfFenceSlot Slot);

    private sealed record Guarded(IReadOnlyList<GuardedDevice> Devices, SelfFenceTiming Timing);

    /// <summary>The watchdog process and the pipe to it.</summary>
    private sealed class WatchdogChild : IDisposable
    {
        private readonly Process _process;
        private readonly Stream _input;
        private readonly Lock _sending = new();

        private WatchdogChild(Process process, TimeSpan timeout)
        {
            _process = process;
            _input = process.StandardInput.BaseStream;
            Timeout = timeout;
            Pid = process.Id;
        }

        public TimeSpan Timeout { get; }

        public int Pid { get; }

        public volatile bool Disarming;

        public bool Exited => _process.HasExited;

        public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

        /// <summary>Starts <c>cohort watchdog</c> and waits until it is armed.</summary>
        /// <exception cref="CohortStartupException">It could not be started or did not arm.</exception>
        public static WatchdogChild Start(TimeSpan timeout, AgentProcessInfo agent, string stateDirectory, Action<WatchdogChild> exited)
        {
            var program = Environment.ProcessPath ?? throw new CohortStartupException("cannot find this program's path to start the watchdog", ExitCodes.OsError);
            var start = new ProcessStartInfo(program) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(program) == "dotnet")
            {
                start.ArgumentList.Add(Environment.GetCommandLineArgs()[0]); // dotnet cohort.dll
            }

            foreach (var argument in (string[])["watchdog",
                "--timeout", timeout.TotalSeconds.ToString("R", CultureInfo.InvariantCulture),
                "--pid", agent.Pid.ToString(CultureInfo.InvariantCulture),
                "--pgid", agent.Pgid.ToString(CultureInfo.InvariantCulture),
                "--start-time", agent.StartTime.ToString(CultureInfo.InvariantCulture),
                "--incarnation", agent.Incarnation.ToString(CultureInfo.InvariantCulture),
                "--state", Path.GetFullPath(stateDirectory)])
            {
                start.ArgumentList.Add(argument);
            }

            var process = new Process { StartInfo = start, EnableRaisingEvents = true };
            try
            {
                process.Start();
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                process.Dispose();
                throw new CohortStartupException($"cannot start the watchdog ({program} watchdog): {ex.Message}", ExitCodes.OsError);
            }

            var child = new WatchdogChild(process, timeout);
            var ready = process.StandardOutput.ReadLineAsync();
            if (!ready.Wait(ReadyWait) || ready.Result != Watchdog.ReadyLine)
            {
                child.Disarming = true;
                process.Kill();
                process.Dispose();
                throw new CohortStartupException($"the watchdog ({program} watchdog, pid {child.Pid}) did not arm within {ReadyWait.TotalSeconds:0} s (it said: {(ready.IsCompleted ? ready.Result ?? "nothing" : "nothing yet")})", ExitCodes.OsError);
            }

            process.Exited += (_, _) => exited(child);
            if (process.HasExited)
            {
                exited(child);
            }

            return child;
        }

        /// <summary>Writes one byte; false when the pipe is broken (the watchdog is gone).</summary>
        public bool Send(byte value)
        {
            lock (_sending)
            {
                try
                {
                    _input.WriteByte(value);
                    _input.Flush();
                    return true;
                }
                catch (Exception ex) when (ex is IOException or ObjectDisposedException)
                {
                    return false;
                }
            }
        }

        public async Task WaitForExitAsync(TimeSpan deadline)
        {
            using var timeout = new CancellationTokenSource(deadline);
            try
            {
                await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // It did not exit: it is its own session's, and lives on until its timeout kills.
            }
        }

        public void Dispose() => _process.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "watchdog armed (pid {Pid}): timeout {Timeout} s, slot read every {MessageWait} s / 2, devices {Devices}")]
    private static partial void LogArmed(ILogger logger, int pid, double timeout, double messageWait, string devices);

    [LoggerMessage(Message = "watchdog guard: {Verdict}: {Why}")]
    private static partial void LogVerdict(ILogger logger, LogLevel level, string verdict, string why);

    [LoggerMessage(Level = LogLevel.Critical, Message = "poison pill for this node ({Self}): {Why}; firing the watchdog: this agent and its process group die now")]
    private static partial void LogFire(ILogger logger, Membership.NodeIncarnation self, string why);

    [LoggerMessage(Level = LogLevel.Critical, Message = "the watchdog (pid {Pid}) exited with {Code} while armed: nothing guards this node any more; the agent kills its own process group")]
    private static partial void LogWatchdogDied(ILogger logger, int pid, int? code);

    [LoggerMessage(Level = LogLevel.Error, Message = "cannot arm the watchdog for a committed document: {Why}")]
    private static partial void LogArmFailed(ILogger logger, string why);
}
