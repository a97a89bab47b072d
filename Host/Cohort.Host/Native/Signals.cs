namespace Cohort.Host.Native;

/// <summary>Sending signals to processes and process groups.</summary>
public static class Signals
{
    /// <summary>SIGINT: what Ctrl-C sends.</summary>
    public const int Interrupt = Libc.SIGINT;

    /// <summary>SIGTERM: stop cleanly.</summary>
    public const int Terminate = Libc.SIGTERM;

    /// <summary>SIGHUP: the terminal went away.</summary>
    public const int HangUp = 1;

    /// <summary>SIGKILL: stop now.</summary>
    public const int Kill = Libc.SIGKILL;

    /// <summary>SIGSTOP: pause (a process cannot catch or ignore it).</summary>
    public const int Stop = 19;

    /// <summary>SIGCONT: resume a paused process.</summary>
    public const int Continue = 18;

    /// <summary>Sends <paramref name="signal"/> to process <paramref name="pid"/>. False if it is gone.</summary>
    public static bool Send(int pid, int signal) => Libc.kill(pid, signal) == 0;

    /// <summary>Sends <paramref name="signal"/> to every process of group <paramref name="pgid"/>. False if none is left.</summary>
    public static bool SendToGroup(int pgid, int signal) => Libc.kill(-pgid, signal) == 0;
}
