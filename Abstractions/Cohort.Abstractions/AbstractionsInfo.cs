namespace Cohort;

/// <summary>Facts about this build of <c>Cohort.Abstractions</c> that plugins capture at compile time.</summary>
public static class AbstractionsInfo
{
    /// <summary>
    /// The major.minor version of the contracts. Being a constant, it is copied into every plugin that
    /// reads it when that plugin is compiled, so the host can tell which contracts a plugin was built for.
    /// Before 1.0 the host loads a plugin only when this equals its own major.minor.
    /// </summary>
    public const string Version = "0.1";
}
