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

    /// <summary>True when no process is in group <paramref name="pgid"/> (<c>kill(-pgid, 0)</c> fails with
    /// <c>ESRCH</c>). A group of zombies only counts as empty: the kernel does not signal them.</summary>
    internal static bool GroupIsGone(int pgid) => kill(-pgid, 0) != 0 && Marshal.GetLastPInvokeError() == ESRCH;

    /// <summary>Sends SIGKILL to every process of group <paramref name="pgid"/>; returns 0 or the errno.</summary>
    internal static int KillGroup(int pgid) => kill(-pgid, SIGKILL) == 0 ? 0 : Marshal.GetLastPInvokeError();
}
