using System.Runtime.InteropServices;
using Cohort.Host.Native;

namespace Cohort.Host.State;

/// <summary>Crash-safe replacement of small files.</summary>
internal static class DurableFile
{
    /// <summary>
    /// Replaces <paramref name="path"/> with <paramref name="contents"/> so that after a crash at any
    /// point the file holds either the old or the new contents: write a temporary file, fsync it,
    /// rename it over the target, fsync the directory (the rename is durable only then).
    /// </summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> contents, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            Share = FileShare.None,
            UnixCreateMode = mode,
        }))
        {
            stream.Write(contents);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
        SyncDirectory(directory);
    }

    /// <summary>fsyncs a directory, making renames and creations inside it durable.</summary>
    public static void SyncDirectory(string directory)
    {
        var fd = Libc.open(directory, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} to fsync it: {Marshal.GetLastPInvokeErrorMessage()}");
        }

        try
        {
            if (Libc.fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {directory} failed: {Marshal.GetLastPInvokeErrorMessage()}");
            }
        }
        finally
        {
            Libc.close(fd);
        }
    }
}
