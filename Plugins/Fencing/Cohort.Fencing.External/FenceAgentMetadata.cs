using System.Xml;
using System.Xml.Linq;

namespace Cohort.Fencing.External;

/// <summary>One parameter of a fence-agents program, from its <c>-o metadata</c>.</summary>
/// <param name="Name">The name stdin uses (<c>status_file</c>).</param>
/// <param name="LongOption">The command line's long option without dashes (<c>status-file</c>), or null.</param>
/// <param name="Required">Whether the program needs it.</param>
/// <param name="Deprecated">Whether another parameter replaces it.</param>
/// <param name="Obsoletes">The deprecated parameter this one replaces, or null.</param>
/// <param name="Type">The content type (<c>string</c>, <c>boolean</c>, <c>integer</c>, <c>second</c>, ...).</param>
/// <param name="Description">Its short description.</param>
internal sealed record FenceParameter(string Name, string? LongOption, bool Required, bool Deprecated, string? Obsoletes, string Type, string Description);

/// <summary>What a fence-agents program says about itself with <c>-o metadata</c>: its parameters and actions.</summary>
/// <param name="Agent">The program's name (<c>fence_dummy</c>).</param>
/// <param name="Parameters">Its parameters, in the order it lists them.</param>
/// <param name="Actions">The actions it lists.</param>
internal sealed record FenceAgentMetadata(string Agent, IReadOnlyList<FenceParameter> Parameters, IReadOnlyList<string> Actions)
{
    /// <summary>Parses the XML a fence-agents program prints for <c>-o metadata</c>.</summary>
    /// <exception cref="FormatException">It is not a <c>resource-agent</c> document.</exception>
    public static FenceAgentMetadata Parse(string xml)
    {
        XDocument document;
        try
        {
            document = XDocument.Parse(xml);
        }
        catch (XmlException ex)
        {
            throw new FormatException($"not XML: {ex.Message}", ex);
        }

        var root = document.Root;
        if (root?.Name.LocalName != "resource-agent")
        {
            throw new FormatException($"expected a <resource-agent> document, got <{root?.Name.LocalName}>");
        }

        var parameters = root.Element("parameters")?.Elements("parameter").Select(p => new FenceParameter(
            (string?)p.Attribute("name") ?? throw new FormatException("a <parameter> without a name"),
            LongOption((string?)p.Element("getopt")?.Attribute("mixed")),
            (string?)p.Attribute("required") == "1",
            (string?)p.Attribute("deprecated") == "1",
            (string?)p.Attribute("obsoletes"),
            (string?)p.Element("content")?.Attribute("type") ?? "string",
            ((string?)p.Element("shortdesc") ?? "").Trim())).ToList() ?? [];
        var actions = root.Element("actions")?.Elements("action").Select(a => (string?)a.Attribute("name") ?? "").Where(a => a.Length > 0).ToList() ?? [];
        return new FenceAgentMetadata((string?)root.Attribute("name") ?? "", parameters, actions);
    }

    /// <summary>The parameter a stdin key names, as the fence-agents library matches it: by name or long option,
    /// with <c>-</c> and <c>_</c> alike.</summary>
    public FenceParameter? Find(string key)
    {
        var normal = Normalize(key);
        return Parameters.FirstOrDefault(p => Normalize(p.Name) == normal)
               ?? Parameters.FirstOrDefault(p => p.LongOption is { } option && Normalize(option) == normal);
    }

    /// <summary>The names that mean the same parameter as <paramref name="parameter"/>: itself, the one it obsoletes,
    /// the ones that obsolete it.</summary>
    public IEnumerable<FenceParameter> Aliases(FenceParameter parameter) =>
        Parameters.Where(p => p == parameter || p.Name == parameter.Obsoletes || p.Obsoletes == parameter.Name);

    private static string Normalize(string key) => key.Replace('-', '_').ToLowerInvariant();

    // "-a, --ip=[ip]" -> "ip"; "--status-file=[file]" -> "status-file"; "-q, --quiet" -> "quiet".
    private static string? LongOption(string? mixed)
    {
        if (mixed is null)
        {
            return null;
        }

        var at = mixed.IndexOf("--", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var option = mixed[(at + 2)..];
        var end = option.IndexOfAny(['=', ' ', ',', '[']);
        return end < 0 ? option : option[..end];
    }
}
