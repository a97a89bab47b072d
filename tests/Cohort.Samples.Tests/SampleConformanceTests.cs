using Acme.Quorum.Percent;
using Acme.Quorum.Rule;
using Cohort.Quorum;
using Cohort.Quorum.Conformance;

namespace Cohort.Samples.Tests;

/// <summary>The sample <c>percent</c> policy meets the contract, declaring dual quorum at 50% or less.</summary>
[TestFixture]
public sealed class PercentConformanceTests : QuorumPolicyConformance
{
    protected override IQuorumPolicy CreatePolicy() => new PercentPolicy();

    protected override IReadOnlyDictionary<string, string> DocumentedDefaults =>
        new Dictionary<string, string> { [PercentOptions.Section + ":Percent"] = "51" };

    protected override IEnumerable<IReadOnlyDictionary<string, string>> OptionSets =>
        new[] { "51", "75", "100", "50", "30" }.Select(p => (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { [PercentOptions.Section + ":Percent"] = p });
}

/// <summary>The sample <c>rule</c> policy meets the contract, declaring dual quorum for rules that do not separate the sides.</summary>
[TestFixture]
public sealed class RuleConformanceTests : QuorumPolicyConformance
{
    protected override IQuorumPolicy CreatePolicy() => new RulePolicy();

    // The expression is required: there is no default to spell out.
    protected override IReadOnlyDictionary<string, string> DocumentedDefaults => new Dictionary<string, string>();

    protected override IEnumerable<IReadOnlyDictionary<string, string>> OptionSets =>
        new[] { "--min-votes 2 --require 1", "--min-votes 1 --require 2", "--min-votes 1", "--min-votes 2", "--min-votes 4" }
            .Select(e => (IReadOnlyDictionary<string, string>)new Dictionary<string, string> { [QuorumRule.Section + ":Expression"] = e });
}
