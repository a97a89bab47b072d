using System.Runtime.InteropServices;

namespace Cohort.Fencing.Agents;

/// <summary>The few POSIX calls the fence agents need and .NET does not expose. Each plugin compiles its own copy:
/// a plugin references neither the host nor another plugin.</summary>
internal static partial class Libc
{
    private const string Lib = "libc";

    internal const int SIGKILL = 9;
    internal const int ESRCH = 3;

    [LibraryImport(Lib, SetLastError = true)]
    internal static partial int kill(int pid, int signal);

    [LibraryImport(Lib)]
    internal static partial int getpgrp();

    [LibraryImport(Lib)]
    internal static partial int getpid();

    /// <summary>True when no live process is in group <paramref name="pgid"/>: <c>kill(-pgid, 0)</c> fails with
    /// <c>ESRCH</c>, or every member left is a zombie (dead, but not yet reaped by a parent that may itself be
    /// stopped: <c>kill</c> still finds it). A zombie runs nothing.</summary>
    internal static bool GroupIsGone(int pgid) =>
        (kill(-pgid, 0) != 0 && Marshal.GetLastPInvokeError() == ESRCH) || OnlyZombies(pgid);

    /// <summary>Whether /proc shows no member of group <paramref name="pgid"/> but zombies.</summary>
    private static bool OnlyZombies(int pgid)
    {
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            var name = Path.GetFileName(directory);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]))
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(directory, "stat"));
            }
            catch (IOException)
            {
                continue; // gone meanwhile
            }

            // After the parenthesised command name: state, ppid, pgrp, ...
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ', 4);
            if (int.TryParse(fields[2], System.Globalization.CultureInfo.InvariantCulture, out var group) && group == pgid && fields[0] is not ("Z" or "X"))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Sends SIGKILL to every process of group <paramref name="pgid"/>; returns 0 or the errno.</summary>
    internal static int KillGroup(int pgid) => kill(-pgid, SIGKILL) == 0 ? 0 : Marshal.GetLastPInvokeError();
}
