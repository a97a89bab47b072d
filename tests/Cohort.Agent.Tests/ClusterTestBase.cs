using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cohort.TestSupport;

namespace Cohort.Agent.Tests;

/// <summary>
/// A cluster of real agents on 127.0.0.1: one cluster file, one key (mode 0600), a node file per node
/// with its own port (outside the ephemeral range), state directory and admin socket, and fault
/// injection on. Every agent is killed in teardown, whatever the test left.
/// </summary>
public abstract partial class ClusterTestBase : AgentTestBase
{
    private readonly Dictionary<int, CohortProcess> _agents = [];
    private int[] _ports = [];

    protected int Size { get; private set; }

    /// <summary>NUnit reuses the fixture's instance: forget the agents of the test before (killed by the base).</summary>
    [TearDown]
    public void ForgetAgents() => _agents.Clear();

    protected string KeyFile => Dir.Combine("cluster.key");

    protected string Address(int node) => "127.0.0.1:" + _ports[node - 1].ToString(CultureInfo.InvariantCulture);

    protected string NodeFile(int node) => Dir.Combine($"node{node}.json");

    protected string SocketOf(int node) => Dir.Combine($"node{node}", "admin.sock");

    protected CohortProcess Agent(int node) => _agents[node];

    /// <summary>Writes the cluster file, the key and a node file per node; every node seeds every other.</summary>
    /// <param name="size">How many nodes.</param>
    /// <param name="clusterExtra">More keys for the cluster file, after the node list.</param>
    /// <param name="nodeAddresses">Cluster-file addresses per node id (the node still listens on its own port).</param>
    protected void WriteCluster(int size, string clusterExtra = "", IReadOnlyDictionary<int, string>? nodeAddresses = null)
    {
        Size = size;
        _ports = Ports.Free(size);
        var nodes = string.Join(", ", Enumerable.Range(1, size).Select(i =>
            nodeAddresses?.TryGetValue(i, out var address) == true
                ? $$"""{ "Id": {{i}}, "Name": "node{{i}}", "Address": "{{address}}" }"""
                : $$"""{ "Id": {{i}}, "Name": "node{{i}}" }"""));
        Dir.Write("cluster.json", $$"""{ "Name": "t", "Nodes": [ {{nodes}} ]{{clusterExtra}} }""");
        WriteKey(KeyFile);
        for (var i = 1; i <= size; i++)
        {
            WriteNodeFile(i);
        }
    }

    /// <summary>The <c>Fencing</c> keys (after a comma) of a cluster of <paramref name="size"/> nodes fenced by one
    /// process-group device, which kills the victim agent's group and its lock clients' groups.</summary>
    protected string ProcessGroupFencing(int size)
    {
        var hostMap = string.Join(", ", Enumerable.Range(1, size).Select(i => $"\"node{i}\": {JsonSerializer.Serialize(Dir.Combine($"node{i}"))}"));
        return $$"""
            , "Fencing": {
                "Devices": { "pg": { "Agent": "process-group", "Timeout": 10, "HostMap": { {{hostMap}} } } },
                "Levels": { "*": [ [ "pg" ] ] }
              }
            """;
    }

    /// <summary>Writes a node file; <paramref name="seeds"/> null seeds every other node.</summary>
    protected void WriteNodeFile(int node, string bootstrap = "cluster.json", string key = "cluster.key", IEnumerable<string>? seeds = null)
    {
        var seedList = JsonSerializer.Serialize((seeds ?? Enumerable.Range(1, Size).Where(i => i != node).Select(Address)).ToArray());
        Dir.Write($"node{node}.json", $$"""
            {
              "Node": {
                "Id": {{node}},
                "Bootstrap": "{{bootstrap}}",
                "Listen": "{{Address(node)}}",
                "Seeds": {{seedList}},
                "KeyFile": "{{key}}",
                "StateDirectory": "node{{node}}",
                "FaultInjection": true
              }
            }
            """);
    }

    protected static void WriteKey(string path)
    {
        File.WriteAllText(path, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Starts the agents of these nodes (all, by default), without waiting.</summary>
    protected void StartAgents(params int[] nodes)
    {
        foreach (var node in nodes.Length == 0 ? Enumerable.Range(1, Size) : nodes)
        {
            _agents[node] = Start("agent", "--config", NodeFile(node));
        }
    }

    /// <summary>The status of a node's agent, or null while it does not answer.</summary>
    protected async Task<JsonElement?> StatusAsync(int node)
    {
        if (_agents.TryGetValue(node, out var agent) && agent.Process.HasExited)
        {
            throw new InvalidOperationException($"node{node}'s agent exited with {agent.Process.ExitCode}:\n{agent.Stderr}");
        }

        var (code, stdout, _) = await CohortProcess.RunAsync("status", "--json", "--socket", SocketOf(node));
        return code == 0 ? JsonDocument.Parse(stdout).RootElement.Clone() : null;
    }

    /// <summary>Polls until every given node reports an installed view of exactly <paramref name="members"/>,
    /// the same view id at all, with the given quorum state; returns their statuses.</summary>
    protected async Task<Dictionary<int, JsonElement>> WaitForViewAsync(int[] nodes, int[] members, bool quorate = true, TimeSpan? deadline = null)
    {
        var result = await Poll.UntilAsync($"nodes {string.Join(",", nodes)} to agree on a view of {string.Join(",", members)}, quorate:{quorate}", async () =>
        {
            var statuses = new Dictionary<int, JsonElement>();
            foreach (var node in nodes)
            {
                if (await StatusAsync(node) is not { } status || status.GetProperty("view").ValueKind != JsonValueKind.Object)
                {
                    return null;
                }

                statuses[node] = status;
            }

            var agreed = statuses.Values.All(s => s.GetProperty("quorate").GetBoolean() == quorate && MembersOf(s).SequenceEqual(members))
                && statuses.Values.Select(s => ViewIdOf(s)).Distinct().Count() == 1;
            return agreed ? statuses : null;
        }, deadline ?? TimeSpan.FromSeconds(60));
        return result;
    }

    /// <summary>A node's fencing history (<c>cohort fence history --json</c>), oldest first.</summary>
    protected async Task<JsonElement[]> HistoryAsync(int node)
    {
        var (code, stdout, stderr) = await CohortProcess.RunAsync("fence", "history", "--json", "--socket", SocketOf(node));
        Assert.That(code, Is.Zero, stderr);
        return [.. JsonDocument.Parse(stdout).RootElement.Clone().EnumerateArray()];
    }

    /// <summary>Polls a node's fencing history until a record fenced <paramref name="victim"/>; returns the whole history.</summary>
    protected Task<JsonElement[]> WaitForFencedAsync(int node, int victim) =>
        Poll.UntilAsync($"node{node}'s history to show node{victim} fenced", async () =>
        {
            var history = await HistoryAsync(node);
            return history.Any(e => e.GetProperty("victimId").GetInt32() == victim && e.GetProperty("fenced").GetBoolean()) ? history : null;
        }, TimeSpan.FromSeconds(90));

    /// <summary>Polls <c>cohort quorum --json</c> until the node's quorum device is (or is not) granted; returns its <c>device</c>.</summary>
    protected async Task<JsonElement> WaitForDeviceAsync(int node, bool granted)
    {
        var text = await Poll.UntilAsync($"node{node}'s quorum device vote to be granted:{granted}", async () =>
        {
            var (code, stdout, _) = await CohortProcess.RunAsync("quorum", "--json", "--socket", SocketOf(node));
            if (code != 0)
            {
                return null;
            }

            var device = JsonDocument.Parse(stdout).RootElement.GetProperty("device");
            return device.GetProperty("granted").GetBoolean() == granted ? device.GetRawText() : null;
        }, TimeSpan.FromSeconds(60));
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    protected static int[] MembersOf(JsonElement status) =>
        [.. status.GetProperty("view").GetProperty("members").EnumerateArray().Select(m => m.GetProperty("nodeId").GetInt32())];

    protected static long EpochOf(JsonElement status) => status.GetProperty("view").GetProperty("epoch").GetInt64();

    protected static string ViewIdOf(JsonElement status) =>
        $"{EpochOf(status)}.{status.GetProperty("view").GetProperty("coordinator").GetInt32()}";

    protected static long IncarnationOf(JsonElement status, int member) =>
        status.GetProperty("view").GetProperty("members").EnumerateArray().Single(m => m.GetProperty("nodeId").GetInt32() == member).GetProperty("incarnation").GetInt64();

    protected static JsonElement PeerOf(JsonElement status, int peer) =>
        status.GetProperty("transport").GetProperty("peers").EnumerateArray().Single(p => p.GetProperty("nodeId").GetInt32() == peer);

    /// <summary>The quorum changes an agent logged: (quorate, view id, CLOCK_MONOTONIC seconds).</summary>
    protected static List<(bool Quorate, string View, double Monotonic)> QuorumChanges(CohortProcess agent) =>
        [.. QuorumLine().Matches(agent.Stderr).Select(m => (
            bool.Parse(m.Groups[1].Value),
            m.Groups[2].Value,
            double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)))];

    /// <summary>The views an agent logged as installed: (view id, member node ids).</summary>
    protected static List<(string View, int[] Members)> InstalledViews(CohortProcess agent) =>
        [.. InstalledLine().Matches(agent.Stderr).Select(m => (
            m.Groups[1].Value,
            m.Groups[2].Value.Split(", ").Select(x => int.Parse(x.Split('#')[0], CultureInfo.InvariantCulture)).ToArray()))];

    [GeneratedRegex(@"quorate:(True|False) in (\S+) \(.*\) at monotonic (\d+\.\d+)")]
    private static partial Regex QuorumLine();

    [GeneratedRegex(@"installed view (\d+\.\d+) \[([^\]]*)\]")]
    private static partial Regex InstalledLine();
}
