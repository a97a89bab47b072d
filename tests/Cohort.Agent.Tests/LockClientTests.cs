using System.Globalization;
using System.Text.Json;
using Cohort.Host.Native;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// <c>cohort lock</c> against real agents on 127.0.0.1: the command runs in a registered group of its own while the
/// lock is held, exit codes, a client that dies, and many clients on several nodes counting under EX.
/// </summary>
[NonParallelizable]
public sealed class LockClientTests : ClusterTestBase
{
    private static readonly int[] All = [1, 2, 3];

    /// <summary>Process groups the commands under test reported, killed in teardown whatever happened.</summary>
    private readonly List<int> _groups = [];

    [TearDown]
    public void KillCommandGroups()
    {
        foreach (var group in _groups)
        {
            Signals.SendToGroup(group, Signals.Kill);
        }

        _groups.Clear();
    }

    /// <summary>A shell test of whether group <paramref name="group"/> has a live member (a zombie whose parent is
    /// stopped is dead, but still answers <c>kill -0</c>).</summary>
    private static string IsAlive(int group) => $"ps -e -o pgid=,stat= | awk '$1 == {group} && $2 !~ /^Z/' | grep -q .";

    /// <summary>Starts <c>cohort lock r</c> (EX) on <paramref name="node"/> with a command that sleeps, and returns
    /// once the command runs, with its group (killed in teardown).</summary>
    private async Task<(CohortProcess Holder, int Group)> HoldAsync(int node)
    {
        var pidFile = Dir.Combine($"holder{node}.pid");
        var holder = CohortProcess.Start("lock", "--socket", SocketOf(node), "r", "--", "sh", "-c", $"echo $$ > {pidFile}.tmp && mv {pidFile}.tmp {pidFile} && exec sleep 120");
        await Poll.UntilAsync($"node{node}'s command to run holding EX", () => File.Exists(pidFile));
        var group = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
        _groups.Add(group);
        return (holder, group);
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> LockAsync(int node, params string[] arguments) =>
        CohortProcess.RunAsync(["lock", "--socket", SocketOf(node), .. arguments]);

    [Test]
    public async Task The_command_runs_in_a_registered_group_of_its_own_holding_the_lock_and_its_code_is_the_exit_code()
    {
        WriteCluster(1);
        StartAgents();
        await WaitForViewAsync([1], [1]);

        // $$ of the command is its group's leader: the agent must have fsynced that group to fence-groups before it ran.
        var groups = Dir.Combine("node1", "fence-groups");
        var (code, stdout, stderr) = await LockAsync(1, "r", "--", "sh", "-c", $"grep -q \"\\\"pgid\\\":$$\" {groups} && [ \"$(ps -o pgid= $$ | tr -d ' ')\" = $$ ] && echo registered; echo \"$COHORT_LOCK_MODE $COHORT_LOCK_TOKEN\"; exit 7");
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.EqualTo(7), stderr);
            Assert.That(Lines(stdout).First(), Is.EqualTo("registered"), "the command leads its own group, recorded in fence-groups while it runs");
            Assert.That(Lines(stdout).Last(), Does.Match(@"^EX \d+\.\d+:\d+$"), "the mode and the fencing token of the grant, in its environment");
            Assert.That(File.ReadAllText(groups).Trim(), Is.EqualTo("[]"), "a finished client's group is dropped");
        });
    }

    [Test]
    public async Task The_client_library_reuses_a_handle_sees_conflicts_and_blocking_notifications_and_closes_cleanly()
    {
        WriteCluster(1);
        StartAgents();
        await WaitForViewAsync([1], [1]);

        // The groups that rely on the locks: a sleep of its own, never this test runner's.
        using var relying = await VictimGroup.StartAsync();
        await using (var client = await Dlm.Client.DlmClient.ConnectAsync(SocketOf(1), registerOwnGroup: false))
        {
            await client.RegisterProcessGroupAsync(relying.Pid);
            var lockspace = await client.JoinAsync("lib");
            var blocked = new TaskCompletionSource<Locking.LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
            var first = lockspace.CreateLock("r"u8, (_, mode) => blocked.TrySetResult(mode));
            var second = lockspace.CreateLock("r"u8);
            for (var i = 0; i < 3; i++)
            {
                var granted = await first.LockAsync(Locking.LockMode.Exclusive);
                Assert.That(granted.Status, Is.EqualTo(Locking.LockStatus.Granted), $"cycle {i}");
                Assert.That(granted.Token.IsNone, Is.False, "an EX grant carries a fencing token");
                Assert.That((await first.UnlockAsync()).Status, Is.EqualTo(Locking.LockStatus.Unlocked));
            }

            await first.LockAsync(Locking.LockMode.Exclusive);
            Assert.That((await second.LockAsync(Locking.LockMode.ProtectedRead, Locking.LockFlags.NoQueue)).Status, Is.EqualTo(Locking.LockStatus.WouldBlock));
            var waiting = second.LockAsync(Locking.LockMode.ProtectedRead).AsTask();
            Assert.That(await blocked.Task.WaitAsync(Poll.DefaultDeadline), Is.EqualTo(Locking.LockMode.ProtectedRead), "the holder is told the mode it blocks");
            await first.UnlockAsync();
            Assert.That((await waiting.WaitAsync(Poll.DefaultDeadline)).Status, Is.EqualTo(Locking.LockStatus.Granted));
            await second.UnlockAsync();
        }

        Assert.Multiple(() =>
        {
            Assert.That(relying.IsGone, Is.False, "a client that closed holding nothing has nothing killed");
            Assert.That(File.ReadAllText(Dir.Combine("node1", "fence-groups")).Trim(), Is.EqualTo("[]"));
        });
    }

    [Test]
    public async Task A_line_that_is_not_a_message_closes_that_session_only()
    {
        WriteCluster(1);
        StartAgents();
        await WaitForViewAsync([1], [1]);

        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(SocketOf(1)));
        await socket.SendAsync("{\"verb\":\"lock-session\"}\n"u8.ToArray());
        var buffer = new byte[4096];
        var read = await socket.ReceiveAsync(buffer);
        Assert.That(System.Text.Encoding.UTF8.GetString(buffer, 0, read), Does.StartWith("{\"ok\":true"));
        await socket.SendAsync("{\"op\":\"no-such-op\"}\n"u8.ToArray());
        using var timeout = new CancellationTokenSource(Poll.DefaultDeadline);
        Assert.That(await socket.ReceiveAsync(buffer, timeout.Token), Is.Zero, "the agent closed the session");

        var (code, _, stderr) = await LockAsync(1, "r", "--", "true");
        Assert.That(code, Is.Zero, $"another session still works: {stderr}");
    }

    [Test]
    public async Task A_lock_held_elsewhere_is_not_granted_in_time_and_a_holder_that_dies_has_its_command_killed_before_the_lock_is_released()
    {
        WriteCluster(2);
        StartAgents();
        await WaitForViewAsync([1, 2], [1, 2]);

        var (holder, group) = await HoldAsync(1);
        using var holding = holder;

        var (code, stdout, stderr) = await CohortProcess.RunAsync("locks", "default", "--json", "--socket", SocketOf(1));
        Assert.That(code, Is.Zero, stderr);
        var resource = JsonDocument.Parse(stdout).RootElement.GetProperty("lockspaces")[0].GetProperty("resources")[0];
        Assert.Multiple(() =>
        {
            Assert.That(resource.GetProperty("name").GetString(), Is.EqualTo("r"));
            Assert.That(resource.GetProperty("master").GetInt32(), Is.EqualTo(1), "the first node to ask masters it");
            Assert.That(resource.GetProperty("masteredHere").GetBoolean(), Is.True);
            var holder = resource.GetProperty("granted")[0];
            Assert.That((holder.GetProperty("node").GetInt32(), holder.GetProperty("incarnation").GetInt64(), holder.GetProperty("mode").GetString()), Is.EqualTo((1, 1L, "EX")));
            Assert.That(resource.GetProperty("lastToken").GetString(), Does.Match(@"^\d+\.\d+:1$"));
        });
        (code, stdout, stderr) = await CohortProcess.RunAsync("locks", "--socket", SocketOf(1));
        Assert.That(stdout, Does.Contain("lockspace default: 1 resource(s) known here").And.Contain("1#1 EX (lock "), stderr);

        (code, _, stderr) = await LockAsync(2, "--wait", "0", "r", "--", "true");
        Assert.That(code, Is.EqualTo(75), $"NOQUEUE while node1 holds EX: {stderr}");
        (code, _, stderr) = await LockAsync(2, "--wait", "0.5", "r", "--", "true");
        Assert.That(code, Is.EqualTo(75), $"not granted within 0.5 s: {stderr}");
        (code, _, stderr) = await LockAsync(2, "--wait", "0", "--mode", "NL", "r", "--", "true");
        Assert.That(code, Is.Zero, $"NL is compatible with EX: {stderr}");

        // The holder's client dies without unlocking: its agent kills the command's group, then releases the lock.
        holder.Signal(Signals.Kill);
        var marker = Dir.Combine("granted");
        (code, _, stderr) = await LockAsync(2, "--wait", "30", "r", "--", "sh", "-c", $"{IsAlive(group)} && echo alive > {marker} || echo gone > {marker}");
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.Zero, stderr);
            Assert.That(File.ReadAllText(marker).Trim(), Is.EqualTo("gone"), "the dead client's command group was gone before node2 got the lock");
            Assert.That(Agent(1).Stderr, Does.Contain($"lock client group {group} (its session ended without a close): killed group {group}"));
        });
    }

    [Test]
    public async Task Leave_is_refused_while_a_client_holds_a_lock_and_with_force_the_clients_group_is_killed_before_the_lock_is_released()
    {
        WriteCluster(3); // two survivors keep quorum: one of two would freeze locking
        StartAgents();
        await WaitForViewAsync(All, All);

        var (holder, group) = await HoldAsync(1);
        using var holding = holder;

        var (code, _, stderr) = await CohortProcess.RunAsync("leave", "--socket", SocketOf(1));
        Assert.Multiple(() =>
        {
            Assert.That(code, Is.Not.Zero, "refused");
            Assert.That(stderr, Does.Contain("lock clients hold locks here").And.Contain($"groups {group}"));
            Assert.That(Signals.SendToGroup(group, 0), Is.True, "the command still runs");
        });

        (code, _, stderr) = await CohortProcess.RunAsync("leave", "--force", "--socket", SocketOf(1));
        Assert.That(code, Is.Zero, stderr);
        var marker = Dir.Combine("granted");
        (code, _, stderr) = await LockAsync(2, "--wait", "30", "r", "--", "sh", "-c", $"{IsAlive(group)} && echo alive > {marker} || echo gone > {marker}");
        Assert.That(code, Is.Zero, stderr);
        Assert.That(File.ReadAllText(marker).Trim(), Is.EqualTo("gone"), "the client's group was killed before its lock was released");
        Assert.That(await Agent(1).WaitForExitAsync(), Is.Zero, "node1 left");
        Assert.That(await holder.WaitForExitAsync(), Is.EqualTo(137).Or.EqualTo(70), $"its command was killed, or its agent went: {holder.Stderr}");
        var log = Agent(1).Stderr;
        var killed = log.IndexOf($"lock client group {group} (the node leaves): killed group {group}", StringComparison.Ordinal);
        var released = log.IndexOf("dlm: every lock of this node's clients is released", StringComparison.Ordinal);
        Assert.That(killed, Is.InRange(0, released), $"node1 killed the group, then released the locks:\n{log}");
    }

    [Test]
    public async Task An_isolated_node_holding_EX_with_its_client_stopped_is_fenced_before_a_survivor_is_granted_and_its_command_is_gone()
    {
        WriteCluster(3, clusterExtra: ProcessGroupFencing(3));
        StartAgents();
        await WaitForViewAsync(All, All);

        var (holder, group) = await HoldAsync(3);
        using var holding = holder;
        holder.Signal(Signals.Stop); // its cohort lock can do nothing about what follows

        var marker = Dir.Combine("granted");
        using var survivor = CohortProcess.Start("lock", "--socket", SocketOf(1), "--wait", "90", "r", "--", "sh", "-c", $"{IsAlive(group)} && echo alive $COHORT_LOCK_GRANTED_AT > {marker} || echo gone $COHORT_LOCK_GRANTED_AT > {marker}");
        var (code, _, stderr) = await CohortProcess.RunAsync("debug", "partition", "--peer", "node1,node2", "--socket", SocketOf(3));
        Assert.That(code, Is.Zero, stderr);

        Assert.That(await survivor.WaitForExitAsync(TimeSpan.FromSeconds(90)), Is.Zero, survivor.Stderr);
        var seen = File.ReadAllText(marker).Split(' ', StringSplitOptions.TrimEntries);
        var grantedAt = double.Parse(seen[1], CultureInfo.InvariantCulture);
        var fenced = System.Text.RegularExpressions.Regex.Match(Agent(1).Stderr + Agent(2).Stderr, @"fenced:True node3 \(3#1\).* at monotonic (\d+\.\d+)");
        Assert.Multiple(() =>
        {
            Assert.That(seen[0], Is.EqualTo("gone"), "node3's command group was dead when node1's command started");
            Assert.That(fenced.Success, Is.True, "a survivor fenced node3");
            Assert.That(grantedAt, Is.GreaterThan(double.Parse(fenced.Groups[1].Value, CultureInfo.InvariantCulture)),
                "node1 was granted EX (its monotonic time) after the device reported node3 and its lock clients' groups gone");
        });
    }

    [Test]
    public async Task Clients_on_the_survivors_keep_counting_exactly_while_the_master_of_the_resource_is_killed()
    {
        WriteCluster(3, clusterExtra: """, "Dlm": { "CacheTime": 600 }""" + ProcessGroupFencing(3));
        StartAgents();
        await WaitForViewAsync(All, All);

        var counter = Dir.Combine("counter");
        File.WriteAllText(counter, "0\n");
        var script = $"n=$(cat {counter}); sleep 0.01; echo $((n + 1)) > {counter}.$$ && mv {counter}.$$ {counter}";
        var (code, _, stderr) = await LockAsync(3, "--lockspace", "count", "counter", "--", "sh", "-c", script); // node3 masters it
        Assert.That(code, Is.Zero, stderr);

        var runs = new int[3];
        var loops = new[] { 1, 2 }.Select(async node =>
        {
            var exited0 = 0;
            for (var i = 0; i < 8; i++)
            {
                var (runCode, _, runStderr) = await LockAsync(node, "--lockspace", "count", "--wait", "90", "counter", "--", "sh", "-c", script);
                Assert.That(runCode, Is.Zero, $"node{node} run {i}: {runStderr}");
                exited0 += runCode == 0 ? 1 : 0;
                Volatile.Write(ref runs[node], i + 1);
            }

            return exited0;
        }).ToArray();

        await Poll.UntilAsync("two runs on each survivor", () => Volatile.Read(ref runs[1]) >= 2 && Volatile.Read(ref runs[2]) >= 2, TimeSpan.FromSeconds(60));
        Agent(3).Signal(Signals.Kill);
        var succeeded = (await Task.WhenAll(loops)).Sum() + 1;
        Assert.Multiple(() =>
        {
            Assert.That(int.Parse(File.ReadAllText(counter).Trim(), CultureInfo.InvariantCulture), Is.EqualTo(succeeded), "every increment under EX, none lost, across the master's death");
            Assert.That(Agent(1).Stderr + Agent(2).Stderr, Does.Contain("fenced:True node3 (3#1)"));
        });
    }

    [Test]
    public async Task Clients_on_three_nodes_counting_under_EX_count_exactly_the_runs_that_exited_0()
    {
        WriteCluster(3);
        StartAgents();
        await WaitForViewAsync(All, All);

        var counter = Dir.Combine("counter");
        File.WriteAllText(counter, "0\n");
        const int runsPerNode = 6;
        // Read, pause, write: two commands running at once would lose an increment.
        var script = $"n=$(cat {counter}); sleep 0.01; echo $((n + 1)) > {counter}.$$ && mv {counter}.$$ {counter}";
        var loops = All.Select(async node =>
        {
            var succeeded = 0;
            for (var i = 0; i < runsPerNode; i++)
            {
                var (code, _, stderr) = await LockAsync(node, "--lockspace", "count", "counter", "--", "sh", "-c", script);
                Assert.That(code, Is.Zero, $"node{node} run {i}: {stderr}");
                succeeded += code == 0 ? 1 : 0;
            }

            return succeeded;
        }).ToArray();
        var runs = (await Task.WhenAll(loops)).Sum();

        Assert.That(int.Parse(File.ReadAllText(counter).Trim(), CultureInfo.InvariantCulture), Is.EqualTo(runs), "every increment under EX, none lost");
    }
}
