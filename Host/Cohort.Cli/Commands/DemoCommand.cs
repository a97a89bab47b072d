using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Cohort.Host;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort demo</c>: a real agent, started from a built-in configuration in a temporary directory,
/// its status printed, running until Ctrl-C; then it is stopped and the directory removed.
/// </summary>
internal static class DemoCommand
{
    private static readonly TimeSpan StartDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StopDeadline = TimeSpan.FromSeconds(15);

    private const string ClusterFile = """
        {
          "Name": "demo",
          "Description": "The cluster `cohort demo` runs.",
          "Nodes": [ { "Id": 1, "Name": "demo1", "Votes": 1 } ],
          "Quorum": { "Policy": "votequorum" }
        }
        """;

    public static Command Create()
    {
        var keep = new Option<bool>("--keep") { Description = "Keep the demo's directory (state, configuration, agent log) after it stops." };
        var command = new Command("demo", "Run a local demo cluster on loopback until Ctrl-C.") { keep };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(() => RunAsync(parse.GetValue(keep), cancellationToken)));
        return command;
    }

    private static async Task<int> RunAsync(bool keep, CancellationToken cancellationToken)
    {
        var directory = Directory.CreateTempSubdirectory("cohort-demo-").FullName;
        var nodeFile = Path.Combine(directory, "node.json");
        var socket = Path.Combine(directory, "admin.sock");
        await File.WriteAllTextAsync(Path.Combine(directory, "cluster.json"), ClusterFile, cancellationToken);
        await File.WriteAllTextAsync(nodeFile, $$"""
            {
              "Node": {
                "Id": 1,
                "Name": "demo1",
                "Bootstrap": "cluster.json",
                "StateDirectory": "state",
                "AdminSocket": {{JsonSerializer.Serialize(socket)}}
              }
            }
            """, cancellationToken);

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        var log = Path.Combine(directory, "agent.log");
        using var agent = ChildAgent.Start(nodeFile, log);
        try
        {
            var status = await WaitForStatusAsync(agent, socket, stop.Token);
            if (status is null)
            {
                return ExitCodes.Failure;
            }

            Console.Write(StatusCommand.Render(status));
            Console.WriteLine();
            Console.WriteLine($"The demo cluster runs. Try: ./cohort status --socket {socket}");
            Console.WriteLine($"Agent log: {log}. Ctrl-C stops it.");
            await Task.WhenAny(agent.Process.WaitForExitAsync(stop.Token), Task.Delay(Timeout.Infinite, stop.Token));
            if (agent.Process.HasExited)
            {
                await Console.Error.WriteLineAsync($"cohort: the demo agent exited with code {agent.Process.ExitCode}; its log: {log}");
                return ExitCodes.Failure;
            }

            Console.WriteLine("stopping the demo agent...");
            return await agent.StopAsync(StopDeadline) ? ExitCodes.Ok : ExitCodes.Failure;
        }
        finally
        {
            await agent.StopAsync(StopDeadline);
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

    private static async Task<Host.Admin.StatusReport?> WaitForStatusAsync(ChildAgent agent, string socket, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        var client = AdminClient.Locate(null, socket);
        while (deadline.Elapsed < StartDeadline && !cancellationToken.IsCancellationRequested)
        {
            if (agent.Process.HasExited)
            {
                await Console.Error.WriteLineAsync($"cohort: the demo agent exited with code {agent.Process.ExitCode} before answering:");
                await Console.Error.WriteAsync(await File.ReadAllTextAsync(agent.LogPath, CancellationToken.None));
                return null;
            }

            if (File.Exists(socket))
            {
                try
                {
                    var result = await client.CallAsync("status", cancellationToken);
                    var status = result.Deserialize(HostJsonContext.Default.StatusReport)!;
                    if (status.View is not null)
                    {
                        return status;
                    }
                }
                catch (CohortStartupException)
                {
                    // Not answering yet: poll again.
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }

        await Console.Error.WriteLineAsync($"cohort: the demo agent did not answer on {socket} within {StartDeadline.TotalSeconds:0} s; its log: {agent.LogPath}");
        return null;
    }
}
