using System.Text;

namespace Cohort.Cli.Commands;

/// <summary>Plain-text layout for humans.</summary>
internal static class Table
{
    /// <summary>Label/value rows with the values aligned.</summary>
    public static string Rows(IReadOnlyList<(string Label, string Value)> rows)
    {
        var width = rows.Max(r => r.Label.Length) + 2;
        var text = new StringBuilder();
        foreach (var (label, value) in rows)
        {
            text.Append(label.PadRight(width)).Append(value).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>A header and rows in aligned columns.</summary>
    public static string Columns(string[] header, IReadOnlyList<string[]> rows)
    {
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows.Prepend(header))
        {
            text.Append(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i])))).Append('\n');
        }

        return text.ToString();
    }
}
