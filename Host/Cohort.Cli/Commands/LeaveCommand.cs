using System.CommandLine;
using Cohort.Host;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort leave [--wait]</c>: the node leaves the cluster cleanly (LEAVING, its services drain,
/// DRAINED, excluded from the next view as a clean leaver) and its agent exits. SIGTERM does the same.
/// </summary>
internal static class LeaveCommand
{
    public static Command Create()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var wait = new Option<bool>("--wait") { Description = "Wait until the agent has left and exited." };
        var command = new Command("leave", "Leave the cluster cleanly: drain the node's services, be excluded from the next view, exit.") { config, socket, wait };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            await client.CallAsync("leave", cancellationToken);
            Console.WriteLine("leaving: the node drains, the cluster excludes it, then its agent exits");
            if (!parse.GetValue(wait))
            {
                return 0;
            }

            // The agent answers until it exits; Node:DrainTimeout bounds how long that takes.
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await client.CallAsync("status", cancellationToken);
                }
                catch (CohortStartupException)
                {
                    Console.WriteLine("left");
                    return 0;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            }

            return ExitCodes.Failure;
        }));
        return command;
    }
}
