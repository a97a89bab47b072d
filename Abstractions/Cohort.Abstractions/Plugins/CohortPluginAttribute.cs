namespace Cohort.Plugins;

/// <summary>Names the <see cref="ICohortPlugin"/> implementation of a plugin assembly.</summary>
/// <param name="entryType">A public, non-abstract type implementing <see cref="ICohortPlugin"/> with a
/// public parameterless constructor.</param>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class CohortPluginAttribute(Type entryType) : Attribute
{
    /// <summary>The plugin's entry type.</summary>
    public Type EntryType { get; } = entryType;
}
