using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;

namespace Cohort.Cli.Commands;

/// <summary><c>cohort quorum [--json]</c>: votes, expected, needed, flags, the lease, and why, like corosync-quorumtool.</summary>
internal static class QuorumCommand
{
    public static Command Create()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var json = new Option<bool>("--json") { Description = "Print it as JSON." };
        var command = new Command("quorum", "Show the quorum decision: votes, expected, needed, flags, the lease, and why this node is or is not quorate.") { config, socket, json };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var result = await client.CallAsync("quorum", cancellationToken);
            Console.Write(parse.GetValue(json) ? result.GetRawText() + "\n" : Render(result.Deserialize(HostJsonContext.Default.QuorumStatus)!));
            return 0;
        }));
        return command;
    }

    public static string Render(QuorumStatus status)
    {
        var quorum = status.Quorum;
        var rows = new List<(string, string)>
        {
            ("policy", quorum.Policy ?? "none (no cluster file)"),
            ("quorate", status.Quorate
                ? $"yes (lease: {status.LeaseRemainingMilliseconds?.ToString("0", CultureInfo.InvariantCulture) ?? "?"} ms left, renewed every heartbeat)"
                : "NO"),
            ("votes", $"{quorum.Votes} of {quorum.Expected} expected" + (quorum.Needed is { } needed ? $"; {needed} needed" : "")),
            ("flags", quorum.Flags is { Count: > 0 } flags ? string.Join(" ", flags) : "none"),
            ("dual quorum", quorum.DualQuorum ? "YES: both sides of a split may be quorate; fencing alone separates them" : "no"),
            ("why", quorum.Reason),
            ("on loss", quorum.NoQuorumPolicy ?? "stop"),
            ("device", status.Device is { } device
                ? $"{device.Name} ({device.Votes} vote{(device.Votes == 1 ? "" : "s")}): " +
                  (device.Granted ? $"its vote is this view's ({device.GrantRemainingMilliseconds?.ToString("0", CultureInfo.InvariantCulture) ?? "?"} ms left); " : "its vote is not this view's; ") + device.Detail
                : "none"),
        };
        if (status.View is { } view)
        {
            rows.Add(("view", $"epoch {view.Epoch}, coordinator {view.Coordinator}"));
        }

        rows.AddRange(status.Nodes.Select(n => ("node", $"{n.Name} ({n.NodeId}): {n.Votes} vote{(n.Votes == 1 ? "" : "s")}, {(n.Member ? "member" : "absent")}")));
        return Table.Rows(rows);
    }
}
