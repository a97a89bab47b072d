using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Cohort.Host.State;

/// <summary>
/// A node's state directory, held exclusively by one agent: it keeps the incarnation counter,
/// <c>agent.pid</c> and the last installed view.
/// </summary>
/// <remarks>
/// The lock is an <c>flock</c> on <c>lock</c> (taken by opening it with <see cref="FileShare.None"/>),
/// released by the kernel when the agent dies however it dies, so a crash never leaves a stale lock.
/// Every file is replaced atomically (<see cref="DurableFile"/>); a file that exists but cannot be
/// parsed is reported, never silently reset, since a reset incarnation would reuse an old identity.
/// </remarks>
internal sealed class StateDirectory : IDisposable
{
    /// <summary>The agent's record, in the state directory: what a fence device needs to kill exactly this incarnation.</summary>
    internal const string PidFileName = "agent.pid";

    private const string IncarnationFile = "incarnation";
    private const string LockFile = "lock";

    private readonly FileStream _lock;

    private StateDirectory(string path, FileStream lockStream)
    {
        Path = path;
        _lock = lockStream;
    }

    public string Path { get; }

    public string PidFilePath => System.IO.Path.Combine(Path, PidFileName);

    /// <summary>Creates the directory if needed (mode 0700) and locks it.</summary>
    /// <exception cref="CohortStartupException">Another live agent holds it, or it cannot be used.</exception>
    public static StateDirectory Open(string path)
    {
        try
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CohortStartupException($"state directory {path}: cannot create it: {ex.Message}", ExitCodes.OsError);
        }

        var lockPath = System.IO.Path.Combine(path, LockFile);
        try
        {
            var stream = new FileStream(lockPath, new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            return new StateDirectory(path, stream);
        }
        catch (IOException)
        {
            var holder = TryReadHolder(System.IO.Path.Combine(path, PidFileName));
            throw new CohortStartupException($"state directory {path}: in use by another agent{holder}; one agent per state directory", ExitCodes.InUse);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new CohortStartupException($"state directory {path}: cannot lock it: {ex.Message}", ExitCodes.OsError);
        }
    }

    /// <summary>Reads the last incarnation, adds one and persists it (fsynced) before returning it.</summary>
    public long BumpIncarnation()
    {
        var path = System.IO.Path.Combine(Path, IncarnationFile);
        long previous = 0;
        if (File.Exists(path))
        {
            var text = File.ReadAllText(path).Trim();
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out previous) || previous < 1)
            {
                throw new CohortStartupException($"{path}: expected a positive incarnation number, got \"{Truncate(text)}\"; the file is corrupt: restore it, or if this node's old incarnations are all known dead, write a number above the last one used", ExitCodes.OsError);
            }
        }

        var next = previous + 1;
        DurableFile.WriteAtomically(path, Encoding.ASCII.GetBytes(next.ToString(CultureInfo.InvariantCulture) + "\n"));
        return next;
    }

    /// <summary>Writes <c>agent.pid</c>: what a fence device needs to kill exactly this incarnation.</summary>
    public void WritePidFile(AgentProcessInfo info)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(info, HostJsonContext.Default.AgentProcessInfo);
        DurableFile.WriteAtomically(PidFilePath, [.. json, (byte)'\n']);
    }

    public void Dispose() => _lock.Dispose();

    private static string TryReadHolder(string pidFile)
    {
        try
        {
            var info = JsonSerializer.Deserialize(File.ReadAllText(pidFile), HostJsonContext.Default.AgentProcessInfo);
            return info is null ? "" : $" (pid {info.Pid}, incarnation {info.Incarnation})";
        }
        catch (Exception ex) when (ex is IOException or JsonException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "...";
}
