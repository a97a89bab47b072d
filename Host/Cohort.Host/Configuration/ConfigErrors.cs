namespace Cohort.Host.Configuration;

/// <summary>The one format of configuration errors: <c>source: key: expected X, got "Y"</c>.</summary>
internal static class ConfigErrors
{
    public static string Format(string source, string key, string expected, string? actual = null) =>
        actual is null
            ? $"{source}: {key}: expected {expected}"
            : $"{source}: {key}: expected {expected}, got \"{actual}\"";

    /// <summary><c>source: key: unknown key; known keys</c>.</summary>
    public static string Unknown(string source, string key, string known) => $"{source}: {key}: unknown key; {known}";
}
