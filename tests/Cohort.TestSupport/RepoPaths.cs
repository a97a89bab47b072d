namespace Cohort.TestSupport;

/// <summary>Where the repository and its build outputs are, found from the test assembly's location.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cohort.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Cohort.slnx above {AppContext.BaseDirectory}");
    });

    /// <summary>The repository root.</summary>
    public static string Root => RootPath.Value;

    /// <summary>The install layout a Release build makes: the cohort program and plugins/.</summary>
    public static string Install => Path.Combine(Root, "artifacts", "cohort");

    /// <summary>The cohort program (apphost).</summary>
    public static string Cohort => Path.Combine(Install, "cohort");

    /// <summary>The default plugin directory.</summary>
    public static string Plugins => Path.Combine(Install, "plugins");

    /// <summary>The build output folder of a project, which is a complete plugin folder for plugin projects.</summary>
    public static string BuildOutput(string project)
    {
        var release = Path.Combine(Root, "artifacts", "bin", project, "release");
        return Directory.Exists(release) ? release : Path.Combine(Root, "artifacts", "bin", project, "debug");
    }
}
