using Microsoft.Extensions.Configuration;

namespace Cohort.Membership.Tests;

public class OptionsTests
{
    private static IConfiguration Cluster(params (string Key, string Value)[] keys) =>
        new ConfigurationBuilder().AddInMemoryCollection(keys.Select(k => new KeyValuePair<string, string?>("Cluster:Membership:" + k.Key, k.Value))).Build();

    [Test]
    public void DefaultsArePinned()
    {
        var options = MembershipOptions.From(Cluster());
        Assert.That(options.HeartbeatInterval, Is.EqualTo(TimeSpan.FromMilliseconds(50)));
        Assert.That(options.FailureTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(400)));
        Assert.That(options.QuorumLease, Is.EqualTo(TimeSpan.FromMilliseconds(400)));
        Assert.That(options.ClockDriftBound, Is.EqualTo(0.01));
        Assert.That(options.LeaseHeld, Is.EqualTo(TimeSpan.FromMilliseconds(396)));
        Assert.That(options.PromiseHeld, Is.EqualTo(TimeSpan.FromMilliseconds(404)));
    }

    [Test]
    public void ValuesAreRead()
    {
        var options = MembershipOptions.From(Cluster(("HeartbeatInterval", "100"), ("FailureTimeout", "1000"), ("QuorumLease", "800"), ("ClockDriftBound", "0.001")));
        Assert.That(options, Is.EqualTo(new MembershipOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(100), FailureTimeout = TimeSpan.FromSeconds(1), QuorumLease = TimeSpan.FromMilliseconds(800), ClockDriftBound = 0.001 }));
    }

    [TestCase("HeartbeatInterval", "0", "Cluster:Membership:HeartbeatInterval", "a whole number of milliseconds")]
    [TestCase("QuorumLease", "1.5s", "Cluster:Membership:QuorumLease", "a whole number of milliseconds")]
    [TestCase("ClockDriftBound", "0.5", "Cluster:Membership:ClockDriftBound", "a fraction")]
    [TestCase("Heartbeat", "50", "Cluster:Membership:Heartbeat", "one of HeartbeatInterval")]
    [TestCase("FailureTimeout", "60", "Cluster:Membership:FailureTimeout", "at least two heartbeat intervals")]
    [TestCase("QuorumLease", "100", "Cluster:Membership:QuorumLease", "at least two heartbeat intervals")]
    public void BadValuesNameTheKey(string key, string value, string path, string expected)
    {
        var problems = MembershipOptions.Validate(Cluster((key, value))).ToList();
        Assert.That(problems, Has.Count.EqualTo(1));
        Assert.That(problems[0].Key, Is.EqualTo(path));
        Assert.That(problems[0].Expected, Does.StartWith(expected));
    }
}
