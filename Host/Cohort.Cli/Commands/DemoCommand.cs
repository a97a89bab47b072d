using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort demo</c>: a real three-node cluster on 127.0.0.1 — three agents, each with its own port,
/// state directory and process group, one freshly generated key, fault injection on so that
/// <c>cohort debug partition</c> can be tried — started in a temporary directory.
/// It prints the view they agreed on and runs until Ctrl-C; then it stops them and removes the directory.
/// </summary>
internal static class DemoCommand
{
    private const int Nodes = 3;
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(15);

    public static Command Create()
    {
        var keep = new Option<bool>("--keep") { Description = "Keep the demo's directory (state, configuration, agent logs) after it stops." };
        var command = new Command("demo", "Run a local three-node demo cluster on 127.0.0.1 until Ctrl-C.") { keep };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(() => RunAsync(parse.GetValue(keep), cancellationToken)));
        return command;
    }

    private static async Task<int> RunAsync(bool keep, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("cohort-demo-").FullName;
        var nodes = await WriteConfigurationAsync(directory, cancellationToken);

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        var agents = new List<ChildAgent>();
        try
        {
            foreach (var node in nodes)
            {
                agents.Add(ChildAgent.Start(node.File, node.Log));
            }

            var statuses = await WaitForAgreementAsync(agents, nodes, stop.Token);
            if (statuses is null)
            {
                return ExitCodes.Failure;
            }

            Console.Write(Render(statuses, nodes, agents));
            Console.WriteLine();
            Console.WriteLine($"The demo cluster runs. Try: ./cohort status --socket {nodes[0].Socket}");
            Console.WriteLine($"Kill one (kill -9 {agents[^1].Process.Id}) and watch the others form a new view and fence it, or cut one off");
            Console.WriteLine($"  ./cohort debug partition --peer node1,node2 --socket {nodes[2].Socket}");
            Console.WriteLine($"and watch the others fence it (its process group is killed): ./cohort fence history --socket {nodes[0].Socket}");
            Console.WriteLine($"Change the cluster document on every node: ./cohort config show --socket {nodes[0].Socket} > c.json, edit it, then");
            Console.WriteLine($"  ./cohort config apply c.json --socket {nodes[1].Socket}   (and: ./cohort config history --socket {nodes[2].Socket})");
            Console.WriteLine($"Logs: {directory}/node*.log. Ctrl-C stops the demo.");
            await WatchAsync(agents, nodes, stop.Token);
            Console.WriteLine("stopping the demo agents...");
            return await StopAllAsync(agents) ? ExitCodes.Ok : ExitCodes.Failure;
        }
        finally
        {
            await StopAllAsync(agents);
            foreach (var agent in agents)
            {
                agent.Dispose();
            }

            if (!keep)
            {
                Directory.Delete(directory, recursive: true);
            }
            else
            {
                Console.WriteLine($"kept {directory}");
            }
        }

        void Cancel(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }

    /// <summary>Reports agents that exit (the others carry on, as a cluster does) until Ctrl-C.</summary>
    private static async Task WatchAsync(List<ChildAgent> agents, List<DemoNode> nodes, CancellationToken stop)
    {
        var running = agents.ToList();
        while (!stop.IsCancellationRequested)
        {
            var exits = running.Select(a => a.Process.WaitForExitAsync(stop)).ToList();
            try
            {
                await Task.WhenAny(exits.Append(Task.Delay(Timeout.Infinite, stop))).Unwrap();
            }
            catch (OperationCanceledException)
            {
                return;
            }

            foreach (var dead in running.Where(a => a.Process.HasExited).ToList())
            {
                var node = nodes[agents.IndexOf(dead)];
                running.Remove(dead);
                Console.WriteLine($"{node.Name} exited (code {dead.Process.ExitCode}); the others carry on. Its log: {node.Log}");
            }
        }
    }

    /// <summary>
    /// Stops the agents still running one at a time, the last first: each leaves cleanly and is excluded by
    /// the ones still running, and the last is alone and leaves at once. (Stopped all at once, every node would
    /// drain and none would be left to install the view that excludes the others.)
    /// </summary>
    private static async Task<bool> StopAllAsync(List<ChildAgent> agents)
    {
        var clean = true;
        for (var i = agents.Count - 1; i >= 0; i--)
        {
            // One that is gone already (killed, fenced) has nothing left to stop.
            clean &= agents[i].Process.HasExited || await agents[i].StopAsync(StopDeadline);
        }

        return clean;
    }

    private sealed record DemoNode(int Id, string Name, string File, string Socket, string Log);

    /// <summary>Writes the cluster file, a new key and one node file per node, each on a free port.</summary>
    private static async Task<List<DemoNode>> WriteConfigurationAsync(string directory, CancellationToken cancellationToken)
    {
        var ports = FreePorts(Nodes);
        var addresses = ports.Select(p => "127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture)).ToList();
        var nodeList = string.Join(",\n    ", Enumerable.Range(1, Nodes).Select(i => $$"""{ "Id": {{i}}, "Name": "node{{i}}", "Votes": 1 }"""));
        // Each node is fenced by killing its agent's process group, found through its state directory.
        var hostMap = string.Join(", ", Enumerable.Range(1, Nodes).Select(i => $"\"node{i}\": {JsonSerializer.Serialize(Path.Combine(directory, $"node{i}"))}"));
        await File.WriteAllTextAsync(Path.Combine(directory, "cluster.json"), $$"""
            {
              "Name": "demo",
              "Description": "The cluster `cohort demo` runs: three agents on 127.0.0.1.",
              "Nodes": [
                {{nodeList}}
              ],
              "Quorum": { "Policy": "votequorum" },
              "Fencing": {
                "Devices": { "kill": { "Agent": "process-group", "HostMap": { {{hostMap}} } } },
                "Levels": { "*": [ [ "kill" ] ] }
              }
            }
            """, cancellationToken);
        KeygenCommand.Write(Path.Combine(directory, "cluster.key"));
        var nodes = new List<DemoNode>();
        for (var i = 1; i <= Nodes; i++)
        {
            var name = $"node{i}";
            var socket = Path.Combine(directory, name, "admin.sock");
            var seeds = JsonSerializer.Serialize(addresses.Where((_, index) => index != i - 1).ToArray());
            var file = Path.Combine(directory, name + ".json");
            await File.WriteAllTextAsync(file, $$"""
                {
                  "Node": {
                    "Id": {{i}},
                    "Bootstrap": "cluster.json",
                    "Listen": "{{addresses[i - 1]}}",
                    "Seeds": {{seeds}},
                    "KeyFile": "cluster.key",
                    "StateDirectory": "{{name}}",
                    "AdminSocket": {{JsonSerializer.Serialize(socket)}},
                    "FaultInjection": true
                  }
                }
                """, cancellationToken);
            nodes.Add(new DemoNode(i, name, file, socket, Path.Combine(directory, name + ".log")));
        }

        return nodes;
    }

    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(l => l.Start());
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            listeners.ForEach(l => l.Stop());
        }
    }

    /// <summary>Polls every agent until all report one view holding all of them, quorate.</summary>
    private static async Task<StatusReport[]?> WaitForAgreementAsync(List<ChildAgent> agents, List<DemoNode> nodes, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        var clients = nodes.Select(n => AdminClient.Locate(null, n.Socket)).ToList();
        while (deadline.Elapsed < StartDeadline && !cancellationToken.IsCancellationRequested)
        {
            if (agents.FirstOrDefault(a => a.Process.HasExited) is { } dead)
            {
                var node = nodes[agents.IndexOf(dead)];
                await Console.Error.WriteLineAsync($"cohort: demo agent {node.Name} exited with code {dead.Process.ExitCode} before the cluster formed:");
                await Console.Error.WriteAsync(await File.ReadAllTextAsync(node.Log, CancellationToken.None));
                return null;
            }

            var statuses = new StatusReport?[agents.Count];
            for (var i = 0; i < clients.Count; i++)
            {
                if (!File.Exists(nodes[i].Socket))
                {
                    continue;
                }

                try
                {
                    statuses[i] = (await clients[i].CallAsync("status", cancellationToken)).Deserialize(HostJsonContext.Default.StatusReport);
                }
                catch (CohortStartupException)
                {
                    // Not answering yet: poll again.
                }
            }

            if (statuses.All(s => s is { Quorate: true, View.Members.Count: Nodes }) && statuses.Select(s => (s!.View!.Epoch, s.View.Coordinator)).Distinct().Count() == 1)
            {
                return statuses!;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }

        await Console.Error.WriteLineAsync($"cohort: the demo agents did not agree on a quorate view of {Nodes} within {StartDeadline.TotalSeconds:0} s; their logs: {string.Join(", ", nodes.Select(n => n.Log))}");
        return null;
    }

    private static string Render(StatusReport[] statuses, List<DemoNode> nodes, List<ChildAgent> agents)
    {
        var view = statuses[0].View!;
        var text = new System.Text.StringBuilder();
        text.Append($"view     epoch {view.Epoch}, coordinator {view.Coordinator}, members {string.Join(", ", view.Members.Select(m => $"{m.Name} ({m.NodeId}#{m.Incarnation})"))}\n");
        text.Append($"quorum   {(statuses.All(s => s.Quorate) ? "quorate" : "NOT quorate")} on every node: {statuses[0].Quorum.Reason} [policy {statuses[0].Quorum.Policy}]\n\n");
        var rows = statuses.Select((s, i) => new[]
        {
            s.Node,
            agents[i].Process.Id.ToString(CultureInfo.InvariantCulture),
            s.Transport?.Listen ?? "",
            s.Quorate ? "quorate" : "not quorate",
            nodes[i].Socket,
        }).ToList();
        text.Append(Table.Columns(["node", "pid", "listen", "quorum", "admin socket"], rows));
        return text.ToString();
    }
}
