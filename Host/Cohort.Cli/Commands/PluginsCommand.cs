using System.CommandLine;
using System.Text.Json;
using Cohort.Host;

namespace Cohort.Cli.Commands;

/// <summary><c>cohort plugins [--json]</c>: the plugins the agent loaded.</summary>
internal static class PluginsCommand
{
    public static Command Create()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var json = new Option<bool>("--json") { Description = "Print the plugins as JSON." };
        var command = new Command("plugins", "List the plugins the agent loaded: slot, name, version, path.") { config, socket, json };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var result = await client.CallAsync("plugins", cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(result.GetRawText());
                return 0;
            }

            var plugins = result.Deserialize(HostJsonContext.Default.PluginReportArray)!;
            Console.Write(Table.Columns(
                ["SLOT", "NAME", "VERSION", "SELECTED", "PATH"],
                [.. plugins.Select(p => new[] { p.Slot, p.Name, p.Version, p.Selected ? "yes" : "no", p.Path })]));
            return 0;
        }));
        return command;
    }
}
