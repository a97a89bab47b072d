using Cohort.Cli.Commands;

return await CohortCommand.RunAsync(args);
