using System.Globalization;

namespace Cohort.TestSupport;

/// <summary>
/// Where a program that a test makes hang records its process group (it leads the group, so its pid), in a
/// directory of its own: the test learns when the program runs and whether its group is gone. Disposing kills the
/// recorded group, whatever the test did.
/// </summary>
public sealed class GroupMarker : IDisposable
{
    private readonly TempDirectory _directory = new("cohort-marker-");

    /// <summary>The file the program writes its group id to (write to <c>Path.tmp</c>, then rename).</summary>
    public string Path => _directory.Combine("pgid");

    /// <summary>The directory, for the program itself and anything else the test writes.</summary>
    public TempDirectory Directory => _directory;

    /// <summary>The recorded group id.</summary>
    public int Pgid => int.Parse(File.ReadAllText(Path).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Completes once the program has recorded its group.</summary>
    public Task WaitAsync() => Poll.UntilAsync("the hanging program to record its process group", () => File.Exists(Path));

    /// <summary>True when the recorded group has no process left.</summary>
    public bool GroupIsGone => VictimGroup.IsGroupGone(Pgid);

    /// <summary>Kills the recorded group, if any, and removes the directory.</summary>
    public void Dispose()
    {
        if (File.Exists(Path))
        {
            VictimGroup.KillGroup(Pgid);
        }

        _directory.Dispose();
    }
}
