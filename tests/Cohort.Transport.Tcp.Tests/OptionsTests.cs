using Microsoft.Extensions.Configuration;

namespace Cohort.Transport.Tcp.Tests;

public sealed class OptionsTests
{
    private static IConfigurationSection Section(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(TcpTransportOptions.Section + ":" + v.Key, v.Value)))
            .Build()
            .GetSection(TcpTransportOptions.Section);

    [Test]
    public void The_defaults_are_the_documented_ones()
    {
        var options = TcpTransportOptions.From(Section());

        Assert.Multiple(() =>
        {
            Assert.That(options.PingInterval, Is.EqualTo(TimeSpan.FromMilliseconds(100)));
            Assert.That(options.IdleTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(1000)));
            Assert.That(options.HandshakeTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(2000)));
            Assert.That(options.ReconnectDelayMax, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
            Assert.That(options.SessionTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(10_000)));
            Assert.That(options.MaxQueuedMegabytes, Is.EqualTo(256));
            Assert.That(options, Is.EqualTo(new TcpTransportOptions()));
        });
    }

    [Test]
    public void Values_are_read_in_milliseconds()
    {
        var options = TcpTransportOptions.From(Section(("PingInterval", "20"), ("SessionTimeout", "3000"), ("MaxQueuedMegabytes", "64")));

        Assert.That((options.PingInterval, options.SessionTimeout, options.MaxQueuedBytes), Is.EqualTo((TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(3), 64L << 20)));
    }

    [Test]
    public void Every_problem_is_named_with_its_key()
    {
        var problems = new TcpTransportOptions.Validator().Validate(Section(("PingInterval", "fast"), ("MaxQueuedMegabytes", "1"), ("Colour", "blue"))).ToList();

        Assert.That(problems.Select(p => (p.Key, p.Expected, p.Actual)), Is.EquivalentTo(new[]
        {
            ("Cluster:Transport:Tcp:Colour", "one of PingInterval, IdleTimeout, HandshakeTimeout, ReconnectDelayMax, SessionTimeout, MaxQueuedMegabytes", (string?)"blue"),
            ("Cluster:Transport:Tcp:PingInterval", "a whole number of milliseconds, at least 1", "fast"),
            ("Cluster:Transport:Tcp:MaxQueuedMegabytes", "a number of MiB from 2 to 65536", "1"),
        }));
    }

    [Test]
    public void Timeouts_that_cannot_work_are_refused()
    {
        var problems = new TcpTransportOptions.Validator().Validate(Section(("PingInterval", "500"), ("IdleTimeout", "600"), ("SessionTimeout", "600"))).ToList();

        Assert.That(problems.Select(p => p.Key), Is.EquivalentTo(new[] { "Cluster:Transport:Tcp:IdleTimeout", "Cluster:Transport:Tcp:SessionTimeout" }));
    }
}
