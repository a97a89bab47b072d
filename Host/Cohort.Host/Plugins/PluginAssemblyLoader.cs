using System.Reflection;
using System.Runtime.Loader;
using McMaster.NETCore.Plugins;

namespace Cohort.Host.Plugins;

/// <summary>
/// Loads a plugin's entry assembly into a load context of its own. The only class that touches
/// McMaster.NETCore.Plugins (in maintenance upstream), so replacing it stays a local change.
/// </summary>
/// <remarks>
/// Shared from the host, so that types crossing the plugin boundary are the same types on both sides:
/// Cohort.Abstractions, every Microsoft.Extensions.* assembly the host carries, and Autofac (a plugin
/// that ships an Autofac module must see the host's <c>IModule</c>). Everything else a plugin carries
/// is private to it, so two plugins may use different versions of one library.
/// </remarks>
internal sealed class PluginAssemblyLoader(bool shareAutofac = true)
{
    private static readonly Lazy<IReadOnlyList<AssemblyName>> HostExtensions = new(() =>
        ((string?)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(Path.GetFileNameWithoutExtension)
            .Where(n => n!.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal))
            .Select(n => new AssemblyName(n!))
            .ToList());

    /// <summary>Whether Autofac is shared with plugins; false only in tests of the failure it causes.</summary>
    public bool ShareAutofac { get; } = shareAutofac;

    /// <summary>Loads the entry assembly at <paramref name="path"/> into a new load context.</summary>
    public (Assembly Assembly, AssemblyLoadContext Context) Load(string path)
    {
        var shared = new List<Type> { typeof(Cohort.Plugins.ICohortPlugin) };
        if (ShareAutofac)
        {
            shared.Add(typeof(Autofac.IContainer));
        }

        var loader = PluginLoader.CreateFromAssemblyFile(path, [.. shared], config =>
        {
            config.PreferSharedTypes = false;
            foreach (var name in HostExtensions.Value)
            {
                config.SharedAssemblies.Add(name);
            }
        });
        var assembly = loader.LoadDefaultAssembly();
        return (assembly, loader.LoadContext);
    }
}
