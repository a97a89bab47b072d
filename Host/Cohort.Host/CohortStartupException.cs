namespace Cohort.Host;

/// <summary>
/// A fatal problem found while starting an agent or a command, reported to the operator as one line
/// per problem: what, where (file and key path, plugin, path) and what was expected.
/// </summary>
public sealed class CohortStartupException : Exception
{
    /// <summary>Creates the exception with one or more problem lines.</summary>
    public CohortStartupException(IReadOnlyList<string> problems, int exitCode = ExitCodes.Config)
        : base(string.Join(Environment.NewLine, problems))
    {
        Problems = problems;
        ExitCode = exitCode;
    }

    /// <summary>Creates the exception with one problem line.</summary>
    public CohortStartupException(string problem, int exitCode = ExitCodes.Config)
        : this([problem], exitCode)
    {
    }

    /// <summary>Creates the exception with one problem line and its cause.</summary>
    public CohortStartupException(string problem, Exception innerException, int exitCode = ExitCodes.Config)
        : base(problem, innerException)
    {
        Problems = [problem];
        ExitCode = exitCode;
    }

    /// <summary>The problems, one line each.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>The process exit code to use.</summary>
    public int ExitCode { get; }
}
