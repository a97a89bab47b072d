using Cohort.Membership;
using Microsoft.Extensions.Configuration;

namespace Cohort.Quorum.WitnessNode.Tests;

/// <summary>Cluster:Quorum:WitnessNode: its defaults and every problem its validator names.</summary>
public sealed class WitnessNodeOptionsTests
{
    private static readonly ClusterNode[] Nodes = [new(new NodeId(1), "n1", 1), new(new NodeId(2), "n2", 1)];

    private static IConfigurationSection Section(params (string Key, string Value)[] keys) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(keys.Select(k => new KeyValuePair<string, string?>(WitnessNodeOptions.Section + ":" + k.Key, k.Value)))
            .Build()
            .GetSection(WitnessNodeOptions.Section);

    [Test]
    public void The_defaults_hold_and_the_tie_breaker_resolves_against_the_document()
    {
        var options = WitnessNodeOptions.From(Section(("Address", "127.0.0.1:7409")));

        Assert.That((options.PingInterval, options.Lease, options.TieBreaker), Is.EqualTo((TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), "lowest")));
        Assert.That(options.TieBreakerNode(Nodes), Is.EqualTo(new NodeId(1)));
        Assert.That((options with { TieBreaker = "highest" }).TieBreakerNode(Nodes), Is.EqualTo(new NodeId(2)));
        Assert.That((options with { TieBreaker = "2" }).TieBreakerNode(Nodes), Is.EqualTo(new NodeId(2)));
        Assert.That(new WitnessNodeOptions.Validator().Validate(Section(("Address", "127.0.0.1:7409")), Nodes), Is.Empty);
    }

    [Test]
    public void Every_problem_is_named_with_its_key_and_what_was_expected()
    {
        var problems = new WitnessNodeOptions.Validator().Validate(
            Section(("Address", "witness"), ("Lease", "0"), ("TieBreaker", "7"), ("Colour", "red")), Nodes).ToList();

        Assert.That(problems.Select(p => (p.Key, p.Expected, p.Actual)), Is.EquivalentTo(new[]
        {
            ("Cluster:Quorum:WitnessNode:Colour", "one of Address, PingInterval, Lease, TieBreaker", (string?)"red"),
            ("Cluster:Quorum:WitnessNode:Address", "the host:port cohort witness listens on, such as 127.0.0.1:7409", "witness"),
            ("Cluster:Quorum:WitnessNode:Lease", "a whole number of milliseconds from 1 to 60000", "0"),
            ("Cluster:Quorum:WitnessNode:TieBreaker", "lowest, highest, or the id of a node in the document", "7"),
        }));
    }

    [Test]
    public void A_lease_shorter_than_two_pings_is_refused()
    {
        var problems = new WitnessNodeOptions.Validator().Validate(Section(("Address", "127.0.0.1:7409"), ("PingInterval", "300"), ("Lease", "500")), Nodes);

        Assert.That(problems.Select(p => p.Expected), Is.EqualTo(new[] { "at least two ping intervals (600 ms)" }));
    }
}
