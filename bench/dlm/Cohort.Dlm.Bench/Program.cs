using System.Runtime;
using Cohort.Dlm.Bench;

Options options;
try
{
    options = Options.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

Console.WriteLine($"DLM in-process benchmark{(options.Quick ? " (--quick: smaller counts, a smoke run)" : string.Empty)}: "
    + $"{Environment.ProcessorCount} cores, .NET {Environment.Version}, GC {(GCSettings.IsServerGC ? "server" : "workstation")}, "
    + $"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
if (options.Runs("local"))
{
    LocalThroughput.Run(options.Quick);
}

if (options.Runs("recovery"))
{
    RecoveryTime.Run(options.Quick);
}

if (options.Runs("memory"))
{
    MemoryPerLock.Run(options.Quick);
}

return 0;
