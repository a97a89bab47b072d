using Cohort.Fencing.Conformance;
using Cohort.Membership;
using Cohort.TestSupport;

namespace Cohort.Fencing.ProcessGroup.Tests;

/// <summary>A victim as the host leaves one: a state directory whose agent.pid names a live agent group, and whose
/// fence-groups names one live lock-client group.</summary>
internal sealed class AgentStateDirectory : FenceTarget
{
    public const long VictimIncarnation = 5;

    private readonly TempDirectory _directory;

    private AgentStateDirectory(TempDirectory directory, VictimGroup agent, VictimGroup client)
        : base(new ClusterNode(new NodeId(2), "node2", 1), VictimIncarnation, directory.Path)
    {
        _directory = directory;
        Agent = agent;
        Client = client;
    }

    public VictimGroup Agent { get; }

    public VictimGroup Client { get; }

    public string Path => _directory.Path;

    public static async Task<AgentStateDirectory> StartAsync()
    {
        var directory = new TempDirectory("cohort-pg-");
        var agent = await VictimGroup.StartAsync();
        var client = await VictimGroup.StartAsync();
        var state = new AgentStateDirectory(directory, agent, client);
        state.WriteAgent(agent.Record(VictimIncarnation));
        state.WriteClients($"[{client.Record()}]");
        return state;
    }

    public void WriteAgent(string json) => File.WriteAllText(_directory.Combine("agent.pid"), json);

    public void WriteClients(string json) => File.WriteAllText(_directory.Combine("fence-groups"), json);

    public override Task<bool> IsDeadAsync() => Task.FromResult(Agent.IsGone && Client.IsGone);

    public override ValueTask DisposeAsync()
    {
        Agent.Dispose();
        Client.Dispose();
        _directory.Dispose();
        return ValueTask.CompletedTask;
    }
}
