namespace Cohort.TestSupport;

/// <summary>A unique directory under /tmp (short, so Unix socket paths fit), removed on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory(string prefix = "cohort-test-") => Path = Directory.CreateTempSubdirectory(prefix).FullName;

    public string Path { get; }

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Writes a file (creating folders) and returns its path.</summary>
    public string Write(string relative, string contents)
    {
        var path = Combine(relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllText(path, contents);
        return path;
    }

    /// <summary>Writes an executable file (a shell script, say; creating folders) and returns its path.</summary>
    public string WriteExecutable(string relative, string contents)
    {
        var path = Write(relative, contents);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    /// <summary>Copies a folder's files (recursively) to a folder below this directory; returns it.</summary>
    public string CopyFolder(string source, string relative, Func<string, string>? rename = null)
    {
        var target = Combine(relative);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var relativeFile = System.IO.Path.GetRelativePath(source, file);
            var destination = System.IO.Path.Combine(target, rename?.Invoke(relativeFile) ?? relativeFile);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
            File.Copy(file, destination, overwrite: true);
        }

        return target;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process we started may still be writing its log; the OS cleans /tmp.
        }
    }
}
