using System.CommandLine;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Cohort.Host;
using Cohort.Host.Configuration;
using Cohort.Quorum.WitnessNode;
using Microsoft.Extensions.Logging;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort witness --listen HOST:PORT --key-file FILE [--max-lease MS]</c>: the tie-breaker process
/// of the <c>witness-node</c> quorum device, like corosync-qnetd. Runs on a machine outside the
/// cluster (a third site) until SIGTERM or SIGINT.
/// </summary>
/// <remarks>The server is the witness-node plugin's own code: the command links that plugin's
/// assembly, as corosync ships corosync-qnetd beside the qdevice it serves. Agents load the plugin at
/// run time like any other.</remarks>
internal static class WitnessCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen")
        {
            Description = "Where to listen, host:port.",
            DefaultValueFactory = _ => "127.0.0.1:7409",
        };
        var keyFile = new Option<FileInfo>("--key-file") { Description = "The cluster key (cohort keygen); every node proves it holds it.", Required = true };
        var insecure = new Option<bool>("--allow-insecure-key-file") { Description = "Accept a key file that group or others may read." };
        var maxLease = new Option<int>("--max-lease")
        {
            Description = "The longest lease (ms) granted; after a start nothing is granted for this long.",
            DefaultValueFactory = _ => 5000,
        };
        var command = new Command("witness", "Run the witness of the witness-node quorum device: it gives its vote to one partition at a time.")
        {
            listen, keyFile, insecure, maxLease,
        };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var lease = parse.GetValue(maxLease);
            if (lease is < 1 or > 60_000)
            {
                throw new CohortStartupException($"--max-lease: expected milliseconds from 1 to 60000, got {lease}", ExitCodes.Usage);
            }

            var key = ClusterKeyFile.Read(parse.GetValue(keyFile)!.FullName, parse.GetValue(insecure), "--key-file");
            return await RunAsync(new WitnessServerOptions(parse.GetValue(listen)!, key, TimeSpan.FromMilliseconds(lease)), cancellationToken);
        }));
        return command;
    }

    private static async Task<int> RunAsync(WitnessServerOptions options, CancellationToken cancellationToken)
    {
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        }));
        var logger = loggers.CreateLogger("Cohort.Witness");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);
        WitnessServer server;
        try
        {
            server = WitnessServer.Start(options, TimeProvider.System, logger);
        }
        catch (Exception ex) when (ex is ArgumentException or SocketException)
        {
            throw new CohortStartupException($"--listen {options.Listen}: {ex.Message}", ExitCodes.Usage);
        }

        await using (server)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return ExitCodes.Ok;

        void Cancel(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }
}
