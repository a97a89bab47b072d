using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;

namespace Cohort.Fencing.Script.Tests;

/// <summary>The scripts the tests run, written once per fixture into a directory of their own.</summary>
internal sealed class Scripts : IDisposable
{
    private readonly TempDirectory _directory = new("cohort-script-");

    public Scripts()
    {
        // Kills the process group named by the plug; status by whether it has processes. The first argument
        // must be "pgid", to show arguments arrive.
        Kill = _directory.WriteExecutable("kill-group", """
            #!/bin/sh
            [ "$1" = pgid ] || { echo "expected the argument pgid, got '$1'" >&2; exit 1; }
            case "$COHORT_FENCE_ACTION" in
              monitor) exit 0 ;;
              status) if kill -0 "-$COHORT_FENCE_PLUG" 2>/dev/null; then exit 0; else exit 2; fi ;;
              off|reboot)
                kill -9 "-$COHORT_FENCE_PLUG" 2>/dev/null
                while kill -0 "-$COHORT_FENCE_PLUG" 2>/dev/null; do sleep 0.01; done
                exit 0 ;;
              *) echo "cannot $COHORT_FENCE_ACTION" >&2; exit 1 ;;
            esac
            """);
        // Records its group (its pid: it leads the group) in the file named by its first argument, then hangs in a child.
        Hang = _directory.WriteExecutable("hang", """
            #!/bin/sh
            sleep 300 &
            echo $$ > "$1.tmp" && mv "$1.tmp" "$1"
            wait
            """);
    }

    public string Kill { get; }

    public string Hang { get; }

    public string Write(string name, string body) => _directory.WriteExecutable(name, body);

    public void Dispose() => _directory.Dispose();
}

/// <summary>A live process group; the plug is its group id.</summary>
internal sealed class GroupTarget(VictimGroup group) : FenceTarget(new ClusterNode(new NodeId(2), "node2", 1), 7, group.Pgid.ToString(System.Globalization.CultureInfo.InvariantCulture))
{
    public static async Task<FenceTarget> StartAsync() => new GroupTarget(await VictimGroup.StartAsync());

    public override Task<bool> IsDeadAsync() => Task.FromResult(group.IsGone);

    public override ValueTask DisposeAsync()
    {
        group.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A target whose script hangs: it records its process group in a marker file once it runs.</summary>
internal sealed class HangingTarget() : FenceTarget(new ClusterNode(new NodeId(2), "node2", 1), 7, "node2")
{
    private readonly GroupMarker _marker = new();

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
