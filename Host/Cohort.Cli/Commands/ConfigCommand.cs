using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;
using Cohort.Host.Configuration;
using Cohort.Host.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Cli.Commands;

/// <summary><c>cohort config show|apply|diff|history|validate</c>: the cluster document, kept by CCS.</summary>
internal static class ConfigCommand
{
    public static Command Create() => new("config", "The cluster document: show it, validate a change offline, diff it against what is committed, apply it (CCS commits it on every node), and list its history.")
    {
        Show(),
        Apply(),
        Diff(),
        History(),
        Validate(),
    };

    private static Command Show()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var version = new Option<long?>("--version") { Description = "A version this node still keeps (default: the committed one)." };
        var json = new Option<bool>("--json") { Description = "Print {\"version\": N, \"sha256\": ..., \"document\": {...}}." };
        var command = new Command("show", "Print the committed cluster document, exactly as committed.") { config, socket, version, json };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var arguments = JsonSerializer.SerializeToElement(new ConfigShowArguments(parse.GetValue(version)), HostJsonContext.Default.ConfigShowArguments);
            var report = (await client.CallAsync("config-show", arguments, cancellationToken)).Deserialize(HostJsonContext.Default.ConfigShowReport)!;
            if (parse.GetValue(json))
            {
                Console.WriteLine(ShowJson(report));
            }
            else
            {
                Console.Write(report.Text);
            }

            return 0;
        }));
        return command;
    }

    /// <summary><c>{"version": N, "sha256": "...", "document": {...}}</c>, the same on every node.</summary>
    private static string ShowJson(ConfigShowReport report)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("version", report.Version);
            writer.WriteString("sha256", report.Sha256);
            writer.WritePropertyName("document");
            report.Document.WriteTo(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static Command Apply()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var file = new Argument<FileInfo>("FILE") { Description = "The whole new cluster document (a bare document: CCS assigns its version)." };
        var expect = new Option<long?>("--expect-version") { Description = "Commit only if version N is still the committed one (default: the version the node holds now)." };
        var json = new Option<bool>("--json") { Description = "Print the outcome as JSON." };
        var command = new Command("apply", "Commit a new cluster document on every node. Exit 0 committed, 3 conflict (another change won), 4 outcome unknown, 78 invalid.") { file, config, socket, expect, json };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var path = parse.GetValue(file)!.FullName;
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var arguments = JsonSerializer.SerializeToElement(new ConfigApplyArguments(await File.ReadAllTextAsync(path, cancellationToken), parse.GetValue(expect), path), HostJsonContext.Default.ConfigApplyArguments);
            var result = await client.CallAsync("config-apply", arguments, cancellationToken, replyTimeout: TimeSpan.FromSeconds(30));
            var report = result.Deserialize(HostJsonContext.Default.ConfigApplyReport)!;
            Console.WriteLine(parse.GetValue(json) ? result.GetRawText() : Describe(report));
            return report.Outcome switch
            {
                "committed" => ExitCodes.Ok,
                "conflict" => ExitCodes.Conflict,
                "invalid" => ExitCodes.Config,
                _ => ExitCodes.OutcomeUnknown,
            };
        }));
        return command;
    }

    private static string Describe(ConfigApplyReport report) => report.Outcome switch
    {
        "committed" => $"committed: version {report.Version}" + (report.Detail.StartsWith("unchanged", StringComparison.Ordinal) ? $" ({report.Detail})" : ""),
        "conflict" => $"conflict: version {report.Version} is committed (by node {report.Winner}); nothing changed. {report.Detail}",
        "invalid" => "invalid, nothing proposed:\n" + report.Detail,
        _ => $"outcome unknown: {report.Detail}",
    };

    private static Command Diff()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var file = new Argument<FileInfo>("FILE") { Description = "A cluster document to compare with the committed one." };
        var command = new Command("diff", "Show what applying FILE would change, key by key. Exit 0 when nothing, 1 when something would change.") { file, config, socket };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var path = parse.GetValue(file)!.FullName;
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var committed = (await client.CallAsync("config-show", cancellationToken)).Deserialize(HostJsonContext.Default.ConfigShowReport)!;
            var lines = DiffLines(Keys("committed", Encoding.UTF8.GetBytes(committed.Text!)), Keys(path, await File.ReadAllBytesAsync(path, cancellationToken)));
            Console.Write(lines.Count == 0 ? $"no change from version {committed.Version}\n" : $"against version {committed.Version}:\n" + string.Concat(lines.Select(l => l + "\n")));
            return lines.Count == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        }));
        return command;
    }

    /// <summary>The document's keys as configuration reads them.</summary>
    private static SortedDictionary<string, string> Keys(string description, byte[] json) =>
        new(ConfigSource.Json(description, json, Directory.GetCurrentDirectory()).Root.AsEnumerable()
            .Where(kv => kv.Value is not null)
            .ToDictionary(kv => kv.Key, kv => kv.Value!, StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase);

    /// <summary><c>- key: old</c>, <c>+ key: new</c>, <c>~ key: old -> new</c>, in key order.</summary>
    private static List<string> DiffLines(SortedDictionary<string, string> before, SortedDictionary<string, string> after) =>
    [
        .. before.Keys.Union(after.Keys, StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).SelectMany<string, string>(key =>
            (before.TryGetValue(key, out var old), after.TryGetValue(key, out var now)) switch
            {
                (true, false) => [$"- {key}: {old}"],
                (false, true) => [$"+ {key}: {now}"],
                (true, true) when old != now => [$"~ {key}: {old} -> {now}"],
                _ => [],
            }),
    ];

    private static Command History()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var json = new Option<bool>("--json") { Description = "Print it as JSON." };
        var command = new Command("history", "List the committed versions this node keeps (the last 16).") { config, socket, json };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var result = await client.CallAsync("config-history", cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(result.GetRawText());
                return 0;
            }

            var entries = result.Deserialize(HostJsonContext.Default.ConfigHistoryEntryArray)!;
            Console.Write(Table.Rows([.. entries.Select(e => ($"version {e.Version}",
                $"{e.Sha256[..12]}  by node {e.Origin} at {e.ProposedAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}, ballot {e.Ballot}, {e.Bytes} bytes" + (e.Description.Length > 0 ? $": {e.Description}" : "")))]));
            return 0;
        }));
        return command;
    }

    private static Command Validate()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "A cluster document." };
        var plugins = new Option<DirectoryInfo?>("--plugins") { Description = "The plugin directory whose validators judge it (default: plugins/ next to the cohort program)." };
        var command = new Command("validate", "Check a cluster document offline, as every node checks it before committing it: every problem with its key and what was expected. Exit 0 valid, 78 not.") { file, plugins };
        command.SetAction((parse, _) => CohortCommand.Guard(() =>
        {
            var path = parse.GetValue(file)!.FullName;
            if (!File.Exists(path))
            {
                throw new CohortStartupException($"{path}: file not found", ExitCodes.Usage);
            }

            var directory = parse.GetValue(plugins)?.FullName ?? Path.Combine(AppContext.BaseDirectory, "plugins");
            var catalog = PluginCatalog.Load(directory, "--plugins");
            var document = ClusterDocumentCheck.Validate(path, File.ReadAllBytes(path), catalog, proposal: true);
            Console.WriteLine($"{path}: valid: cluster {document.Name}, {document.Nodes.Count} node{(document.Nodes.Count == 1 ? "" : "s")}, {document.Nodes.Sum(n => n.Votes)} votes, policy {document.QuorumPolicy}{(document.QuorumDevice is { } device ? $", device {device}" : "")}; sha256 {document.Sha256}");
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }
}
