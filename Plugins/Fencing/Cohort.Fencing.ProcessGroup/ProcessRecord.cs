using System.Globalization;
using System.Text.Json;

namespace Cohort.Fencing.ProcessGroup;

/// <summary>One process group to kill: its leader's pid and start time (which tell a recycled pid apart) and
/// the group id.</summary>
/// <param name="Pid">The process that was recorded (the group's leader).</param>
/// <param name="Pgid">The group to kill.</param>
/// <param name="StartTime">The recorded process's start time in clock ticks since boot (<c>/proc/PID/stat</c>
/// field 22).</param>
internal sealed record ProcessRecord(int Pid, int Pgid, long StartTime)
{
    /// <summary>The agent's record: <c>&lt;state&gt;/agent.pid</c>.</summary>
    public const string AgentFile = "agent.pid";

    /// <summary>The lock clients' records: <c>&lt;state&gt;/fence-groups</c>, a JSON array; absent means none.</summary>
    public const string ClientsFile = "fence-groups";

    /// <summary>Reads <c>agent.pid</c>: the incarnation and the agent's group.</summary>
    /// <exception cref="FormatException">The file is not the JSON object the agent writes.</exception>
    public static (long Incarnation, ProcessRecord Group) ReadAgent(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            var root = document.RootElement;
            return (Number(root, "incarnation"), From(root));
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}: not the JSON object an agent writes ({ex.Message})", ex);
        }
    }

    /// <summary>Reads <c>fence-groups</c>; empty when the file does not exist.</summary>
    /// <exception cref="FormatException">The file is not a JSON array of records.</exception>
    public static IReadOnlyList<ProcessRecord> ReadClients(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }

        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException($"{path}: expected a JSON array of {{\"pid\",\"pgid\",\"startTime\"}} objects");
            }

            return [.. document.RootElement.EnumerateArray().Select(From)];
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{path}: not a JSON array of process groups ({ex.Message})", ex);
        }
    }

    /// <summary>Field 22 of <c>/proc/PID/stat</c>, or null when no such process exists.</summary>
    public static long? ReadStartTime(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // The command name (field 2) is parenthesised and may hold spaces and ')': count fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[19], CultureInfo.InvariantCulture);
    }

    private static ProcessRecord From(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"expected an object with pid, pgid and startTime, got {element.ValueKind}");
        }

        var pid = Number(element, "pid");
        var pgid = Number(element, "pgid");
        // 0 and 1 would make kill(-pgid) mean "my own group" or "every process": never valid here.
        if (pid <= 1 || pgid <= 1 || pid > int.MaxValue || pgid > int.MaxValue)
        {
            throw new FormatException($"pid {pid} and pgid {pgid}: both must be process ids above 1");
        }

        return new ProcessRecord((int)pid, (int)pgid, Number(element, "startTime"));
    }

    private static long Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number)
            ? number
            : throw new FormatException($"expected a whole number \"{name}\"");
}
