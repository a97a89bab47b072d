namespace Cohort.Host.Configuration;

/// <summary>The one format of configuration errors: <c>source: key: expected X, got "Y"</c>.</summary>
internal static class ConfigErrors
{
    public static string Format(string source, string key, string expected, string? actual = null) =>
        actual is null
            ? $"{source}: {key}: expected {expected}"
            : $"{source}: {key}: expected {expected}, got \"{actual}\"";
}
