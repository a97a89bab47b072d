using System.Text;
using Microsoft.Extensions.Options;

namespace Cohort.Host.Configuration;

/// <summary>Validates <see cref="NodeOptions"/>; each failure names the key path and what is expected.</summary>
public sealed class NodeOptionsValidator : IValidateOptions<NodeOptions>
{
    /// <summary>The longest Unix socket path Linux accepts (sun_path is 108 bytes with its NUL).</summary>
    public const int MaxSocketPathBytes = 107;

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, NodeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.Id < 1)
        {
            failures.Add($"Node:Id: expected a node id of at least 1, got {options.Id}");
        }

        if (options.Name is { } nodeName && !PluginNames.IsValid(nodeName))
        {
            failures.Add($"Node:Name: expected letters, digits, '-', '_' or '.', got \"{nodeName}\"");
        }

        if (string.IsNullOrWhiteSpace(options.Transport))
        {
            failures.Add("Node:Transport: expected a transport plugin name");
        }

        if (options.Listen is { } listen && !HostPort.IsValid(listen, allowAnyPort: true))
        {
            failures.Add($"Node:Listen: expected host:port, such as 127.0.0.1:7401, got \"{listen}\"");
        }

        for (var i = 0; i < options.Seeds.Count; i++)
        {
            if (!HostPort.IsValid(options.Seeds[i], allowAnyPort: false))
            {
                failures.Add($"Node:Seeds:{i}: expected host:port, such as 127.0.0.1:7402, got \"{options.Seeds[i]}\"");
            }
        }

        if (options.DrainTimeout < 1)
        {
            failures.Add($"Node:DrainTimeout: expected a number of seconds of at least 1, got {options.DrainTimeout}");
        }

        if (string.IsNullOrWhiteSpace(options.StateDirectory))
        {
            failures.Add("Node:StateDirectory: expected a directory path");
        }

        if (Encoding.UTF8.GetByteCount(options.EffectiveAdminSocket) > MaxSocketPathBytes)
        {
            failures.Add($"Node:AdminSocket: expected a path of at most {MaxSocketPathBytes} bytes (a Unix socket limit), got {options.EffectiveAdminSocket}");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
