using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;

namespace Cohort.Fencing.External.Tests;

/// <summary>The real <c>fence_dummy</c> (fence-agents), and programs of the protocol the tests write.</summary>
internal static class Programs
{
    public const string FenceDummy = "/usr/sbin/fence_dummy";

    /// <summary>Metadata of a program that knows <paramref name="parameters"/> (name, required).</summary>
    public static string Metadata(string name, params (string Name, bool Required)[] parameters) =>
        $"""
        <?xml version="1.0" ?>
        <resource-agent name="{name}" shortdesc="a test agent">
        <parameters>
        {string.Concat(parameters.Select(p => $"<parameter name=\"{p.Name}\" unique=\"0\" required=\"{(p.Required ? 1 : 0)}\"><getopt mixed=\"--{p.Name.Replace('_', '-')}=[value]\" /><content type=\"string\" /><shortdesc lang=\"en\">the {p.Name}</shortdesc></parameter>\n"))}
        </parameters>
        <actions><action name="off" /><action name="status" /><action name="monitor" /></actions>
        </resource-agent>
        """;

    /// <summary>A shell program that prints <paramref name="metadata"/> for <c>-o metadata</c> and otherwise runs
    /// <paramref name="body"/>.</summary>
    public static string Write(TempDirectory directory, string name, string metadata, string body) =>
        directory.WriteExecutable(name, $"""
            #!/bin/sh
            if [ "$1" = "-o" ] && [ "$2" = "metadata" ]; then
            cat <<'XML'
            {metadata}
            XML
            exit 0
            fi
            {body}
            """);
}

/// <summary>fence_dummy's simulated outlet: a status file holding <c>on</c> or <c>off</c>, unique to the test.</summary>
internal sealed class DummyOutlet : FenceTarget
{
    private readonly TempDirectory _directory = new("cohort-dummy-");

    public DummyOutlet()
        : base(new ClusterNode(new NodeId(2), "node2", 1), 3, "node2")
    {
        StatusFile = _directory.Write("status", "on");
    }

    public string StatusFile { get; }

    public override Task<bool> IsDeadAsync() => Task.FromResult(File.ReadAllText(StatusFile).Trim() == "off");

    public override ValueTask DisposeAsync()
    {
        _directory.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A device whose program reads its options, records its process group in the file its <c>marker</c>
/// option names, and hangs in a child process.</summary>
internal sealed class HangingDevice : FenceTarget
{
    private readonly GroupMarker _marker = new();

    public HangingDevice()
        : base(new ClusterNode(new NodeId(2), "node2", 1), 3, "node2")
    {
        Program = Programs.Write(_marker.Directory, "fence_slow", Programs.Metadata("fence_slow", ("marker", true)), """
            while IFS='=' read -r key value; do [ "$key" = marker ] && marker=$value; done
            sleep 300 &
            echo $$ > "$marker.tmp" && mv "$marker.tmp" "$marker"
            wait
            """);
    }

    public string Program { get; }

    public string Marker => _marker.Path;

    public override Task OperationStarted => _marker.WaitAsync();

    public override Task<bool> IsDeadAsync() => Task.FromResult(false);

    public override Task<bool> OperationLeftNothingAsync() => Task.FromResult(_marker.GroupIsGone);

    public override ValueTask DisposeAsync()
    {
        _marker.Dispose();
        return ValueTask.CompletedTask;
    }
}
