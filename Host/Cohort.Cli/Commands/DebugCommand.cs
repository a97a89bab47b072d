using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;
using Cohort.Host.State;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort debug partition --peer NODE [--one-way out|in]</c> and <c>cohort debug heal [--peer NODE]</c>:
/// fault injection for tests, refused unless the agent runs with <c>Node:FaultInjection: true</c>; and
/// <c>cohort debug power --state DIR on|off|status</c>, the "power switch" of a node on one machine; and, hidden,
/// <c>cohort debug dlm-bench</c> and <c>cohort debug echo</c>, the lock manager's benchmark and its round-trip floor.
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
            DlmBench(),
            Echo(),
        };
        return command;
    }

    /// <summary>
    /// <c>cohort debug dlm-bench --lockspace NAME --resource NAME --count N [--mode EX] [--echo HOST:PORT] [--redis HOST:PORT]</c>
    /// (hidden): the agent joins the lockspace and runs N lock+unlock cycles of the resource one after another, then the
    /// same number of raw round trips to an echo responder and of Redis <c>SET NX PX</c> + <c>DEL</c>, when given; prints
    /// p50/p99/mean microseconds of each, and the fencing tokens seen, as JSON. See docs/dlm-host.md.
    /// </summary>
    private static Command DlmBench()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var lockspace = new Option<string>("--lockspace") { Description = "The lockspace to join.", Required = true };
        var resource = new Option<string>("--resource") { Description = "The resource to lock and unlock.", Required = true };
        var count = new Option<int>("--count") { Description = "How many lock+unlock cycles to measure.", Required = true };
        var mode = new Option<string>("--mode") { Description = "The mode: NL, CR, CW, PR, PW or EX.", DefaultValueFactory = _ => "EX" };
        var echo = new Option<string?>("--echo") { Description = "An echo responder (cohort debug echo) at HOST:PORT: measure raw round trips to it too." };
        var redis = new Option<string?>("--redis") { Description = "A redis-server at HOST:PORT: measure SET key val NX PX 30000 + DEL key too." };
        var warmup = new Option<int?>("--warmup") { Description = "Cycles run first and not measured (default: min(100, count / 10))." };
        var timeout = new Option<double>("--timeout") { Description = "Seconds the whole bench may take.", DefaultValueFactory = _ => 60 };
        var command = new Command("dlm-bench", "Measure lock+unlock of one resource through the agent's lock manager, and the floors beside it.")
        {
            config, socket, lockspace, resource, count, mode, echo, redis, warmup, timeout,
        };
        command.Hidden = true;
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var seconds = parse.GetValue(timeout);
            var arguments = JsonSerializer.SerializeToElement(
                new DlmBenchArguments(parse.GetValue(lockspace)!, parse.GetValue(resource)!, parse.GetValue(count), parse.GetValue(mode), parse.GetValue(echo), parse.GetValue(redis), parse.GetValue(warmup), seconds),
                HostJsonContext.Default.DlmBenchArguments);
            var result = await client.CallAsync("debug-dlm-bench", arguments, cancellationToken, TimeSpan.FromSeconds(seconds + 10));
            Console.WriteLine(result.GetRawText());
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>
    /// <c>cohort debug echo --listen HOST:PORT [--timeout SECONDS]</c> (hidden): the raw round-trip floor of
    /// <c>dlm-bench</c>. Sends back whatever each connection sends, at once (TCP_NODELAY). Prints
    /// <c>listening on HOST:PORT</c> once bound (port 0 picks one); exits on SIGINT/SIGTERM or after the timeout.
    /// </summary>
    private static Command Echo()
    {
        var listen = new Option<string>("--listen") { Description = "A loopback HOST:PORT to listen on (port 0: any free port).", Required = true };
        var timeout = new Option<double>("--timeout") { Description = "Seconds after which it exits by itself.", DefaultValueFactory = _ => 600 };
        var command = new Command("echo", "Echo every byte back on each connection: the raw round-trip floor of dlm-bench.") { listen, timeout };
        command.Hidden = true;
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var address = parse.GetValue(listen)!;
            if (!Host.Configuration.HostPort.IsValid(address, allowAnyPort: true) || !IPEndPoint.TryParse(address, out var endpoint) || !IPAddress.IsLoopback(endpoint.Address))
            {
                await Console.Error.WriteLineAsync($"cohort: --listen {address}: expected a loopback address and port, such as 127.0.0.1:7500");
                return ExitCodes.Usage;
            }

            var seconds = parse.GetValue(timeout);
            if (seconds is <= 0 or > 86_400)
            {
                await Console.Error.WriteLineAsync($"cohort: --timeout {seconds}: expected seconds above 0, at most 86400");
                return ExitCodes.Usage;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            stop.CancelAfter(TimeSpan.FromSeconds(seconds));
            using var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(endpoint);
            listener.Listen(16);
            Console.WriteLine($"listening on {listener.LocalEndPoint}");
            Console.Out.Flush();
            var connections = new List<Task>();
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var connection = await listener.AcceptAsync(stop.Token);
                    connections.RemoveAll(t => t.IsCompleted);
                    connections.Add(EchoAsync(connection, stop.Token));
                }
            }
            catch (OperationCanceledException)
            {
            }

            await Task.WhenAll(connections);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static async Task EchoAsync(Socket connection, CancellationToken stop)
    {
        using (connection)
        {
            connection.NoDelay = true;
            var buffer = new byte[65536];
            try
            {
                while (true)
                {
                    var n = await connection.ReceiveAsync(buffer, SocketFlags.None, stop);
                    if (n == 0)
                    {
                        return;
                    }

                    await connection.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, stop);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
                // stopping, or the client went away
            }
        }
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
