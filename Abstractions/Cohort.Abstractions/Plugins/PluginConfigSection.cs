namespace Cohort.Plugins;

/// <summary>A configuration section a plugin owns, such as <c>Cluster:Quorum:VoteQuorum</c>.</summary>
/// <remarks>
/// The host treats every key under an owned section as known, so it does not report it as unknown;
/// the plugin's <paramref name="Validator"/> is then the only judge of what the section holds.
/// </remarks>
/// <param name="Path">The section's full key path, <c>:</c>-separated, starting with <c>Node</c> or
/// <c>Cluster</c>.</param>
/// <param name="Validator">Validates the section before the plugin is registered; null accepts anything.</param>
public sealed record PluginConfigSection(string Path, IConfigSectionValidator? Validator = null);
