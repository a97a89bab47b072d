namespace Cohort.Simulation;

/// <summary>
/// One node's disk, with the failure semantics of a real one: a write is durable only after the file
/// is fsynced; a create, rename or delete only after the directory is fsynced; at a crash everything
/// else is lost, except that the last unsynced write of a file may survive as a torn prefix.
/// </summary>
public sealed class VirtualDisk
{
    private SortedDictionary<string, FileNode> _directory = new(StringComparer.Ordinal);
    private SortedDictionary<string, FileNode> _durableDirectory = new(StringComparer.Ordinal);

    /// <summary>The file's current contents, or null when there is no such file.</summary>
    public byte[]? Read(string name) => _directory.TryGetValue(name, out var file) ? file.Content : null;

    /// <summary>The names of the files, in ordinal order.</summary>
    public IReadOnlyList<string> Names() => [.. _directory.Keys];

    /// <summary>Replaces a file's contents (creating it), not durably.</summary>
    public void Write(string name, ReadOnlySpan<byte> contents)
    {
        if (!_directory.TryGetValue(name, out var file))
        {
            file = new FileNode();
            _directory[name] = file;
        }

        file.Content = contents.ToArray();
        file.Unsynced = true;
    }

    /// <summary>Makes a file's contents durable.</summary>
    public void Fsync(string name)
    {
        var file = _directory[name];
        file.Durable = file.Content;
        file.Unsynced = false;
    }

    /// <summary>Renames a file, replacing any file of the new name, not durably.</summary>
    public void Rename(string from, string to)
    {
        var file = _directory[from];
        _directory.Remove(from);
        _directory[to] = file;
    }

    /// <summary>Makes the directory's entries (creates, renames, deletes) durable.</summary>
    public void FsyncDirectory() => _durableDirectory = new SortedDictionary<string, FileNode>(_directory, StringComparer.Ordinal);

    /// <summary>The atomic durable replace the host's runtime performs for a <see cref="Cores.PersistRecord"/>,
    /// in its four steps; <paramref name="steps"/> below 4 stops after that many (a crash in between).</summary>
    public void Persist(string name, ReadOnlySpan<byte> contents, int steps = 4)
    {
        var temp = name + ".tmp";
        if (steps >= 1)
        {
            Write(temp, contents);
        }

        if (steps >= 2)
        {
            Fsync(temp);
        }

        if (steps >= 3)
        {
            Rename(temp, name);
        }

        if (steps >= 4)
        {
            FsyncDirectory();
        }
    }

    /// <summary>Loses what a crash loses.</summary>
    public void Crash(SimRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        _directory = new SortedDictionary<string, FileNode>(_durableDirectory, StringComparer.Ordinal);
        foreach (var file in _directory.Values)
        {
            if (file.Unsynced && file.Content.Length > 0 && random.Chance(0.5))
            {
                // Part of the last write reached the platter: a torn prefix of it.
                file.Content = file.Content[..random.Next(file.Content.Length)];
            }
            else
            {
                file.Content = file.Durable;
            }

            file.Durable = file.Content;
            file.Unsynced = false;
        }
    }

    private sealed class FileNode
    {
        public byte[] Content { get; set; } = [];

        public byte[] Durable { get; set; } = [];

        public bool Unsynced { get; set; }
    }
}
