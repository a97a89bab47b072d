using System.Text;

namespace Cohort.Host.Configuration;

/// <summary>The one format of configuration errors: <c>source: key: expected X, got "Y"</c>. A key of
/// the cluster document is named by its JSON path (<c>$.Nodes[1].Votes</c>), any other key by its
/// configuration key path (<c>Node:Id</c>).</summary>
internal static class ConfigErrors
{
    public static string Format(string source, string key, string expected, string? actual = null) =>
        actual is null
            ? $"{source}: {Name(key)}: expected {expected}"
            : $"{source}: {Name(key)}: expected {expected}, got \"{actual}\"";

    /// <summary><c>source: key: unknown key; known keys</c>.</summary>
    public static string Unknown(string source, string key, string known) => $"{source}: {Name(key)}: unknown key; {known}";

    /// <summary>How errors name <paramref name="key"/>: a key below <c>Cluster</c> (the cluster document
    /// as configuration sees it) by its JSON path in the document, array elements by index
    /// (<c>Cluster:Nodes:1:Votes</c> is <c>$.Nodes[1].Votes</c>); any other key as it is.</summary>
    public static string Name(string key)
    {
        const string cluster = "Cluster";
        if (!key.StartsWith(cluster, StringComparison.OrdinalIgnoreCase) || (key.Length > cluster.Length && key[cluster.Length] != ':'))
        {
            return key;
        }

        var path = new StringBuilder("$");
        foreach (var part in key.Split(':').Skip(1))
        {
            if (part.Length > 0 && part.All(char.IsAsciiDigit))
            {
                path.Append('[').Append(part).Append(']');
            }
            else if (part.Length > 0 && (char.IsAsciiLetter(part[0]) || part[0] == '_') && part.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                path.Append('.').Append(part);
            }
            else
            {
                path.Append("['").Append(part.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal)).Append("']");
            }
        }

        return path.ToString();
    }
}
