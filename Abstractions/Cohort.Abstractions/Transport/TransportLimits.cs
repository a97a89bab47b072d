namespace Cohort.Transport;

/// <summary>Limits every transport enforces.</summary>
public static class TransportLimits
{
    /// <summary>The largest frame payload, 1 MiB. A decoder checks a length prefix against it before
    /// allocating anything.</summary>
    public const int MaxFrameBytes = 1024 * 1024;
}
