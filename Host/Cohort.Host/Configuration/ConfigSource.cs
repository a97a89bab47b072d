using Microsoft.Extensions.Configuration;

namespace Cohort.Host.Configuration;

/// <summary>One configuration source kept apart, so that every problem can name where a key came from.</summary>
internal sealed class ConfigSource(string description, IConfigurationRoot root, string baseDirectory, bool isFile)
{
    private (ReplaceableProvider Provider, string Prefix)? _replaceable;

    /// <summary>How errors name the source: a file path, "environment (COHORT_*)" or "command line".</summary>
    public string Description { get; } = description;

    public IConfigurationRoot Root { get; } = root;

    /// <summary>Relative paths set by this source resolve against this directory.</summary>
    public string BaseDirectory { get; } = baseDirectory;

    /// <summary>Files are judged strictly: unknown top-level keys are errors there.</summary>
    public bool IsFile { get; } = isFile;

    /// <summary>The JSON bytes it was read from, for a JSON source.</summary>
    public byte[]? Bytes { get; private set; }

    /// <summary>Every key that holds a value, with that value.</summary>
    public IEnumerable<KeyValuePair<string, string>> Leaves() =>
        Root.AsEnumerable().Where(kv => kv.Value is not null).Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value!));

    public static ConfigSource JsonFile(string path, string? prefix = null) =>
        Json(path, File.ReadAllBytes(path), Path.GetDirectoryName(path)!, prefix);

    /// <summary>A JSON document held in memory (a committed cluster document), read like a file.</summary>
    /// <param name="description">How errors name it.</param>
    /// <param name="json">The document's bytes.</param>
    /// <param name="baseDirectory">Where relative paths in it resolve.</param>
    /// <param name="prefix">A section to put its keys under (<c>Cluster</c>), or null.</param>
    /// <exception cref="CohortStartupException">It is not a JSON object.</exception>
    public static ConfigSource Json(string description, ReadOnlyMemory<byte> json, string baseDirectory, string? prefix = null)
    {
        var keys = Flatten(description, json);
        if (prefix is null)
        {
            return new ConfigSource(description, new ConfigurationBuilder().AddInMemoryCollection(keys).Build(), baseDirectory, isFile: true) { Bytes = json.ToArray() };
        }

        var provider = new ReplaceableProvider(Prefixed(keys, prefix));
        return new ConfigSource(description, new ConfigurationBuilder().Add(provider).Build(), baseDirectory, isFile: true)
        {
            Bytes = json.ToArray(),
            _replaceable = (provider, prefix),
        };
    }

    /// <summary>Replaces the keys of a prefixed JSON source with those of <paramref name="json"/> and fires
    /// the configuration's reload token: how a committed cluster document reaches its readers.</summary>
    /// <exception cref="InvalidOperationException">The source is not a prefixed JSON source.</exception>
    public void Replace(string description, ReadOnlyMemory<byte> json)
    {
        var (provider, prefix) = _replaceable ?? throw new InvalidOperationException($"{Description} cannot be replaced");
        provider.Replace(Prefixed(Flatten(description, json), prefix));
        Bytes = json.ToArray();
    }

    private static List<KeyValuePair<string, string?>> Flatten(string description, ReadOnlyMemory<byte> json)
    {
        try
        {
            using var stream = new MemoryStream(json.ToArray(), writable: false);
            return [.. new ConfigurationBuilder().AddJsonStream(stream).Build().AsEnumerable().Where(kv => kv.Value is not null)];
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException or System.Text.Json.JsonException)
        {
            var reason = ex.InnerException?.Message ?? ex.Message;
            throw new CohortStartupException($"{description}: expected a JSON object: {reason}");
        }
    }

    private static IEnumerable<KeyValuePair<string, string?>> Prefixed(IEnumerable<KeyValuePair<string, string?>> keys, string prefix) =>
        keys.Select(kv => new KeyValuePair<string, string?>(prefix + ":" + kv.Key, kv.Value));

    /// <summary>An in-memory provider whose keys can be replaced as a whole, firing its reload token.</summary>
    private sealed class ReplaceableProvider : ConfigurationProvider, IConfigurationSource
    {
        public ReplaceableProvider(IEnumerable<KeyValuePair<string, string?>> keys) => Set(keys);

        public IConfigurationProvider Build(IConfigurationBuilder builder) => this;

        public void Replace(IEnumerable<KeyValuePair<string, string?>> keys)
        {
            Set(keys);
            OnReload();
        }

        private void Set(IEnumerable<KeyValuePair<string, string?>> keys) =>
            Data = new Dictionary<string, string?>(keys, StringComparer.OrdinalIgnoreCase);
    }
}
