using System.Globalization;
using Cohort.Fencing.Agents;
using Cohort.Membership;
using Cohort.Plugins;
using Microsoft.Extensions.Configuration;

namespace Cohort.Fencing.Script;

/// <summary>
/// The <c>script</c> fence agent: runs <c>Command</c> with <c>Arguments</c>, telling it the operation in its
/// environment — <c>COHORT_FENCE_ACTION</c> (<c>off</c>, <c>reboot</c>, <c>on</c>, <c>status</c>,
/// <c>monitor</c>), <c>COHORT_FENCE_NODE</c>, <c>COHORT_FENCE_NODE_ID</c>, <c>COHORT_FENCE_INCARNATION</c>,
/// <c>COHORT_FENCE_PLUG</c> (empty for monitor) and <c>COHORT_FENCE_DEVICE</c>.
/// </summary>
/// <remarks>
/// <para>Exit 0 is success; for status, 0 means on and 2 means off (the fence-agents convention); any other exit
/// fails, with the last lines of stderr as the detail.</para>
/// <para>The program leads a process group of its own. When the operation is cancelled (the device's timeout),
/// and when the program exits, the whole group is killed: a fence program must not leave processes behind.</para>
/// </remarks>
public sealed class ScriptFenceAgent : IFenceAgent
{
    /// <summary>The program to run: an absolute path.</summary>
    public const string CommandKey = "Command";

    /// <summary>Its arguments: an array of strings; optional.</summary>
    public const string ArgumentsKey = "Arguments";

    /// <inheritdoc />
    public IEnumerable<ConfigProblem> Validate(IConfigurationSection device, IReadOnlyList<ClusterNode> nodes)
    {
        ArgumentNullException.ThrowIfNull(device);
        var problems = DeviceKeys.Unknown(device, ScriptPlugin.Name, CommandKey, ArgumentsKey).ToList();
        if (device[CommandKey] is not { Length: > 0 } command || !Path.IsPathFullyQualified(command))
        {
            problems.Add(new ConfigProblem(DeviceKeys.PathOf(device, CommandKey), "the absolute path of the program to run", device[CommandKey]));
        }

        var arguments = device.GetSection(ArgumentsKey);
        if (arguments.Value is not null)
        {
            problems.Add(new ConfigProblem(arguments.Path, "an array of strings", arguments.Value));
        }

        var index = 0;
        foreach (var argument in arguments.GetChildren().OrderBy(c => int.TryParse(c.Key, CultureInfo.InvariantCulture, out var i) ? i : int.MaxValue))
        {
            if (argument.Key != index.ToString(CultureInfo.InvariantCulture) || argument.Value is null)
            {
                problems.Add(new ConfigProblem(argument.Path, "a string (Arguments is an array of strings)", argument.Value));
            }

            index++;
        }

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

        var command = request.Options[CommandKey];
        if (command is not { Length: > 0 })
        {
            return FenceOutcome.Failed($"device {request.Device} has no {CommandKey}");
        }

        var action = request.Action.ToString().ToLowerInvariant();
        var environment = new Dictionary<string, string>
        {
            ["COHORT_FENCE_ACTION"] = action,
            ["COHORT_FENCE_NODE"] = request.TargetName ?? "",
            ["COHORT_FENCE_NODE_ID"] = request.Target?.Node.ToString() ?? "",
            ["COHORT_FENCE_INCARNATION"] = request.Target?.Incarnation.ToString(CultureInfo.InvariantCulture) ?? "",
            ["COHORT_FENCE_PLUG"] = request.Plug ?? "",
            ["COHORT_FENCE_DEVICE"] = request.Device,
        };
        var arguments = request.Options.GetSection(ArgumentsKey).GetChildren()
            .OrderBy(c => int.Parse(c.Key, CultureInfo.InvariantCulture))
            .Select(c => c.Value ?? "");
        var run = await GroupProcess.RunAsync(command, arguments, environment, stdin: null, cancellationToken);
        if (run.Error is not null || run.ExitCode is not { } code)
        {
            return new FenceOutcome(cancellationToken.IsCancellationRequested ? FenceResult.Timeout : FenceResult.Unknown, $"{command} {action}: {run.Error}");
        }

        return (request.Action, code) switch
        {
            (FenceAction.Status, 0) => FenceOutcome.Succeeded($"{command} status: on", FencePower.On),
            (FenceAction.Status, 2) => FenceOutcome.Succeeded($"{command} status: off", FencePower.Off),
            (_, 0) => FenceOutcome.Succeeded($"{command} {action}: exit 0"),
            _ => FenceOutcome.Failed($"{command} {action}: exit {code}: {run.LastLines()}"),
        };
    }
}
