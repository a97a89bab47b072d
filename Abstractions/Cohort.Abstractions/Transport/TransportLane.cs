namespace Cohort.Transport;

/// <summary>The priority lanes of a session.</summary>
public enum TransportLane
{
    /// <summary>Membership traffic (heartbeats, view changes): sent before any queued data frame.</summary>
    Membership = 0,

    /// <summary>Everything else; bulk data is chunked into frames so it never delays membership long.</summary>
    Data = 1,
}
