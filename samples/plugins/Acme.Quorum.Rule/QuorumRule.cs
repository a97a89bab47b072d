using System.CommandLine;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Acme.Quorum.Rule;

/// <summary>
/// A quorum rule written as a command line in <c>Cluster:Quorum:Rule:Expression</c>, for example
/// <c>--min-votes 2 --require 1</c>: quorate when the view holds at least that many votes and every
/// required node.
/// </summary>
public sealed record QuorumRule(int MinVotes, IReadOnlyList<int> Required)
{
    /// <summary>Where the rule lives.</summary>
    public const string Section = "Cluster:Quorum:Rule";

    private static readonly Option<int> MinVotesOption = new("--min-votes") { Required = true };
    private static readonly Option<int[]> RequireOption = new("--require") { AllowMultipleArgumentsPerToken = true };

    /// <summary>Parses an expression; the errors are System.CommandLine's own words.</summary>
    public static (QuorumRule? Rule, IReadOnlyList<string> Errors) Parse(string expression)
    {
        var command = new RootCommand { MinVotesOption, RequireOption };
        var result = command.Parse(expression);
        if (result.Errors.Count > 0)
        {
            return (null, [.. result.Errors.Select(e => e.Message)]);
        }

        return (new QuorumRule(result.GetValue(MinVotesOption), result.GetValue(RequireOption) ?? []), []);
    }

    /// <summary>The version of System.CommandLine this plugin runs with (its private copy).</summary>
    public static Version? ParserVersion => typeof(RootCommand).Assembly.GetName().Version;
}

/// <summary>Validates <c>Cluster:Quorum:Rule</c>.</summary>
public sealed class QuorumRuleValidator : IConfigSectionValidator
{
    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        var expression = section["Expression"];
        if (expression is null)
        {
            yield return new ConfigProblem(section.Path + ":Expression", "a rule such as \"--min-votes 2 --require 1\"");
            yield break;
        }

        foreach (var error in QuorumRule.Parse(expression).Errors)
        {
            yield return new ConfigProblem(section.Path + ":Expression", $"a valid rule ({error})", expression);
        }
    }
}
