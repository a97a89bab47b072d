namespace Cohort.Plugins;

/// <summary>One thing wrong with configuration, reported with the file it came from.</summary>
/// <param name="Key">The full key path, for example <c>Cluster:Quorum:VoteQuorum:ExpectedVotes</c>. The host names
/// a key of the cluster document by its JSON path in errors (<c>$.Quorum.VoteQuorum.ExpectedVotes</c>).</param>
/// <param name="Expected">What the key should hold, for example "an integer from 1 to 64".</param>
/// <param name="Actual">What it holds, or null when it is missing or irrelevant.</param>
public sealed record ConfigProblem(string Key, string Expected, string? Actual = null);
