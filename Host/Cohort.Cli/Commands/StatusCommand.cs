using System.CommandLine;
using System.Text.Json;
using Cohort.Host;
using Cohort.Host.Admin;

namespace Cohort.Cli.Commands;

/// <summary><c>cohort status [--json]</c>: what the agent is and believes.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var (config, socket) = AdminClient.CreateOptions();
        var json = new Option<bool>("--json") { Description = "Print the status as JSON." };
        var command = new Command("status", "Show the node, its view, quorum and plugins.") { config, socket, json };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(async () =>
        {
            var client = AdminClient.Locate(parse.GetValue(config), parse.GetValue(socket));
            var result = await client.CallAsync("status", cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(result.GetRawText());
            }
            else
            {
                Console.Write(Render(result.Deserialize(HostJsonContext.Default.StatusReport)!));
            }

            return 0;
        }));
        return command;
    }

    /// <summary>The human form of a status report.</summary>
    public static string Render(StatusReport status)
    {
        var rows = new List<(string, string)>
        {
            ("node", $"{status.Node} (id {status.NodeId}), incarnation {status.Incarnation}, pid {status.Pid}"),
            ("cluster", status.Cluster ?? (status.Transport is null
                ? "none (no cluster file: Node:Bootstrap is not set)"
                : "none yet: joining a running cluster through Node:Seeds")),
        };
        if (status.View is { } view)
        {
            rows.Add(("view", $"epoch {view.Epoch}, coordinator {view.Coordinator}"));
            rows.Add(("members", string.Join(", ", view.Members.Select(m => $"{m.Name} ({m.NodeId}#{m.Incarnation})"))));
        }

        if (status.Phase != "member")
        {
            rows.Add(("phase", status.Phase));
        }

        if (status.Config is { } config)
        {
            rows.Add(("config", $"version {config.Version}" + (config.InDoubt is { } doubt ? $", version {doubt} in doubt" : "") + (status.View is { } judged && judged.ConfigVersion != config.Version ? $" (the view was judged under version {judged.ConfigVersion}; one under version {config.Version} follows)" : "")));
            rows.AddRange(config.Diverged.Select(d => ("DIVERGED", d)));
        }

        if (status.Fencing is { } fencing)
        {
            rows.AddRange(fencing.Pending.Select(p => ("FENCING", $"{p.Victim} ({p.VictimId}#{p.VictimIncarnation}): {p.State}"
                + (p.Fencer is { } fencer ? $", fencer {fencer}" : ", no fencer") + (p.Attempt > 0 ? $", pass {p.Attempt}" : "") + (p.Device is { } device ? $", level {p.Level} device {device}" : ""))));
            rows.AddRange(fencing.Last.Select(l => ("fenced", $"{l.Victim} ({l.VictimId}#{l.VictimIncarnation}): last {l.Result} through {l.Device} by {l.Requester}" + (l.Fenced ? " (fenced)" : ""))));
        }

        var verdict = status.Quorate ? "quorate" : "NOT quorate";
        rows.Add(("quorum", $"{verdict}: {status.Quorum.Reason}" + (status.Quorum.Policy is null ? "" : $" [policy {status.Quorum.Policy}]")));
        rows.Add(("state", status.StateDirectory));
        if (status.Transport is { } transport)
        {
            rows.Add(("listen", $"{transport.Listen} [transport {transport.Plugin}]" + (transport.RefusedConnections > 0 ? $"; {transport.RefusedConnections} connections refused, last: {transport.LastRefusal}" : "")));
            rows.AddRange(transport.Peers.Select(p => ("peer", DescribePeer(p))));
        }

        if (status.Dlm is { } dlm)
        {
            rows.AddRange(dlm.Lockspaces.Select(ls => ("lockspace", $"{ls.Name} (id {ls.Id}): {ls.Phase}, recovery {ls.Sequence}, members {string.Join(", ", ls.Members.Select(m => $"{m.Name} ({m.NodeId}#{m.Incarnation})"))}; "
                + $"{ls.Resources} resources ({ls.Mastered} mastered here), {ls.Locks} locks" + (ls.RejectedFrames > 0 ? $", {ls.RejectedFrames} malformed frames dropped" : ""))));
        }

        foreach (var plugin in status.Plugins)
        {
            rows.Add(("plugin", $"{plugin.Slot}/{plugin.Name} {plugin.Version}{(plugin.Selected ? " (selected)" : "")}"));
        }

        return Table.Rows(rows);
    }

    /// <summary>One line per peer: its session, its connection and its counters.</summary>
    public static string DescribePeer(PeerReport peer)
    {
        var text = new System.Text.StringBuilder($"{peer.Name} ({peer.NodeId}#{peer.Incarnation}) ");
        text.Append(peer.Session ? "session open" : "no session");
        text.Append(peer.Connected ? ", connected" : ", not connected");
        text.Append($", {peer.FramesSent} sent, {peer.FramesReceived} received");
        if (peer.MalformedFrames > 0)
        {
            text.Append($", {peer.MalformedFrames} malformed");
        }

        if (peer.SessionResets > 0)
        {
            text.Append($", {peer.SessionResets} resets");
        }

        if (peer.Cut != "none")
        {
            text.Append($", CUT {peer.Cut}");
        }

        return text.ToString();
    }
}
