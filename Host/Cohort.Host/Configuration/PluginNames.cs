namespace Cohort.Host.Configuration;

/// <summary>The syntax of names used in configuration (node names, plugin names).</summary>
internal static class PluginNames
{
    public static bool IsValid(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
