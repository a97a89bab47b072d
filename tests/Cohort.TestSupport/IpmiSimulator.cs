using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Cohort.TestSupport;

/// <summary>
/// One simulated BMC: OpenIPMI's <c>ipmi_sim</c> on a free 127.0.0.1 UDP port, with a generated <c>lan.conf</c> (a
/// LAN channel with RMCP+, one admin user) and command file (a BMC at 0x20 with a chassis), whose chassis power
/// is a node's agent: its <c>chassis_control</c> program runs <c>cohort debug power --state DIR</c>, so powering the
/// BMC off kills the process group recorded in <c>DIR/agent.pid</c>.
/// </summary>
/// <remarks>
/// <para>ipmi_sim runs <c>CONTROL get power</c> (which must print <c>power:1</c> or <c>power:0</c>) and <c>CONTROL
/// set power "0"</c> or <c>"1"</c> through <c>popen</c>; a non-zero exit makes the chassis command fail. The
/// generated shell wrapper maps those to the verb and appends what the verb prints — <c>off</c> prints the
/// CLOCK_MONOTONIC time its group was seen empty — to <see cref="PowerLog"/>.</para>
/// <para>The simulator leads a process group of its own (started through <c>setsid</c>), killed with everything in
/// it by <see cref="Stop"/> and <see cref="Dispose"/>.</para>
/// <para>ipmi_sim does not answer ipmitool's "Get Channel Cipher Suites", after which ipmitool waits about 10 s
/// before it falls back: <see cref="FenceOptions"/> name cipher suite 3 (<c>cipher=3</c>) so nothing waits.</para>
/// </remarks>
public sealed partial class IpmiSimulator : IDisposable
{
    /// <summary>The ipmitool binary fence_ipmilan drives, and the readiness probe uses.</summary>
    public const string Ipmitool = "/usr/bin/ipmitool";

    /// <summary>The cipher suite every client names (RMCP+ with HMAC-SHA1 and AES-CBC-128).</summary>
    public const string Cipher = "3";

    private const string Simulator = "/usr/bin/ipmi_sim";

    private readonly TempDirectory _directory = new("cohort-bmc-");
    private readonly StringBuilder _output = new();
    private Process? _process;
    private bool _stopped;

    private IpmiSimulator(string stateDirectory, int port, string username, string password)
    {
        StateDirectory = stateDirectory;
        Port = port;
        Username = username;
        Password = password;
    }

    /// <summary>The state directory of the node this BMC powers.</summary>
    public string StateDirectory { get; }

    /// <summary>The UDP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>The admin user's name.</summary>
    public string Username { get; }

    /// <summary>The admin user's password.</summary>
    public string Password { get; }

    /// <summary>Where the chassis_control wrapper appends each call and what the power verb printed.</summary>
    public string PowerLog => _directory.Combine("power.log");

    /// <summary>The simulator's pid (it leads its group), or 0 before it started.</summary>
    public int Pid => _process?.Id ?? 0;

    /// <summary>What ipmi_sim printed, for a failing test's message.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The fence_ipmilan options (by their fence-agents names) that reach this BMC as its admin.</summary>
    public IReadOnlyDictionary<string, string> FenceOptions(string? password = null) => new Dictionary<string, string>
    {
        ["ip"] = "127.0.0.1",
        ["ipport"] = Port.ToString(CultureInfo.InvariantCulture),
        ["username"] = Username,
        ["password"] = password ?? Password,
        ["lanplus"] = "1",
        ["cipher"] = Cipher,
    };

    /// <summary>The CLOCK_MONOTONIC times (seconds) at which the power verb saw the node's group empty, in order.</summary>
    public IReadOnlyList<double> PoweredOffAt() =>
        File.Exists(PowerLog)
            ? [.. GoneLine().Matches(File.ReadAllText(PowerLog)).Select(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))]
            : [];

    /// <summary>Starts a simulator whose chassis is the node of <paramref name="stateDirectory"/>, and waits until it
    /// answers an RMCP+ session as its admin.</summary>
    /// <param name="stateDirectory">The node's state directory (its <c>agent.pid</c> need not exist yet).</param>
    /// <param name="cohort">The cohort program whose <c>debug power</c> verb the chassis runs; the built CLI by default.</param>
    /// <param name="port">The UDP port, or a free one.</param>
    /// <param name="username">The admin user.</param>
    /// <param name="password">Its password.</param>
    public static async Task<IpmiSimulator> StartAsync(string stateDirectory, string? cohort = null, int? port = null, string username = "admin", string password = "secret")
    {
        var simulator = new IpmiSimulator(Path.GetFullPath(stateDirectory), port ?? Ports.Free(1)[0], username, password);
        try
        {
            simulator.Write(cohort ?? RepoPaths.Cohort);
            await simulator.StartAsync();
            return simulator;
        }
        catch
        {
            simulator.Dispose();
            throw;
        }
    }

    /// <summary>Runs <c>ipmitool -I lanplus ... ARGS</c> against this BMC once (1 s per try, one retry).</summary>
    /// <returns>Its exit code and output (stdout, then stderr).</returns>
    public async Task<(int Code, string Output)> IpmitoolAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(Ipmitool) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in (string[])["-I", "lanplus", "-C", Cipher, "-N", "1", "-R", "1", "-H", "127.0.0.1", "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", Username, "-P", Password, .. arguments])
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return (-1, "ipmitool did not exit within 30 s");
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>Kills the simulator and everything in its group (a chassis_control call included), and waits until
    /// it has exited: the BMC is down, and its port answers nothing.</summary>
    public void Stop()
    {
        // Once reaped, its pid (and so the group id) may be anyone's: kill only while it is ours.
        if (_process is null || _stopped)
        {
            return;
        }

        VictimGroup.KillGroup(_process.Id);
        _process.WaitForExit();
        _stopped = true;
    }

    /// <summary>Stops the simulator and removes its directory.</summary>
    public void Dispose()
    {
        Stop();
        _process?.Dispose();
        _directory.Dispose();
    }

    private void Write(string cohort)
    {
        foreach (var path in new[] { cohort, StateDirectory, _directory.Path })
        {
            if (path.Contains('\'', StringComparison.Ordinal) || path.Contains('"', StringComparison.Ordinal))
            {
                throw new ArgumentException($"{path}: a path with quotes cannot go into the generated shell wrapper");
            }
        }

        var control = _directory.WriteExecutable("chassis-control", $"""
            #!/bin/sh
            # ipmi_sim's chassis_control: "get power" prints power:1 or power:0, "set power 0|1" switches.
            cohort='{cohort}'
            state='{StateDirectory}'
            log='{PowerLog}'
            echo "chassis_control $*" >> "$log"
            case "$1 $2" in
            "get power")
                status=$("$cohort" debug power --state "$state" status 2>>"$log")
                code=$?
                echo "status: $status (exit $code)" >> "$log"
                [ $code = 0 ] || exit 1
                case "$status" in
                on) echo power:1 ;;
                off) echo power:0 ;;
                *) exit 1 ;;
                esac
                exit 0
                ;;
            "set power")
                case "$3" in
                0) exec "$cohort" debug power --state "$state" off >> "$log" 2>&1 ;;
                1) exec "$cohort" debug power --state "$state" on >> "$log" 2>&1 ;;
                esac
                exit 1
                ;;
            esac
            exit 1

            """);
        _directory.Write("lan.conf", $"""
            name "cohort-bmc"
            set_working_mc 0x20
              startlan 1
                addr 127.0.0.1 {Port.ToString(CultureInfo.InvariantCulture)}
                priv_limit admin
                allowed_auths_callback none md2 md5 straight
                allowed_auths_user none md2 md5 straight
                allowed_auths_operator none md2 md5 straight
                allowed_auths_admin none md2 md5 straight
                guid a123456789abcdefa123456789abcdef
              endlan
              chassis_control "{control}"
            user 2 true "{Username}" "{Password}" admin 10 none md2 md5 straight

            """);
        // A BMC at 0x20: device id 0, revision 3, firmware 9.08, IPMI 2.0, device support 0x9f (chassis among it).
        _directory.Write("bmc.emu", """
            mc_setbmc 0x20
            mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02
            mc_enable 0x20

            """);
        Directory.CreateDirectory(_directory.Combine("state"));
    }

    private async Task StartAsync()
    {
        var start = new ProcessStartInfo("/usr/bin/setsid")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory.Path,
        };
        // setsid does not fork when its caller leads no group (a child .NET starts never does): the pid is ipmi_sim's.
        foreach (var argument in new[] { Simulator, "-c", _directory.Combine("lan.conf"), "-f", _directory.Combine("bmc.emu"), "-s", _directory.Combine("state"), "-n", "-p" })
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        // "mc info", not "chassis power status": the latter runs the power verb, which fails until an agent wrote its record.
        var answered = "";
        try
        {
            await Poll.UntilAsync($"ipmi_sim on 127.0.0.1:{Port} to answer an RMCP+ session as {Username}", async () =>
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"ipmi_sim exited with {_process.ExitCode}: {Output}");
                }

                var (code, output) = await IpmitoolAsync("mc", "info");
                answered = output;
                return code == 0 ? output : null;
            });
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}; ipmitool said: {answered}; ipmi_sim said: {Output}", ex);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    [GeneratedRegex(@"gone at monotonic (\d+\.\d+)")]
    private static partial Regex GoneLine();
}
