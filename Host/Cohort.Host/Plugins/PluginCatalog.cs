using System.Reflection;
using Autofac;
using Autofac.Extensions.DependencyInjection;
using Cohort.Host.Configuration;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Cohort.Host.Plugins;

/// <summary>
/// The plugins of one plugin directory: loaded, checked, registered each into its own Autofac
/// lifetime scope, and chosen per slot by name.
/// </summary>
internal sealed class PluginCatalog
{
    private const string AutofacModuleInterface = "Autofac.Core.IModule";

    private readonly List<LoadedPlugin> _plugins;

    private PluginCatalog(string directory, List<LoadedPlugin> plugins)
    {
        Directory = directory;
        _plugins = plugins;
    }

    /// <summary>The plugin directory.</summary>
    public string Directory { get; }

    /// <summary>Every loaded plugin, by slot then name.</summary>
    public IReadOnlyList<LoadedPlugin> Plugins => _plugins;

    /// <summary>
    /// Loads every plugin below <paramref name="directory"/>: one folder per plugin holding
    /// <c>&lt;Folder&gt;.dll</c>. Every refused plugin is reported, one line each, in one exception.
    /// </summary>
    /// <param name="directory">The plugin directory.</param>
    /// <param name="directorySource">Where the directory was configured, for the error message.</param>
    /// <param name="loader">Loads assemblies; tests pass one that does not share Autofac.</param>
    public static PluginCatalog Load(string directory, string directorySource, PluginAssemblyLoader? loader = null)
    {
        loader ??= new PluginAssemblyLoader();
        if (!System.IO.Directory.Exists(directory))
        {
            throw new CohortStartupException(ConfigErrors.Format(directorySource, "Node:PluginDirectory", "an existing plugin directory", directory));
        }

        var problems = new List<string>();
        var plugins = new List<LoadedPlugin>();
        foreach (var folder in System.IO.Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(folder);
            var path = Path.Combine(folder, name + ".dll");
            if (!File.Exists(path))
            {
                problems.Add($"plugin {name} ({folder}): refused: the folder holds no {name}.dll (a plugin folder is named after its entry assembly)");
                continue;
            }

            try
            {
                plugins.Add(LoadOne(path, loader));
            }
            catch (PluginRefusedException ex)
            {
                problems.Add($"plugin {name} ({path}): refused: {ex.Message}");
            }
        }

        foreach (var clash in plugins.GroupBy(p => (p.Manifest.Slot, p.Manifest.Name.ToLowerInvariant())).Where(g => g.Count() > 1))
        {
            problems.Add($"plugins {string.Join(" and ", clash.Select(p => p.AssemblyPath))}: refused: both are {PluginSlots.Name(clash.Key.Slot)} plugins named \"{clash.First().Manifest.Name}\"; remove one");
        }

        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }

        plugins.Sort((a, b) => (a.Manifest.Slot, a.Manifest.Name).CompareTo((b.Manifest.Slot, b.Manifest.Name)));
        return new PluginCatalog(directory, plugins);
    }

    /// <summary>Lists the plugins as "slot/name, ..." for the log.</summary>
    public override string ToString() => _plugins.Count == 0 ? "none" : string.Join(", ", _plugins.Select(p => p.DisplayName));

    /// <summary>The configuration sections the loaded plugins own.</summary>
    public IEnumerable<string> OwnedSections => _plugins.SelectMany(p => p.Manifest.ConfigSections).Select(s => s.Path);

    /// <summary>
    /// Runs the validators of the owned sections that are present, and of every section owned by a
    /// selected plugin (present or not, so a plugin can insist on a key); reports all problems at once.
    /// </summary>
    public void Validate(CohortConfiguration configuration, IReadOnlySet<LoadedPlugin> selected)
    {
        var problems = new List<string>();
        IReadOnlyList<ClusterNode> nodes = configuration.Cluster?.Nodes.Select(n => n.ToClusterNode()).ToList() ?? [];
        foreach (var plugin in _plugins)
        {
            foreach (var section in plugin.Manifest.ConfigSections)
            {
                if (section.Validator is null || !(selected.Contains(plugin) || configuration.Root.GetSection(section.Path).Exists()))
                {
                    continue;
                }

                IEnumerable<ConfigProblem> found;
                try
                {
                    found = section.Validator.Validate(configuration.Root.GetSection(section.Path), nodes).ToList();
                }
                catch (Exception ex)
                {
                    problems.Add($"plugin {plugin.DisplayName}: its validator for {section.Path} threw {ex.GetType().Name}: {ex.Message}");
                    continue;
                }

                problems.AddRange(found.Select(p => ConfigErrors.Format(configuration.DescribeSource(p.Key), p.Key, p.Expected, p.Actual)));
            }
        }

        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }
    }

    /// <summary>
    /// Calls every plugin's <see cref="ICohortPlugin.Register"/> and builds its lifetime scope under
    /// <paramref name="root"/>, tied to the plugin's load context.
    /// </summary>
    public void Register(ILifetimeScope root, IConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var plugin in _plugins)
        {
            var services = new ServiceCollection();
            try
            {
                plugin.Entry.Register(services, configuration);
            }
            catch (Exception ex)
            {
                problems.Add($"plugin {plugin.DisplayName} ({plugin.AssemblyPath}): refused: Register threw {ex.GetType().Name}: {ex.Message}");
                continue;
            }

            plugin.Scope = root.BeginLoadContextLifetimeScope(plugin.LoadContext, builder =>
            {
                builder.Populate(services);
                if (plugin.HasAutofacModules)
                {
                    builder.RegisterAssemblyModules(plugin.Assembly);
                }
            });
            var contract = PluginSlots.Contract(plugin.Manifest.Slot);
            if (!plugin.Scope.IsRegistered(contract))
            {
                problems.Add($"plugin {plugin.DisplayName} ({plugin.AssemblyPath}): refused: it registered no {contract.Name}, which a {PluginSlots.Name(plugin.Manifest.Slot)} plugin must");
            }
        }

        if (problems.Count > 0)
        {
            throw new CohortStartupException(problems);
        }
    }

    /// <summary>Chooses the plugin of <paramref name="slot"/> named <paramref name="name"/>.</summary>
    /// <param name="slot">The slot.</param>
    /// <param name="name">The configured name.</param>
    /// <param name="nameSource">Where the name was configured, for the error message.</param>
    public LoadedPlugin Select(PluginSlot slot, string name, string nameSource)
    {
        return Find(slot, name) ?? throw new CohortStartupException(ConfigErrors.Format(nameSource, PluginSlots.ConfigKey(slot), Expected(slot), name));
    }

    /// <summary>The plugin of <paramref name="slot"/> named <paramref name="name"/>, or null.</summary>
    public LoadedPlugin? Find(PluginSlot slot, string name) =>
        _plugins.FirstOrDefault(p => p.Manifest.Slot == slot && p.Manifest.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>What a key choosing a plugin of <paramref name="slot"/> must hold, with the names found.</summary>
    public string Expected(PluginSlot slot)
    {
        var found = _plugins.Where(p => p.Manifest.Slot == slot).Select(p => p.Manifest.Name).ToList();
        return $"the name of a {PluginSlots.Name(slot)} plugin in {Directory} (found: {(found.Count == 0 ? "none" : string.Join(", ", found))})";
    }

    /// <summary>Resolves the slot's contract from a selected plugin's scope.</summary>
    public static T Resolve<T>(LoadedPlugin plugin)
        where T : notnull
    {
        try
        {
            return plugin.Scope!.Resolve<T>();
        }
        catch (Exception ex)
        {
            throw new CohortStartupException($"plugin {plugin.DisplayName} ({plugin.AssemblyPath}): refused: cannot create its {typeof(T).Name}: {ex.GetBaseException().Message}");
        }
    }

    /// <summary>
    /// Creates the slot's contract from a plugin before the host exists, from the plugin's own
    /// registrations alone: for the configuration system, which the host needs in order to read the
    /// cluster document its other plugins are chosen by. The plugin is registered again, normally, later.
    /// </summary>
    /// <param name="plugin">The plugin.</param>
    /// <param name="configuration">The configuration it registers from.</param>
    /// <param name="host">Adds what the host lends it (a logger factory, the clock), or null.</param>
    public static T CreateEarly<T>(LoadedPlugin plugin, IConfiguration configuration, Action<IServiceCollection>? host = null)
        where T : notnull
    {
        var services = new ServiceCollection();
        try
        {
            host?.Invoke(services);
            plugin.Entry.Register(services, configuration);
            // Not disposed: what it created lives as long as the agent.
            var provider = services.BuildServiceProvider();
            return provider.GetService<T>()
                ?? throw new CohortStartupException($"plugin {plugin.DisplayName} ({plugin.AssemblyPath}): refused: it registered no {typeof(T).Name}, which a {PluginSlots.Name(plugin.Manifest.Slot)} plugin must");
        }
        catch (Exception ex) when (ex is not CohortStartupException)
        {
            throw new CohortStartupException($"plugin {plugin.DisplayName} ({plugin.AssemblyPath}): refused: cannot create its {typeof(T).Name}: {ex.GetBaseException().Message}");
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<LoadedPlugin, object> _early = new();

    /// <summary>The slot's contract of a plugin: from its scope once registered, else created early from its own
    /// registrations (once per plugin), for judging documents before the host exists or offline.</summary>
    public T Instance<T>(LoadedPlugin plugin, IConfiguration configuration)
        where T : notnull =>
        plugin.Scope is not null ? Resolve<T>(plugin) : (T)_early.GetOrAdd(plugin, p => CreateEarly<T>(p, configuration, services =>
        {
            services.AddLogging(); // no providers: an early instance only judges configuration
            services.AddSingleton(TimeProvider.System);
        }));

    /// <summary>Every registration of <typeparamref name="T"/> in any plugin's scope (hooks, listeners).</summary>
    public IReadOnlyList<T> ResolveAll<T>()
        where T : class =>
        [.. _plugins.Where(p => p.Scope is not null).SelectMany(p => p.Scope!.Resolve<IEnumerable<T>>()).Distinct()];

    private static LoadedPlugin LoadOne(string path, PluginAssemblyLoader loader)
    {
        Assembly assembly;
        System.Runtime.Loader.AssemblyLoadContext context;
        try
        {
            (assembly, context) = loader.Load(path);
        }
        catch (Exception ex)
        {
            throw new PluginRefusedException($"cannot load the assembly: {ex.Message}");
        }

        CheckReferencedVersion(assembly, typeof(ICohortPlugin).Assembly, "Cohort.Abstractions", majorMinor: true);
        CheckReferencedVersion(assembly, typeof(IContainer).Assembly, "Autofac", majorMinor: false);

        var attribute = assembly.GetCustomAttribute<CohortPluginAttribute>()
            ?? throw new PluginRefusedException("it has no [assembly: CohortPlugin(typeof(...))] attribute naming its ICohortPlugin (does it reference Cohort.Abstractions with ExcludeAssets=runtime?)");
        if (!typeof(ICohortPlugin).IsAssignableFrom(attribute.EntryType) || attribute.EntryType.IsAbstract)
        {
            throw new PluginRefusedException($"its entry type {attribute.EntryType.FullName} is not a concrete ICohortPlugin");
        }

        ICohortPlugin entry;
        PluginManifest manifest;
        try
        {
            entry = (ICohortPlugin)Activator.CreateInstance(attribute.EntryType)!;
            manifest = entry.Manifest ?? throw new InvalidOperationException("Manifest returned null");
        }
        catch (Exception ex)
        {
            var cause = ex is TargetInvocationException { InnerException: { } inner } ? inner : ex;
            throw new PluginRefusedException($"its entry {attribute.EntryType.FullName} threw {cause.GetType().Name}: {cause.Message}");
        }

        if (!Enum.IsDefined(manifest.Slot))
        {
            throw new PluginRefusedException($"its manifest names slot {(int)manifest.Slot}, which this host does not know");
        }

        if (!PluginNames.IsValid(manifest.Name))
        {
            throw new PluginRefusedException($"its manifest name \"{manifest.Name}\" is not letters, digits, '-', '_' or '.'");
        }

        if (manifest.AbstractionsVersion != AbstractionsInfo.Version)
        {
            throw new PluginRefusedException($"it was built for Cohort.Abstractions {manifest.AbstractionsVersion}, this host has {AbstractionsInfo.Version} (before 1.0 they must be equal): rebuild it against this host's Cohort.Abstractions");
        }

        foreach (var section in manifest.ConfigSections)
        {
            if (!section.Path.StartsWith("Cluster:", StringComparison.OrdinalIgnoreCase))
            {
                throw new PluginRefusedException($"its manifest owns section \"{section.Path}\"; plugins own sections below Cluster:");
            }
        }

        return new LoadedPlugin(manifest, path, assembly, context, entry) { HasAutofacModules = FindAutofacModules(assembly) };
    }

    private static bool FindAutofacModules(Assembly assembly)
    {
        Type[] types;
        try
        {
            types = assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            throw new PluginRefusedException($"some of its types cannot load: {string.Join("; ", ex.LoaderExceptions.Select(e => e?.Message).Distinct())}");
        }

        var found = false;
        foreach (var type in types.Where(t => t is { IsClass: true, IsAbstract: false }))
        {
            var moduleInterface = type.GetInterfaces().FirstOrDefault(i => i.FullName == AutofacModuleInterface);
            if (moduleInterface is null)
            {
                continue;
            }

            // A module bound to a private copy of Autofac is invisible to RegisterAssemblyModules,
            // which would then register nothing without a word.
            if (moduleInterface != typeof(Autofac.Core.IModule))
            {
                throw new PluginRefusedException($"its Autofac module {type.FullName} is bound to a private copy of Autofac ({moduleInterface.Assembly.Location}), not the host's, so it would register nothing: the host must share Autofac");
            }

            found = true;
        }

        return found;
    }

    private static void CheckReferencedVersion(Assembly plugin, Assembly host, string name, bool majorMinor)
    {
        var referenced = plugin.GetReferencedAssemblies().FirstOrDefault(a => a.Name == name)?.Version;
        var ours = host.GetName().Version!;
        if (referenced is null)
        {
            return;
        }

        var compatible = majorMinor
            ? referenced.Major == ours.Major && referenced.Minor == ours.Minor
            : referenced.Major == ours.Major;
        if (!compatible)
        {
            var shown = majorMinor ? $"{referenced.Major}.{referenced.Minor}" : $"{referenced.Major}";
            var have = majorMinor ? $"{ours.Major}.{ours.Minor}" : $"{ours.Major}";
            throw new PluginRefusedException($"it was built against {name} {shown}, this host has {have}: rebuild it against the host's {name}");
        }
    }

    private sealed class PluginRefusedException(string message) : Exception(message);
}
