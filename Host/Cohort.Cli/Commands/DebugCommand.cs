using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;
using Cohort.Host.State;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort debug partition --peer NODE [--one-way out|in]</c> and <c>cohort debug heal [--peer NODE]</c>:
/// fault injection for tests, refused unless the agent runs with <c>Node:FaultInjection: true</c>; and
/// <c>cohort debug power --state DIR on|off|status</c>, the "power switch" of a node on one machine.
/// </summary>
internal static class DebugCommand
{
    /// <summary>How long <c>power off</c> waits for the killed group to empty.</summary>
    private static readonly TimeSpan PowerOffWait = TimeSpan.FromSeconds(10);

    public static Command Create()
    {
        var command = new Command("debug", "Fault injection for tests (partition and heal need an agent run with Node:FaultInjection: true).")
        {
            Verb("partition", "Cut this node's link to a peer, both ways or one way, as a network partition would.", heal: false),
            Verb("heal", "Restore this node's link to a peer, or (without --peer) to every peer.", heal: true),
            Power(),
        };
        return command;
    }

    /// <summary>
    /// <c>cohort debug power --state DIR on|off|status</c>: the node whose state directory is DIR as a machine with a
    /// power switch — its agent's process group, from <c>DIR/agent.pid</c>. The program a simulated BMC runs
    /// (ipmi_sim's <c>chassis_control</c>) to power a node off for real; see docs/fencing.md.
    /// </summary>
    /// <remarks><c>off</c> prints the CLOCK_MONOTONIC time at which the group was seen empty, so a test can order it
    /// against the fencer's log. <c>on</c> does nothing: nothing here can start an agent again (the agent's supervisor,
    /// or a test, does that), so "on" only acknowledges the request, as a BMC whose host boots by itself would.</remarks>
    private static Command Power()
    {
        var state = new Option<string>("--state") { Description = "The node's state directory (it holds agent.pid).", Required = true };
        var action = new Argument<string>("ACTION") { Description = "status: print on or off (exit 1 when it cannot tell); off: kill the agent's process group and wait until it is empty; on: nothing (exit 0)." };
        action.AcceptOnlyFromAmong("on", "off", "status");
        var command = new Command("power", "Power the node whose state directory this is on, off, or print its status: its agent's process group is the machine.") { state, action };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var directory = parse.GetValue(state)!;
            var verb = parse.GetValue(action)!;
            if (verb == "on")
            {
                Console.WriteLine("on: nothing to do (nothing here starts an agent again)");
                return ExitCodes.Ok;
            }

            AgentProcessInfo record;
            try
            {
                record = AgentPower.Read(directory);
            }
            catch (FormatException ex)
            {
                await Console.Error.WriteLineAsync($"cohort: {ex.Message}");
                return ExitCodes.Failure;
            }

            if (verb == "status")
            {
                switch (AgentPower.Status(record))
                {
                    case AgentPowerState.On:
                        Console.WriteLine("on");
                        return ExitCodes.Ok;
                    case AgentPowerState.Off:
                        Console.WriteLine("off");
                        return ExitCodes.Ok;
                    default:
                        await Console.Error.WriteLineAsync($"cohort: cannot tell: pid {record.Pid} no longer has start time {record.StartTime}, and group {record.Pgid} has processes that may not be the agent's");
                        return ExitCodes.Failure;
                }
            }

            var off = await AgentPower.OffAsync(record, PowerOffWait, TimeProvider.System, cancellationToken);
            if (!off.Off)
            {
                await Console.Error.WriteLineAsync($"cohort: {off.Detail}");
                return ExitCodes.Failure;
            }

            var monotonic = off.GoneAt!.Value / (double)TimeProvider.System.TimestampFrequency;
            Console.WriteLine($"off: {off.Detail}; gone at monotonic {monotonic.ToString("F6", CultureInfo.InvariantCulture)}");
            return ExitCodes.Ok;
        }));
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
