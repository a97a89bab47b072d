using System.CommandLine;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort debug partition --peer NODE [--one-way out|in]</c> and <c>cohort debug heal [--peer NODE]</c>:
/// fault injection for tests, refused unless the agent runs with <c>Node:FaultInjection: true</c>.
/// </summary>
internal static class DebugCommand
{
    public static Command Create()
    {
        var command = new Command("debug", "Fault injection for tests (the agent must run with Node:FaultInjection: true).")
        {
            Verb("partition", "Cut this node's link to a peer, both ways or one way, as a network partition would.", heal: false),
            Verb("heal", "Restore this node's link to a peer, or (without --peer) to every peer.", heal: true),
        };
        return command;
    }

    private static Command Verb(string name, string description, bool heal)
    {
        var (config, socket) = AdminClient.CreateOptions();
        var peer = new Option<string?>("--peer") { Description = "The peer: a node name or id, or several separated by commas.", Required = !heal };
        var oneWay = new Option<string?>("--one-way") { Description = "out: nothing this node sends arrives; in: nothing from the peer arrives." };
        oneWay.AcceptOnlyFromAmong("out", "in");
        var json = new Option<bool>("--json") { Description = "Print the transport's status as JSON." };
        var command = new Command(name, description) { config, socket, peer, json };
        if (!heal)
        {
            command.Add(oneWay);
        }

        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var arguments = JsonSerializer.SerializeToElement(new DebugArguments(parse.GetValue(peer), heal ? null : parse.GetValue(oneWay)), HostJsonContext.Default.DebugArguments);
            var result = await client.CallAsync("debug-" + name, arguments, cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(result.GetRawText());
                return 0;
            }

            var transport = result.Deserialize(HostJsonContext.Default.TransportReport)!;
            foreach (var report in transport.Peers)
            {
                Console.WriteLine(StatusCommand.DescribePeer(report));
            }

            return 0;
        }));
        return command;
    }
}
