using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort locks [LOCKSPACE] [--limit N] [--json]</c>: the resources of the node's lockspaces as it knows them —
/// master, directory node, the granted, converting and waiting queues (node#incarnation, mode, lock id, flags),
/// the value block's sequence and the last token. Complete queues for resources mastered on the node asked;
/// elsewhere, that node's own locks (ask the master for the rest).
/// </summary>
internal static class LocksCommand
{
    public static Command Create()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var lockspace = new Argument<string?>("lockspace") { Description = "One lockspace; every joined one without it.", Arity = ArgumentArity.ZeroOrOne };
        var limit = new Option<int?>("--limit") { Description = "The most resources per lockspace (default 1000)." };
        var json = new Option<bool>("--json") { Description = "Print {lockspaces: [{name, totalResources, resources: [{name, nameHex, master, directoryNode, masteredHere, granted, converting, waiting, valueSequence, valueNotValid, lastToken}]}]}." };
        var command = new Command("locks", "Dump the lock manager's resources and queues as this node knows them.") { lockspace, limit, json, config, socket };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var arguments = JsonSerializer.SerializeToElement(new LocksArguments(parse.GetValue(lockspace), parse.GetValue(limit)), HostJsonContext.Default.LocksArguments);
            var result = await client.CallAsync("locks", arguments, cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(result.GetRawText());
                return 0;
            }

            Console.Write(Text(result.Deserialize(HostJsonContext.Default.LocksReport)!));
            return 0;
        }));
        return command;
    }

    private static string Text(LocksReport report)
    {
        if (report.Lockspaces.Count == 0)
        {
            return "no lockspace is joined on this node\n";
        }

        var text = new StringBuilder();
        foreach (var ls in report.Lockspaces)
        {
            var shown = ls.Resources.Count < ls.TotalResources ? $", {ls.Resources.Count} shown" : "";
            text.Append(CultureInfo.InvariantCulture, $"lockspace {ls.Name}: {ls.TotalResources} resource(s) known here{shown}\n");
            if (ls.Resources.Count > 0)
            {
                text.Append(Table.Columns(
                    ["resource", "master", "dir", "value seq", "last token", "granted", "converting", "waiting"],
                    [.. ls.Resources.Select(r => new[]
                    {
                        r.Name ?? "0x" + r.NameHex,
                        r.Master == 0 ? "?" : r.Master.ToString(CultureInfo.InvariantCulture) + (r.MasteredHere ? " (here)" : ""),
                        r.DirectoryNode.ToString(CultureInfo.InvariantCulture),
                        r.ValueSequence.ToString(CultureInfo.InvariantCulture) + (r.ValueNotValid ? " (not valid)" : ""),
                        r.LastToken ?? "-",
                        Queue(r.Granted),
                        Queue(r.Converting),
                        Queue(r.Waiting),
                    })]));
            }
        }

        return text.ToString();
    }

    /// <summary>A queue on one line: <c>2#1 EX (lock 5), 3#1 NL→PR (lock 9, NoQueue)</c>.</summary>
    private static string Queue(IReadOnlyList<LockEntryReport> locks) =>
        locks.Count == 0 ? "-" : string.Join(", ", locks.Select(l =>
            $"{l.Node}#{l.Incarnation} {(l.Mode, l.Requested) switch { (null, { } q) => q, ({ } m, null) => m, ({ } m, { } q) => $"{m}->{q}", _ => "?" }}" +
            $" (lock {l.LockId}{(l.Flags == "None" ? "" : ", " + l.Flags)})"));
}
