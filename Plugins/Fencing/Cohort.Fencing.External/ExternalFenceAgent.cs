using System.Collections.Concurrent;
using System.Text;
using Cohort.Fencing.Agents;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.External;

/// <summary>
/// The <c>external</c> fence agent: runs a program of the fence-agents protocol (<c>fence_ipmilan</c>,
/// <c>fence_apc</c>, <c>fence_dummy</c>, ...) once per operation, writing <c>key=value</c> lines on its stdin —
/// <c>action</c>, <c>plug</c> (or <c>port</c>, for a program that only knows that), <c>nodename</c>, then each of
/// the device's <c>Options</c> — and reading its exit code.
/// </summary>
/// <remarks>
/// <para>Keys: <c>Program</c> (required: a name searched in <c>PATH</c>, <c>/usr/sbin</c> and <c>/sbin</c>, or an
/// absolute path) and <c>Options</c> (an object of the program's options by their fence-agents names, such as
/// <c>{"ip": "10.0.0.5", "username": "admin", "password": "secret", "lanplus": "1"}</c>).</para>
/// <para>Exit codes: 0 is success (for status: on), 2 is off for status, 1 is a failure; any other exit, or a
/// program killed by a signal, leaves the target's state unknown.</para>
/// <para>Validation runs <c>PROGRAM -o metadata</c> once per program for the life of the process and reports
/// options the program does not know and required ones that are missing.</para>
/// <para>The program leads a process group of its own, killed when the operation is cancelled (the device's
/// timeout) and when the program exits.</para>
/// </remarks>
public sealed class ExternalFenceAgent : IFenceAgent
{
    /// <summary>The program key.</summary>
    public const string ProgramKey = "Program";

    /// <summary>The options key.</summary>
    public const string OptionsKey = "Options";

    /// <summary>The stdin keys the agent writes itself; an option may not set them.</summary>
    private static readonly string[] Supplied = ["action", "plug", "port", "nodename"];

    private static readonly string[] Booleans = ["1", "yes", "on", "true", "0", "no", "off", "false"];

    /// <summary>Options every fence-agents program has, which say nothing about a particular one.</summary>
    private static readonly string[] Generic = ["action", "plug", "port", "nodename", "help", "version", "quiet", "verbose", "verbose_level", "debug", "debug_file", "plug_separator"];

    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, FenceAgentMetadata> _metadata = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection device, IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(device);
        var problems = DeviceKeys.Unknown(device, ExternalPlugin.Name, ProgramKey, OptionsKey).ToList();
        var options = device.GetSection(OptionsKey);
        if (options.Value is not null)
        {
            problems.Add(new ConfigProblem(options.Path, "an object of fence-agents options, such as {\"ip\": \"10.0.0.5\"}", options.Value));
        }

        var given = new List<IConfigurationSection>();
        foreach (var option in options.GetChildren())
        {
            if (option.Value is null)
            {
                problems.Add(new ConfigProblem(option.Path, "a string (fence-agents options are key=value lines)", "an object or array"));
            }
            else if (option.Value.AsSpan().ContainsAny('\n', '\r'))
            {
                problems.Add(new ConfigProblem(option.Path, "a value on one line (fence-agents options are key=value lines)", option.Value));
            }
            else if (Supplied.Contains(option.Key.Replace('-', '_'), StringComparer.OrdinalIgnoreCase))
            {
                problems.Add(new ConfigProblem(option.Path, "no such option: the host supplies action, plug (from HostMap) and nodename", option.Value));
            }
            else
            {
                given.Add(option);
            }
        }

        var program = DescribeProgram(device, problems);
        if (program is null)
        {
            return problems;
        }

        FenceAgentMetadata metadata;
        try
        {
            using var timeout = new CancellationTokenSource(MetadataTimeout);
            metadata = GetMetadataAsync(program, timeout.Token).GetAwaiter().GetResult();
        }
        catch (FormatException ex)
        {
            problems.Add(new ConfigProblem(DeviceKeys.PathOf(device, ProgramKey), $"a fence-agents program that describes itself with -o metadata ({program}: {ex.Message})", device[ProgramKey]));
            return problems;
        }

        problems.AddRange(CheckOptions(metadata, options, given));
        return problems;
    }

    /// <inheritdoc />
    public async Task<FenceOutcome> RunAsync(FenceRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Action != FenceAction.Monitor && DeviceKeys.NoTarget(request) is { } noTarget)
        {
            return noTarget;
        }

        if (Resolve(request.Options[ProgramKey]) is not { } program)
        {
            return FenceOutcome.Failed($"device {request.Device}: program \"{request.Options[ProgramKey]}\" not found in PATH, /usr/sbin or /sbin");
        }

        var action = request.Action.ToString().ToLowerInvariant();
        var lines = new StringBuilder().Append("action=").Append(action).Append('\n');
        if (request.Action != FenceAction.Monitor)
        {
            if (await PlugKeyAsync(program, cancellationToken) is { Length: > 0 } plugKey)
            {
                lines.Append(plugKey).Append('=').Append(request.Plug ?? request.TargetName).Append('\n');
            }

            lines.Append("nodename=").Append(request.TargetName).Append('\n');
        }

        var run = await RunProgramAsync(program, lines, request.Options, cancellationToken);
        var name = Path.GetFileName(program);
        if (run.Error is not null || run.ExitCode is not { } code)
        {
            return new FenceOutcome(cancellationToken.IsCancellationRequested ? FenceResult.Timeout : FenceResult.Unknown, $"{name} {action}: {run.Error}");
        }

        var said = run.LastLines();
        return (request.Action, code) switch
        {
            (FenceAction.Status, 0) => FenceOutcome.Succeeded($"{name} status: on ({said})", FencePower.On),
            (FenceAction.Status, 2) => FenceOutcome.Succeeded($"{name} status: off ({said})", FencePower.Off),
            (_, 0) => FenceOutcome.Succeeded($"{name} {action}: {said}"),
            (_, 1) => FenceOutcome.Failed($"{name} {action} failed: {said}"),
            _ => new FenceOutcome(FenceResult.Unknown, $"{name} {action}: exit {code}, outside the fence-agents protocol: {said}"),
        };
    }

    /// <summary>Runs the program's own check of a device's options (<c>action=validate-all</c>): not part of
    /// <see cref="Validate"/>, since the program may contact the device.</summary>
    /// <param name="device">The device's section.</param>
    /// <param name="cancellationToken">Cancels the check; the program's group is killed.</param>
    /// <returns>Success when the program accepts the options.</returns>
    public static async Task<FenceOutcome> ValidateAllAsync(IConfiguration device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Resolve(device[ProgramKey]) is not { } program)
        {
            return FenceOutcome.Failed($"program \"{device[ProgramKey]}\" not found in PATH, /usr/sbin or /sbin");
        }

        var run = await RunProgramAsync(program, new StringBuilder("action=validate-all\n"), device, cancellationToken);
        return run.ExitCode == 0 && run.Error is null
            ? FenceOutcome.Succeeded($"{Path.GetFileName(program)} validate-all: {run.LastLines()}")
            : FenceOutcome.Failed($"{Path.GetFileName(program)} validate-all: {run.Error ?? "exit " + run.ExitCode}: {run.LastLines()}");
    }

    /// <summary>Finds a program: an absolute path as it is, a bare name in <c>PATH</c>, then <c>/usr/sbin</c>
    /// and <c>/sbin</c> (where fence-agents installs, often outside a service's <c>PATH</c>).</summary>
    /// <returns>The program's path, or null when there is no such executable.</returns>
    internal static string? Resolve(string? program)
    {
        if (string.IsNullOrEmpty(program))
        {
            return null;
        }

        if (program.Contains('/', StringComparison.Ordinal))
        {
            return Path.IsPathFullyQualified(program) && IsExecutable(program) ? program : null;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin").Append("/sbin")
            .Select(directory => Path.Combine(directory, program))
            .FirstOrDefault(IsExecutable);
    }

    /// <summary>The program's metadata, from the cache or from running <c>PROGRAM -o metadata</c>.</summary>
    /// <exception cref="FormatException">It did not print usable metadata.</exception>
    internal async Task<FenceAgentMetadata> GetMetadataAsync(string program, CancellationToken cancellationToken)
    {
        if (_metadata.TryGetValue(program, out var cached))
        {
            return cached;
        }

        var run = await GroupProcess.RunAsync(program, ["-o", "metadata"], null, stdin: null, cancellationToken);
        if (run.Error is not null || run.ExitCode != 0)
        {
            throw new FormatException($"-o metadata: {run.Error ?? "exit " + run.ExitCode}: {run.LastLines()}");
        }

        // Only a success is cached: a program installed or fixed later is then seen.
        return _metadata.GetOrAdd(program, FenceAgentMetadata.Parse(run.Stdout));
    }

    private static bool IsExecutable(string path) =>
        File.Exists(path) && (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;

    private static string? DescribeProgram(IConfiguration device, List<ConfigProblem> problems)
    {
        const string expected = "the fence-agents program to run: a name searched in PATH, /usr/sbin and /sbin (fence_ipmilan), or an absolute path";
        var key = DeviceKeys.PathOf(device, ProgramKey);
        if (DeviceKeys.NotAString(device, ProgramKey, expected) is { } notAString)
        {
            problems.Add(notAString);
            return null;
        }

        if (device[ProgramKey] is not { Length: > 0 } name)
        {
            problems.Add(new ConfigProblem(key, expected));
            return null;
        }

        if (Resolve(name) is not { } program)
        {
            problems.Add(new ConfigProblem(key, expected + "; no such executable here", name));
            return null;
        }

        return program;
    }

    private static IEnumerable<ConfigProblem> CheckOptions(FenceAgentMetadata metadata, IConfigurationSection options, List<IConfigurationSection> given)
    {
        var agent = metadata.Agent.Length > 0 ? metadata.Agent : "the program";
        var known = new HashSet<FenceParameter>();
        foreach (var option in given)
        {
            if (metadata.Find(option.Key) is not { } parameter)
            {
                var some = metadata.Parameters.Where(p => !p.Deprecated && !Generic.Contains(p.Name))
                    .OrderByDescending(p => p.Required).Take(8).Select(p => p.Name);
                yield return new ConfigProblem(option.Path, $"an option {agent} knows, such as {string.Join(", ", some)} (see {agent} -o metadata)", option.Key);
                continue;
            }

            known.Add(parameter);
            if (parameter.Type == "boolean" && !Booleans.Contains(option.Value, StringComparer.OrdinalIgnoreCase))
            {
                yield return new ConfigProblem(option.Path, $"a boolean ({string.Join(", ", Booleans)}): {parameter.Description}", option.Value);
            }
        }

        foreach (var parameter in metadata.Parameters.Where(p => p.Required && !p.Deprecated && !Supplied.Contains(p.Name)))
        {
            if (!metadata.Aliases(parameter).Any(known.Contains))
            {
                yield return new ConfigProblem(options.Path + ":" + parameter.Name, $"required by {agent}: {parameter.Description}");
            }
        }
    }

    private async Task<string> PlugKeyAsync(string program, CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await GetMetadataAsync(program, cancellationToken);
            // A program that knows no plug (fence_dummy) would only warn about it; one that knows only the old name gets that.
            return metadata.Find("plug") is not null ? "plug" : metadata.Find("port") is not null ? "port" : "";
        }
        catch (FormatException)
        {
            return "plug";
        }
    }

    private static Task<ProgramRun> RunProgramAsync(string program, StringBuilder lines, IConfiguration device, CancellationToken cancellationToken)
    {
        foreach (var option in device.GetSection(OptionsKey).GetChildren().Where(o => o.Value is not null))
        {
            lines.Append(option.Key).Append('=').Append(option.Value).Append('\n');
        }

        return GroupProcess.RunAsync(program, [], null, lines.ToString(), cancellationToken);
    }
}
