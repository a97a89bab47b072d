using System.CommandLine;
using Cohort.Host.Agent;

namespace Cohort.Cli.Commands;

/// <summary><c>cohort agent --config FILE [--bootstrap FILE] [--Node:Key=value ...]</c>.</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo>("--config", "-c")
        {
            Description = "The node file (node.json).",
            Required = true,
        };
        var bootstrap = new Option<FileInfo?>("--bootstrap")
        {
            Description = "A cluster file to use instead of the one Node:Bootstrap names.",
        };
        var command = new Command("agent", "Run this node's agent in the foreground until SIGTERM or Ctrl-C. Further --Node:Key=value arguments override the node file.")
        {
            config,
            bootstrap,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var options = new AgentStartOptions(
                parse.GetValue(config)!.FullName,
                [.. parse.UnmatchedTokens],
                parse.GetValue(bootstrap)?.FullName);
            await AgentRunner.RunAsync(options, cancellationToken);
            return 0;
        }));
        return command;
    }
}
