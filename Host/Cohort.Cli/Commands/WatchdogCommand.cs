using System.CommandLine;
using Cohort.Host;
using Cohort.Host.Agent;
using Cohort.Host.State;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort watchdog --timeout S --pid P --pgid G --start-time T [--incarnation N] [--state DIR]</c>: the node
/// watchdog an agent starts for itself when its fencing levels name a self-fencing device (<c>poison-pill</c>).
/// Hidden: an agent runs it, with a pipe on its standard input (see <see cref="Watchdog"/> for the protocol).
/// </summary>
internal static class WatchdogCommand
{
    public static Command Create()
    {
        var timeout = new Option<double>("--timeout") { Description = "Seconds without a pet before it kills the group.", Required = true };
        var pid = new Option<int>("--pid") { Description = "The agent's pid.", Required = true };
        var pgid = new Option<int>("--pgid") { Description = "The agent's process group, killed with SIGKILL.", Required = true };
        var startTime = new Option<long>("--start-time") { Description = "The agent's start time (/proc/PID/stat field 22): a pid with another one is not the agent.", Required = true };
        var incarnation = new Option<long>("--incarnation") { Description = "The agent's incarnation (for the log)." };
        var state = new Option<string?>("--state") { Description = "The agent's state directory: its fence-groups are killed too." };
        var command = new Command("watchdog", "The node watchdog an agent runs for itself (poison-pill): kills the agent's process group unless petted on stdin.")
        {
            timeout, pid, pgid, startTime, incarnation, state,
        };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            var seconds = parse.GetValue(timeout);
            var agent = new AgentProcessInfo(parse.GetValue(incarnation), parse.GetValue(pid), parse.GetValue(pgid), parse.GetValue(startTime));
            if (seconds is not (> 0 and <= 3600) || agent.Pid <= 1 || agent.Pgid <= 1)
            {
                Console.Error.WriteLine("cohort: watchdog: --timeout must be seconds from 0 to 3600, --pid and --pgid above 1");
                return ExitCodes.Usage;
            }

            using var input = Console.OpenStandardInput();
            return Watchdog.Run(new WatchdogArguments(TimeSpan.FromSeconds(seconds), agent, parse.GetValue(state)), input, Console.Out, Console.Error);
        });
        return command;
    }
}
