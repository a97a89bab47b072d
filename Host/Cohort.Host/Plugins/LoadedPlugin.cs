using System.Reflection;
using System.Runtime.Loader;
using Autofac;
using Cohort.Plugins;

namespace Cohort.Host.Plugins;

/// <summary>A plugin the host loaded: its manifest, where it came from, and its own Autofac scope.</summary>
internal sealed class LoadedPlugin(PluginManifest manifest, string assemblyPath, Assembly assembly, AssemblyLoadContext loadContext, ICohortPlugin entry)
{
    public PluginManifest Manifest { get; } = manifest;

    public string AssemblyPath { get; } = assemblyPath;

    public Assembly Assembly { get; } = assembly;

    public AssemblyLoadContext LoadContext { get; } = loadContext;

    public ICohortPlugin Entry { get; } = entry;

    /// <summary>Whether the assembly carries Autofac modules the host registers into its scope.</summary>
    public bool HasAutofacModules { get; init; }

    /// <summary>The plugin's lifetime scope, tied to its load context; set by registration.</summary>
    public ILifetimeScope? Scope { get; set; }

    /// <summary>"quorum-policy/votequorum", as operators see it.</summary>
    public string DisplayName => $"{PluginSlots.Name(Manifest.Slot)}/{Manifest.Name}";

    /// <summary>Assemblies loaded privately into the plugin's context (its own dependencies).</summary>
    public IReadOnlyList<AssemblyName> PrivateAssemblies() =>
        [.. LoadContext.Assemblies.Select(a => a.GetName()).OrderBy(n => n.Name, StringComparer.Ordinal)];
}
