using System.CommandLine;
using Cohort.Host;

namespace Cohort.Cli.Commands;

/// <summary>The root of the <c>cohort</c> command.</summary>
internal static class CohortCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Cohort: a cluster framework. Runs a node's agent and talks to it.")
        {
            AgentCommand.Create(),
            StatusCommand.Create(),
            QuorumCommand.Create(),
            PluginsCommand.Create(),
            KeygenCommand.Create(),
            DemoCommand.Create(),
            LeaveCommand.Create(),
            LockCommand.Create(),
            LocksCommand.Create(),
            SimulateCommand.Create(),
            DebugCommand.Create(),
            WitnessCommand.Create(),
            ConfigCommand.Create(),
            FenceCommand.Create(),
            WatchdogCommand.Create(),
        };
        var parse = root.Parse(args);
        // The agent and the demo handle SIGTERM and SIGINT themselves (graceful stop, then exit 0).
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    /// <summary>Runs a verb, turning the errors operators can act on into one line each.</summary>
    public static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (CohortStartupException ex)
        {
            foreach (var problem in ex.Problems)
            {
                await Console.Error.WriteLineAsync($"cohort: {problem}");
            }

            return ex.ExitCode;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file or directory the operator named cannot be used: their problem to fix, in one line.
            await Console.Error.WriteLineAsync($"cohort: {ex.Message}");
            return ExitCodes.OsError;
        }
    }
}
