using System.CommandLine;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort leave [--wait] [--force]</c>: the node leaves the cluster cleanly (LEAVING, its services drain,
/// DRAINED, excluded from the next view as a clean leaver) and its agent exits. Refused while lock clients hold
/// locks, unless <c>--force</c>: their process groups are then killed before the locks are released. SIGTERM leaves
/// as with <c>--force</c>.
/// </summary>
internal static class LeaveCommand
{
    public static Command Create()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var wait = new Option<bool>("--wait") { Description = "Wait until the agent has left and exited." };
        var force = new Option<bool>("--force") { Description = "Leave even while lock clients (cohort lock, the client library) hold locks: their process groups are killed first." };
        var command = new Command("leave", "Leave the cluster cleanly: drain the node's services, be excluded from the next view, exit.") { config, socket, wait, force };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var arguments = JsonSerializer.SerializeToElement(new LeaveArguments(parse.GetValue(force)), HostJsonContext.Default.LeaveArguments);
            await client.CallAsync("leave", arguments, cancellationToken);
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
