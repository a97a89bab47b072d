using System.Diagnostics.Tracing;

namespace Cohort.Dlm.Bench;

/// <summary>
/// Which types an operation allocates, by sampling: the runtime reports a GCAllocationTick event about every 100 KB
/// allocated, naming the type of the object that crossed the threshold, so over many megabytes the share of ticks
/// per type estimates the share of bytes per type. Diagnostic only: it runs outside the timed rounds.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const int AllocationTickEvent = 10;
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, long> _ticks = [];
    private readonly Lock _gate = new();
    private volatile bool _on;

    public void Start() => _on = true;

    /// <summary>The types sampled, most ticks first, each with its share of the ticks.</summary>
    /// <remarks>The runtime dispatches its events to listeners on a thread of its own, a little later: this waits
    /// for the ticks to stop growing before it stops counting.</remarks>
    public IReadOnlyList<(string Type, double Share)> Stop()
    {
        var seen = -1L;
        for (var i = 0; i < 50 && Ticks != seen; i++)
        {
            seen = Ticks;
            Thread.Sleep(100);
        }

        _on = false;
        lock (_gate)
        {
            var total = (double)_ticks.Values.Sum();
            return [.. _ticks.OrderByDescending(t => t.Value).Select(t => (t.Key, t.Value / total))];
        }
    }

    public long Ticks
    {
        get
        {
            lock (_gate)
            {
                return _ticks.Values.Sum();
            }
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_on || eventData.EventId != AllocationTickEvent || eventData.PayloadNames is null)
        {
            return;
        }

        var index = eventData.PayloadNames.IndexOf("TypeName");
        if (index < 0 || eventData.Payload?[index] is not string type)
        {
            return;
        }

        lock (_gate)
        {
            _ticks[type] = _ticks.GetValueOrDefault(type) + 1;
        }
    }
}
