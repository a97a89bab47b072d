using Microsoft.Extensions.Configuration;

namespace Cohort.Host.Configuration;

/// <summary>One configuration source kept apart, so that every problem can name where a key came from.</summary>
internal sealed class ConfigSource(string description, IConfigurationRoot root, string baseDirectory, bool isFile)
{
    /// <summary>How errors name the source: a file path, "environment (COHORT_*)" or "command line".</summary>
    public string Description { get; } = description;

    public IConfigurationRoot Root { get; } = root;

    /// <summary>Relative paths set by this source resolve against this directory.</summary>
    public string BaseDirectory { get; } = baseDirectory;

    /// <summary>Files are judged strictly: unknown top-level keys are errors there.</summary>
    public bool IsFile { get; } = isFile;

    /// <summary>Every key that holds a value, with that value.</summary>
    public IEnumerable<KeyValuePair<string, string>> Leaves() =>
        Root.AsEnumerable().Where(kv => kv.Value is not null).Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value!));

    public static ConfigSource JsonFile(string path, string? prefix = null)
    {
        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder().AddJsonFile(path, optional: false, reloadOnChange: false).Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException or System.Text.Json.JsonException)
        {
            var reason = ex.InnerException?.Message ?? ex.Message;
            throw new CohortStartupException($"{path}: expected a JSON object: {reason}");
        }

        if (prefix is not null)
        {
            var prefixed = root.AsEnumerable()
                .Where(kv => kv.Value is not null)
                .Select(kv => new KeyValuePair<string, string?>(prefix + ":" + kv.Key, kv.Value));
            root = new ConfigurationBuilder().AddInMemoryCollection(prefixed).Build();
        }

        return new ConfigSource(path, root, Path.GetDirectoryName(path)!, isFile: true);
    }
}
