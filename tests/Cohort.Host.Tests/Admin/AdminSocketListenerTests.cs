using System.Diagnostics;
using System.Net.Sockets;
using Cohort.Host.Admin;
using Cohort.TestSupport;

namespace Cohort.Host.Tests.Admin;

public sealed class AdminSocketListenerTests : TempDirectoryTest
{
    [Test]
    public void The_socket_is_created_with_mode_0660()
    {
        using var listener = AdminSocketListener.Bind(Dir.Combine("admin.sock"));

        Assert.That(File.GetUnixFileMode(listener.Path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite));
        Assert.That(listener.ReplacedStale, Is.False);
    }

    [Test]
    public void A_stale_socket_of_a_dead_agent_is_replaced()
    {
        var path = Dir.Combine("admin.sock");
        // .NET unlinks a socket file when its listener is disposed; a killed agent leaves it behind.
        // A process that binds and exits without unlinking leaves the same kind of stale file.
        using (var python = Process.Start("python3", ["-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()", path]))
        {
            python.WaitForExit();
            Assert.That(python.ExitCode, Is.Zero);
        }

        Assert.That(File.Exists(path), Is.True, "the dead listener's socket file is left behind");

        using var listener = AdminSocketListener.Bind(path);

        Assert.That(listener.ReplacedStale, Is.True);
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        Assert.DoesNotThrow(() => client.Connect(new UnixDomainSocketEndPoint(path)));
    }

    [Test]
    public void A_socket_a_live_agent_answers_on_is_refused()
    {
        var path = Dir.Combine("admin.sock");
        using var live = AdminSocketListener.Bind(path);

        var error = Assert.Throws<CohortStartupException>(() => AdminSocketListener.Bind(path))!;

        Assert.That(error.Message, Is.EqualTo($"admin socket {path}: a live agent answers on it; stop that agent or choose another Node:AdminSocket"));
        Assert.That(error.ExitCode, Is.EqualTo(ExitCodes.InUse));
    }
}
