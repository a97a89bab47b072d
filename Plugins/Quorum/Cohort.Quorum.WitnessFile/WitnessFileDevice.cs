using Cohort.Membership;
using Microsoft.Extensions.Logging;

namespace Cohort.Quorum.WitnessFile;

/// <summary>
/// The <c>witness-file</c> device on one node: every renew interval (and at once after a view change
/// or its own write) it reads every slot of the shared file, hands the result to its
/// <see cref="FileLeaseCore"/>, writes and fsyncs its own slot when the core asks, and reports the
/// core's grant.
/// </summary>
internal sealed partial class WitnessFileDevice(WitnessFileOptions options, ILogger logger) : IQuorumDevice, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Lock _sync = new();
    private QuorumDeviceSession? _session;
    private View? _view;
    private Task _loop = Task.CompletedTask;
    private QuorumDeviceGrant? _last;

    public Task StartAsync(QuorumDeviceSession session, CancellationToken cancellationToken)
    {
        _session = session ?? throw new ArgumentNullException(nameof(session));
        _loop = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public void ViewChanged(View? view)
    {
        lock (_sync)
        {
            _view = view;
        }

        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // already awake
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stop.Dispose();
        _wake.Dispose();
    }

    private async Task RunAsync()
    {
        var session = _session!;
        var slotNodes = session.Nodes.Select(n => n.Id).Order().ToArray();
        var core = new FileLeaseCore(slotNodes, session.Self, options.Lease, options.RenewInterval, session.ClockDriftBound, options.TieBreakerNode(session.Nodes));
        var self = Array.IndexOf(slotNodes, session.Self.Node);
        SlotFile? file = null;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var again = false;
                try
                {
                    file ??= SlotFile.Open(options.Path, slotNodes.Length);
                    View? view;
                    lock (_sync)
                    {
                        view = _view;
                    }

                    var slots = file.ReadAll();
                    var write = core.Read(session.Now(), view, slots);
                    if (write is not null)
                    {
                        var started = session.Now();
                        try
                        {
                            file.Write(self, write);
                            core.Written(started);
                            again = true; // read back at once: the claim or renewal counts only then
                        }
                        catch (IOException ex)
                        {
                            core.WriteFailed(ex.Message);
                        }
                    }

                    Report(core.Grant(session.Now()));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    file?.Dispose();
                    file = null;
                    Report(core.Grant(session.Now()) with { Detail = $"{options.Path}: {ex.Message}" });
                }

                if (!again)
                {
                    var wait = options.RenewInterval;
                    if (core.BlockedUntil is { } unblocked && unblocked - session.Now() is var left && left < wait)
                    {
                        wait = left > TimeSpan.Zero ? left : TimeSpan.Zero; // read again the moment the other claim falls silent
                    }

                    await _wake.WaitAsync(wait, _stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        finally
        {
            file?.Dispose();
        }
    }

    private void Report(QuorumDeviceGrant grant)
    {
        if (_last is null || grant.View != _last.View || grant.Detail != _last.Detail)
        {
            LogGrant(logger, grant.View, grant.Detail);
        }

        _last = grant;
        _session!.Report(grant);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "witness-file vote: {View} ({Detail})")]
    private static partial void LogGrant(ILogger logger, ViewId? view, string detail);
}
