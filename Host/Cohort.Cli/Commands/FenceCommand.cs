using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort fence NODE [--action off|reboot]</c>, <c>cohort fence ack NODE</c>, <c>cohort fence history</c> and
/// <c>cohort fence devices</c>: ask the quorate partition to fence a node, acknowledge a manual fence, and show what
/// fencing did and with what.
/// </summary>
internal static class FenceCommand
{
    public static Command Create()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var node = new Argument<string>("NODE") { Description = "The node to fence, by name or id." };
        var action = new Option<string?>("--action") { Description = "off or reboot (default: Cluster:Fencing:Action)." };
        action.AcceptOnlyFromAmong("off", "reboot");
        var command = new Command("fence", "Fence a node through its levels (asked of the node this command talks to, which must be quorate); see also: ack, history, devices.")
        {
            node, action, config, socket,
            Ack(),
            History(),
            Devices(),
        };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var arguments = JsonSerializer.SerializeToElement(new FenceArguments(parse.GetValue(node)!, parse.GetValue(action)), HostJsonContext.Default.FenceArguments);
            var report = (await client.CallAsync("fence", arguments, cancellationToken)).Deserialize(HostJsonContext.Default.FenceReport)!;
            Console.WriteLine($"fencing {report.Victim} (incarnation {report.VictimIncarnation}): follow it with ./cohort fence history");
            return 0;
        }));
        return command;
    }

    private static Command Ack()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var node = new Argument<string>("NODE") { Description = "The node an operator has dealt with." };
        var command = new Command("ack", "Acknowledge that NODE was fenced by hand: a manual fence device waiting for it succeeds.") { node, config, socket };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var arguments = JsonSerializer.SerializeToElement(new FenceArguments(parse.GetValue(node)!), HostJsonContext.Default.FenceArguments);
            var report = (await client.CallAsync("fence-ack", arguments, cancellationToken)).Deserialize(HostJsonContext.Default.FenceReport)!;
            Console.WriteLine($"acknowledged {report.Victim}: a manual device waiting for it, on any node of the view, succeeds");
            return 0;
        }));
        return command;
    }

    private static Command History()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var json = new Option<bool>("--json") { Description = "Print an array of {victim, victimIncarnation, level, device, action, result, requester, time, ...}." };
        var command = new Command("history", "Every fence operation this node knows of (its own and its peers'), oldest first.") { config, socket, json };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var result = await client.CallAsync("fence-history", cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(result.GetRawText());
                return 0;
            }

            var entries = result.Deserialize(HostJsonContext.Default.FenceHistoryEntryArray)!;
            Console.Write(entries.Length == 0
                ? "no fence operations\n"
                : Table.Columns(
                    ["time", "victim", "level", "device", "action", "result", "by", "detail"],
                    [.. entries.Select(e => new[]
                    {
                        e.Time.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
                        $"{e.Victim}#{e.VictimIncarnation}",
                        e.Level.ToString(CultureInfo.InvariantCulture),
                        e.Device,
                        e.Action,
                        e.Result + (e.Fenced ? " (fenced)" : ""),
                        $"{e.Requester}#{e.RequesterIncarnation}",
                        e.Detail,
                    })]));
            return 0;
        }));
        return command;
    }

    private static Command Devices()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var json = new Option<bool>("--json") { Description = "Print {action, monitorIntervalSeconds, levels: [...], devices: [...]}." };
        var command = new Command("devices", "The fencing topology (each node's levels) and every device with its last monitor result on this node.") { config, socket, json };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var result = await client.CallAsync("fence-devices", cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(result.GetRawText());
                return 0;
            }

            var report = result.Deserialize(HostJsonContext.Default.FenceDevicesReport)!;
            Console.WriteLine($"action: {report.Action}; devices monitored every {report.MonitorIntervalSeconds} s");
            Console.Write(Table.Columns(
                ["node", "levels"],
                [.. report.Levels.Select(l => new[] { $"{l.Node} ({l.NodeId})", l.Levels.Count == 0 ? "NONE: this node cannot be fenced" : string.Join(" then ", l.Levels.Select(level => string.Join("+", level))) })]));
            Console.Write(report.Devices.Count == 0
                ? "no devices (Cluster:Fencing:Devices)\n"
                : Table.Columns(
                    ["device", "agent", "timeout", "monitor"],
                    [.. report.Devices.Select(d => new[] { d.Name, d.Agent, $"{d.TimeoutSeconds} s", d.Monitor is null ? "not yet" : $"{d.Monitor}: {d.MonitorDetail}" })]));
            return 0;
        }));
        return command;
    }
}
