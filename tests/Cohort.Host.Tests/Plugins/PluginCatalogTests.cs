using System.Runtime.Loader;
using Autofac;
using Cohort.Host.Configuration;
using Cohort.Host.Plugins;
using Cohort.Plugins;
using Cohort.Quorum;
using Cohort.TestSupport;

namespace Cohort.Host.Tests.Plugins;

public sealed class PluginCatalogTests : TempDirectoryTest
{
    private const string VoteQuorum = "Cohort.Quorum.VoteQuorum";
    private string PluginDirectory => Dir.Combine("plugins");

    private string Install(string project, string? folder = null)
    {
        folder ??= project;
        return Dir.CopyFolder(RepoPaths.BuildOutput(project), Path.Combine("plugins", folder),
            rename: file => file.StartsWith(project + ".", StringComparison.Ordinal) ? folder + file[project.Length..] : file);
    }

    private CohortConfiguration Configuration(string cluster)
    {
        Dir.Write("cluster.json", cluster);
        var node = Dir.Write("node.json", """{ "Node": { "Id": 1, "Bootstrap": "cluster.json" } }""");
        return ConfigurationLoader.Load(node, [], new Dictionary<string, string>());
    }

    [Test]
    public void A_missing_plugin_directory_is_named()
    {
        var error = Assert.Throws<CohortStartupException>(() => PluginCatalog.Load(PluginDirectory, "node.json"))!;

        Assert.That(error.Message, Is.EqualTo($"node.json: Node:PluginDirectory: expected an existing plugin directory, got \"{PluginDirectory}\""));
    }

    [Test]
    public void A_plugin_loads_into_its_own_context_and_registers_into_its_own_scope()
    {
        Install(VoteQuorum);
        var catalog = PluginCatalog.Load(PluginDirectory, "node.json");
        using var root = new ContainerBuilder().Build();

        catalog.Register(root, Configuration("""{ "Nodes": [ { "Id": 1, "Name": "a" } ] }""").Root);

        var plugin = catalog.Plugins.Single();
        var policy = PluginCatalog.Resolve<IQuorumPolicy>(plugin);
        Assert.Multiple(() =>
        {
            Assert.That(plugin.Manifest.Name, Is.EqualTo("votequorum"));
            Assert.That(plugin.Manifest.Slot, Is.EqualTo(PluginSlot.QuorumPolicy));
            Assert.That(plugin.LoadContext, Is.Not.SameAs(AssemblyLoadContext.Default));
            Assert.That(AssemblyLoadContext.GetLoadContext(policy.GetType().Assembly), Is.SameAs(plugin.LoadContext));
            Assert.That(root.IsRegistered<IQuorumPolicy>(), Is.False, "registrations stay in the plugin's scope");
            Assert.That(plugin.Scope!.Tag, Is.Not.Null);
        });
    }

    [Test]
    public void A_configured_name_that_is_not_loaded_lists_the_names_found()
    {
        Install(VoteQuorum);
        var catalog = PluginCatalog.Load(PluginDirectory, "node.json");

        var error = Assert.Throws<CohortStartupException>(() => catalog.Select(PluginSlot.QuorumPolicy, "majority", "cluster.json"))!;
        var transport = Assert.Throws<CohortStartupException>(() => catalog.Select(PluginSlot.Transport, "tcp", "node.json"))!;

        Assert.That(error.Message, Is.EqualTo($"cluster.json: $.Quorum.Policy: expected the name of a quorum-policy plugin in {PluginDirectory} (found: votequorum), got \"majority\""));
        Assert.That(transport.Message, Is.EqualTo($"node.json: Node:Transport: expected the name of a transport plugin in {PluginDirectory} (found: none), got \"tcp\""));
    }

    [Test]
    public void Two_plugins_with_one_name_in_one_slot_are_refused()
    {
        var first = Install(VoteQuorum);
        var second = Install(VoteQuorum, "VoteQuorumCopy");

        var error = Assert.Throws<CohortStartupException>(() => PluginCatalog.Load(PluginDirectory, "node.json"))!;

        Assert.That(error.Message, Is.EqualTo($"plugins {Path.Combine(first, VoteQuorum + ".dll")} and {Path.Combine(second, "VoteQuorumCopy.dll")}: refused: both are quorum-policy plugins named \"votequorum\"; remove one"));
    }

    [Test]
    public void A_plugin_built_for_other_contracts_is_refused()
    {
        var folder = Install("Cohort.TestPlugins.WrongVersion");

        var error = Assert.Throws<CohortStartupException>(() => PluginCatalog.Load(PluginDirectory, "node.json"))!;

        Assert.That(error.Message, Is.EqualTo($"plugin Cohort.TestPlugins.WrongVersion ({Path.Combine(folder, "Cohort.TestPlugins.WrongVersion.dll")}): refused: it was built for Cohort.Abstractions 9.9, this host has {AbstractionsInfo.Version} (before 1.0 they must be equal): rebuild it against this host's Cohort.Abstractions"));
    }

    [Test]
    public void A_plugin_whose_entry_throws_is_refused_with_the_reason()
    {
        Install("Cohort.TestPlugins.Throwing");

        var error = Assert.Throws<CohortStartupException>(() => PluginCatalog.Load(PluginDirectory, "node.json"))!;

        Assert.That(error.Message, Does.EndWith("refused: its entry Cohort.TestPlugins.Throwing.ThrowingPlugin threw InvalidOperationException: license server unreachable"));
    }

    [Test]
    public void A_folder_without_its_entry_assembly_is_refused()
    {
        Dir.Write("plugins/Stray/readme.txt", "not a plugin");

        var error = Assert.Throws<CohortStartupException>(() => PluginCatalog.Load(PluginDirectory, "node.json"))!;

        Assert.That(error.Message, Is.EqualTo($"plugin Stray ({Dir.Combine("plugins", "Stray")}): refused: the folder holds no Stray.dll (a plugin folder is named after its entry assembly)"));
    }

    [Test]
    public void Every_refused_plugin_is_reported_at_once()
    {
        Install("Cohort.TestPlugins.Throwing");
        Install("Cohort.TestPlugins.WrongVersion");
        Install(VoteQuorum);

        var error = Assert.Throws<CohortStartupException>(() => PluginCatalog.Load(PluginDirectory, "node.json"))!;

        Assert.That(error.Problems, Has.Count.EqualTo(2));
    }

    [Test]
    public void A_plugin_that_registers_no_contract_is_refused()
    {
        Install("Cohort.TestPlugins.Empty");
        var catalog = PluginCatalog.Load(PluginDirectory, "node.json");
        using var root = new ContainerBuilder().Build();

        var error = Assert.Throws<CohortStartupException>(() => catalog.Register(root, Configuration("""{ "Nodes": [ { "Id": 1, "Name": "a" } ] }""").Root))!;

        Assert.That(error.Message, Does.EndWith("refused: it registered no IQuorumPolicy, which a quorum-policy plugin must"));
    }

    [Test]
    public void An_autofac_module_shipped_by_a_plugin_registers_into_its_scope()
    {
        var folder = Install("Cohort.TestPlugins.AutofacModule");
        Assert.That(File.Exists(Path.Combine(folder, "Autofac.dll")), Is.True, "the plugin carries a private Autofac.dll");
        var catalog = PluginCatalog.Load(PluginDirectory, "node.json");
        using var root = new ContainerBuilder().Build();

        catalog.Register(root, Configuration("""{ "Nodes": [ { "Id": 1, "Name": "a" } ] }""").Root);

        var plugin = catalog.Plugins.Single();
        Assert.That(plugin.HasAutofacModules, Is.True);
        Assert.That(PluginCatalog.Resolve<IQuorumPolicy>(plugin).GetType().Name, Is.EqualTo("AlwaysQuorate"));
    }

    [Test]
    public void An_autofac_module_bound_to_an_unshared_autofac_is_refused_rather_than_silently_ignored()
    {
        Install("Cohort.TestPlugins.AutofacModule");

        var error = Assert.Throws<CohortStartupException>(() => PluginCatalog.Load(PluginDirectory, "node.json", new PluginAssemblyLoader(shareAutofac: false)))!;

        Assert.That(error.Message, Does.Contain("refused: its Autofac module Cohort.TestPlugins.AutofacModule.PolicyModule is bound to a private copy of Autofac"));
        Assert.That(error.Message, Does.EndWith("so it would register nothing: the host must share Autofac"));
    }

    [Test]
    public void Owned_sections_are_validated_by_the_plugin_and_problems_name_the_cluster_file()
    {
        Install(VoteQuorum);
        var catalog = PluginCatalog.Load(PluginDirectory, "node.json");
        var config = Configuration("""{ "Nodes": [ { "Id": 1, "Name": "a" } ], "Quorum": { "VoteQuorum": { "ExpectedVotes": "many", "TwoNodes": true } } }""");
        var selected = new HashSet<LoadedPlugin>(catalog.Plugins);

        ConfigurationLoader.CheckClusterKeys(config, catalog.OwnedSections);
        var error = Assert.Throws<CohortStartupException>(() => catalog.Validate(config, selected))!;

        var cluster = Dir.Combine("cluster.json");
        Assert.That(error.Problems, Is.EquivalentTo(new[]
        {
            $"{cluster}: $.Quorum.VoteQuorum.TwoNodes: expected one of ExpectedVotes, TwoNode, WaitForAll, ExpectedVotesTracking, AutoTieBreaker, AutoTieBreakerNode, LastManStanding, LastManStandingWindow, got \"True\"",
            $"{cluster}: $.Quorum.VoteQuorum.ExpectedVotes: expected an integer of at least 1, got \"many\"",
        }));
    }

    [Test]
    public void An_unselected_plugin_without_its_section_is_not_validated()
    {
        Install(VoteQuorum);
        var catalog = PluginCatalog.Load(PluginDirectory, "node.json");
        var config = Configuration("""{ "Nodes": [ { "Id": 1, "Name": "a" } ] }""");

        Assert.DoesNotThrow(() => catalog.Validate(config, new HashSet<LoadedPlugin>()));
    }
}
