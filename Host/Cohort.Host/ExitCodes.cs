namespace Cohort.Host;

/// <summary>Exit codes of the <c>cohort</c> command (sysexits.h where one fits).</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>An error not covered below.</summary>
    public const int Failure = 1;

    /// <summary>The command line was wrong.</summary>
    public const int Usage = 2;

    /// <summary><c>cohort config apply</c>: the committed version was not the expected one; nothing changed.</summary>
    public const int Conflict = 3;

    /// <summary><c>cohort config apply</c>: no outcome was learned in time; the change may still commit.</summary>
    public const int OutcomeUnknown = 4;

    /// <summary>No agent answers on the admin socket (EX_UNAVAILABLE).</summary>
    public const int Unavailable = 69;

    /// <summary>An OS-level failure: a file, socket or lock could not be used (EX_OSERR).</summary>
    public const int OsError = 71;

    /// <summary>Another agent already runs on the state directory or socket (EX_TEMPFAIL).</summary>
    public const int InUse = 75;

    /// <summary>Configuration or plugin problem (EX_CONFIG).</summary>
    public const int Config = 78;
}
