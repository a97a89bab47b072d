using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Cohort.Ccs;
using Cohort.Dlm;
using Cohort.Fencing;
using Cohort.Host;
using Cohort.Host.Simulation;
using Cohort.Membership;
using Cohort.Quorum;
using Cohort.Quorum.WitnessFile;
using Cohort.Quorum.WitnessNode;
using Cohort.Simulation;

namespace Cohort.Cli.Commands;

/// <summary>
/// <c>cohort simulate</c>: the real cores under the deterministic simulator with random faults and
/// every checker attached. Exit 0 when nothing was violated, 1 when something was.
/// </summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        var cluster = new Option<FileInfo?>("--cluster") { Description = "A cluster file to simulate (its nodes, votes, policy and timings). Default: --nodes nodes under --policy with its defaults." };
        var nodes = new Option<int>("--nodes") { Description = "How many nodes to generate without --cluster.", DefaultValueFactory = _ => 5 };
        var policy = new Option<string?>("--policy") { Description = "The quorum policy plugin (default: the cluster file's, else votequorum)." };
        var plugins = new Option<DirectoryInfo?>("--plugins") { Description = "The plugin directory (default: plugins/ next to the cohort program)." };
        var seed = new Option<ulong>("--seed") { Description = "The first schedule's seed; the next schedules take the following seeds.", DefaultValueFactory = _ => 1UL };
        var seeds = new Option<int?>("--seeds") { Description = "At most this many schedules." };
        var seconds = new Option<double>("--seconds") { Description = "Wall-clock budget in seconds: no schedule starts after it (the first always completes).", DefaultValueFactory = _ => 20 };
        var span = new Option<double>("--span") { Description = "Simulated seconds each schedule covers.", DefaultValueFactory = _ => 120 };
        var device = new Option<string?>("--device") { Description = "The quorum device (default: the cluster file's, else none; \"none\" for none): witness-node." };
        var mutant = new Option<string?>("--mutant") { Description = "Run a deliberately broken core: " + string.Join(", ", MutantNames) + "." };
        var ccs = new Option<bool>("--ccs") { Description = "Run CCS, the cluster configuration system, beside membership, with proposers on random nodes and crashes around commits; check invariant 4. Implied by a CCS mutant." };
        var fencing = new Option<bool>("--fencing") { Description = "Run the fencing orchestrator beside membership, with fence devices that crash their victims (or time out, or fail); check invariant 2. Implied by a fencing mutant, and by a --cluster file with fencing levels (its devices and delays; a two-node file runs fence races)." };
        var services = new Option<string[]>("--services") { Description = "Services to run beside membership: ccs, fencing, or dlm (the lock manager with fencing and lock clients on every node; checks invariant 3). Implied by a mutant of the service.", AllowMultipleArgumentsPerToken = true };
        services.AcceptOnlyFromAmong("ccs", "fencing", "dlm");
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("simulate", "Run the real cores under the deterministic simulator with random faults; report invariant violations.")
        {
            cluster, nodes, policy, device, plugins, seed, seeds, seconds, span, mutant, ccs, fencing, services, json,
        };
        command.SetAction((parse, cancellationToken) => CohortCommand.Guard(() =>
        {
            var mutantName = parse.GetValue(mutant);
            var broken = MembershipMutant.None;
            var brokenCcs = CcsMutant.None;
            var brokenFencing = FencingMutant.None;
            var brokenDlm = DlmMutant.None;
            if (mutantName is not null && !SimulationSetupLoader.Mutants.TryGetValue(mutantName, out broken) && !CcsMutants.TryGetValue(mutantName, out brokenCcs) && !FencingMutants.TryGetValue(mutantName, out brokenFencing) && !DlmMutants.TryGetValue(mutantName, out brokenDlm))
            {
                throw new CohortStartupException($"--mutant: expected one of {string.Join(", ", MutantNames)}, got \"{mutantName}\"", ExitCodes.Usage);
            }

            var named = parse.GetValue(services) ?? [];
            var wantCcs = parse.GetValue(ccs) || named.Contains("ccs") || brokenCcs != CcsMutant.None;
            var wantFencing = parse.GetValue(fencing) || named.Contains("fencing") || brokenFencing != FencingMutant.None;
            var wantDlm = named.Contains("dlm") || brokenDlm != DlmMutant.None;
            if ((wantCcs ? 1 : 0) + (wantFencing ? 1 : 0) + (wantDlm ? 1 : 0) > 1)
            {
                throw new CohortStartupException("--services: one of ccs, fencing and dlm beside membership at a time (dlm runs fencing with it)", ExitCodes.Usage);
            }

            if (parse.GetValue(span) is var spanSeconds && spanSeconds is <= 0 or > 86_400)
            {
                throw new CohortStartupException($"--span: expected simulated seconds from 0 to 86400, got {spanSeconds}", ExitCodes.Usage);
            }

            var setup = SimulationSetupLoader.Load(
                parse.GetValue(cluster)?.FullName,
                parse.GetValue(nodes),
                parse.GetValue(policy),
                parse.GetValue(plugins)?.FullName ?? Path.Combine(AppContext.BaseDirectory, "plugins"),
                broken,
                parse.GetValue(device),
                out var topology);
            setup = WithWitness(setup);
            var runCcs = wantCcs;
            var report = wantDlm
                ? RunDlm(setup, brokenDlm, parse.GetValue(seed), parse.GetValue(seeds) ?? int.MaxValue, TimeSpan.FromSeconds(parse.GetValue(seconds)), TimeSpan.FromSeconds(spanSeconds))
                : runCcs
                ? RunCcs(setup, brokenCcs, parse.GetValue(seed), parse.GetValue(seeds) ?? int.MaxValue, TimeSpan.FromSeconds(parse.GetValue(seconds)), TimeSpan.FromSeconds(spanSeconds))
                : topology is not null && setup.Nodes.Count == 2
                ? RunRace(setup, topology, brokenFencing, parse.GetValue(seed), parse.GetValue(seeds) ?? int.MaxValue, TimeSpan.FromSeconds(parse.GetValue(seconds)), TimeSpan.FromSeconds(spanSeconds))
                : wantFencing || topology is not null
                ? RunFencing(setup, topology, brokenFencing, parse.GetValue(seed), parse.GetValue(seeds) ?? int.MaxValue, TimeSpan.FromSeconds(parse.GetValue(seconds)), TimeSpan.FromSeconds(spanSeconds))
                : SimulationRunner.Run(new SimulationRequest
                {
                    Setup = _ => setup,
                    Seed = parse.GetValue(seed),
                    MaxSchedules = parse.GetValue(seeds) ?? int.MaxValue,
                    Budget = TimeSpan.FromSeconds(parse.GetValue(seconds)),
                    Span = TimeSpan.FromSeconds(spanSeconds),
                });
            if (parse.GetValue(json))
            {
                WriteJson(report, setup, parse.GetValue(seed), spanSeconds);
            }
            else
            {
                WriteText(report, setup, parse.GetValue(seed), spanSeconds);
            }

            return Task.FromResult(report.Violations.Count == 0 ? 0 : 1);
        }));
        return command;
    }

    /// <summary>The CCS mutants by their command-line names.</summary>
    private static readonly IReadOnlyDictionary<string, CcsMutant> CcsMutants = new Dictionary<string, CcsMutant>(StringComparer.Ordinal)
    {
        ["ack-before-fsync"] = CcsMutant.AckBeforeFsync,
        ["number-only-compare"] = CcsMutant.NumberOnlyCompare,
    };

    /// <summary>The fencing mutants by their command-line names.</summary>
    private static readonly IReadOnlyDictionary<string, FencingMutant> FencingMutants = new Dictionary<string, FencingMutant>(StringComparer.Ordinal)
    {
        ["gate-on-timeout"] = FencingMutant.GateOnTimeout,
        ["no-delay"] = FencingMutant.NoDelay,
        ["no-overrule"] = FencingMutant.NoOverrule,
    };

    /// <summary>The lock-manager mutants by their command-line names.</summary>
    private static readonly IReadOnlyDictionary<string, DlmMutant> DlmMutants = new Dictionary<string, DlmMutant>(StringComparer.Ordinal)
    {
        ["ignore-convert-queue"] = DlmMutant.IgnoreConvertQueue,
        ["skip-stop-barrier"] = DlmMutant.SkipStopBarrier,
        ["token-reset"] = DlmMutant.TokenReset,
    };

    private static IEnumerable<string> MutantNames => SimulationSetupLoader.Mutants.Keys.Concat(CcsMutants.Keys).Concat(FencingMutants.Keys).Concat(DlmMutants.Keys);

    /// <summary>Schedules of the lock manager (with fencing and lock clients) beside membership
    /// (<see cref="DlmSimulation"/>), reported like the membership ones (faults: those of the fault plan); stops at
    /// the first violation.</summary>
    private static SimulationReport RunDlm(ClusterSetup setup, DlmMutant mutant, ulong first, int maxSchedules, TimeSpan budget, TimeSpan span)
    {
        long grants = 0, tokens = 0, reads = 0, recoveries = 0, checks = 0;
        var report = RunUntilViolation(first, maxSchedules, budget, seed =>
        {
            var (cluster, checker) = DlmSimulation.RunOne(setup, new DlmSystem(mutant), seed, span);
            grants += checker.Grants;
            tokens += checker.TokenGrants;
            reads += checker.ValueReads;
            recoveries += checker.Recoveries;
            checks += checker.LivenessChecks;
            return (cluster, checker.Recoveries);
        });
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"dlm: {grants} grants ({tokens} PW/EX with tokens), {reads} valid value-block reads, {recoveries} lockspace recoveries finished (over all nodes), {checks} calm-period liveness checks"));
        return report;
    }

    /// <summary>Schedules of the fencing orchestrator beside membership (<see cref="FencingSimulation"/>), reported
    /// like the membership ones (faults: live victims a device killed); stops at the first violation.</summary>
    private static SimulationReport RunFencing(ClusterSetup setup, FencingTopology? topology, FencingMutant mutant, ulong first, int maxSchedules, TimeSpan budget, TimeSpan span)
    {
        long operations = 0, timeouts = 0, gates = 0;
        var report = RunUntilViolation(first, maxSchedules, budget, seed =>
        {
            var (cluster, checker) = FencingSimulation.RunOne(setup, seed, span, mutant, topology: topology);
            operations += checker.Operations;
            timeouts += checker.Timeouts;
            gates += checker.GatesOpened;
            return (cluster, checker.Kills);
        });
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fencing: {operations} fence operations, {report.Faults} live victims killed by a device, {timeouts} timeouts, {gates} gates opened"));
        return report;
    }

    /// <summary>Two-node fence races (<see cref="RaceSimulation"/>) under the cluster file's devices and delays,
    /// reported like the membership ones (faults: splits); stops at the first violation.</summary>
    private static SimulationReport RunRace(ClusterSetup setup, FencingTopology topology, FencingMutant mutant, ulong first, int maxSchedules, TimeSpan budget, TimeSpan span)
    {
        long decided = 0, survived = 0, doubles = 0;
        TimeSpan gap = TimeSpan.Zero, skew = TimeSpan.Zero;
        var report = RunUntilViolation(first, maxSchedules, budget, seed =>
        {
            // A mutant runs under the nemesis that catches it: gate-on-timeout needs devices that time out.
            var options = new RaceOptions { TimeoutChance = mutant == FencingMutant.GateOnTimeout ? 0.5 : 0 };
            var (cluster, checker) = RaceSimulation.RunOne(setup, topology, seed, span, mutant, options);
            decided += checker.Decided;
            survived += checker.Survived;
            doubles += checker.DoubleFences;
            gap = checker.Gap;
            skew = checker.LargestSkew > skew ? checker.LargestSkew : skew;
            return (cluster, checker.Splits);
        });
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"fence races: {report.Faults} splits, {survived} with one survivor, {doubles} double fences; {decided} decided by the delays (gap {gap.TotalSeconds:0.###} s, largest detection skew {skew.TotalMilliseconds:F1} ms)"));
        return report;
    }

    /// <summary>Schedules of CCS beside membership (<see cref="ConfigSimulation"/>), reported like the
    /// membership ones (faults: the crashes around commits). A mutant runs under the nemesis that catches
    /// it: commits hit hard, nothing else going on.</summary>
    private static SimulationReport RunCcs(ClusterSetup setup, CcsMutant mutant, ulong first, int maxSchedules, TimeSpan budget, TimeSpan span)
    {
        if (setup.Nodes.Count < 3 || !setup.Nodes.Select(n => n.Id.Value).Order().SequenceEqual(Enumerable.Range(1, setup.Nodes.Count)))
        {
            throw new CohortStartupException("--ccs: the CCS simulation needs at least 3 nodes with ids 1..N (its documents move votes among them)", ExitCodes.Usage);
        }

        long proposals = 0, commits = 0, versions = 0;
        var nemesis = mutant == CcsMutant.None ? ConfigNemesis.Default : ConfigNemesis.LostAcknowledgements;
        var report = RunUntilViolation(first, maxSchedules, budget, seed =>
        {
            var (cluster, checker) = ConfigSimulation.RunOne(setup, new CcsSystem(mutant), seed, span, nemesis: nemesis);
            proposals += checker.Proposals;
            commits += checker.Commits;
            versions += checker.HighestVersion - 1;
            return (cluster, checker.Nemeses);
        });
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ccs: {proposals} proposals, {commits} answered committed, {versions} versions committed, {report.Faults} crashes around commits"));
        return report;
    }

    /// <summary>Runs schedules of a service simulation from <paramref name="first"/> until the budget, the
    /// schedule cap or the first violation.</summary>
    /// <param name="first">The first schedule's seed.</param>
    /// <param name="maxSchedules">The most schedules to run.</param>
    /// <param name="budget">Wall-clock budget: no schedule starts after it (the first always runs).</param>
    /// <param name="schedule">Runs one schedule; returns its cluster and the faults it counts.</param>
    private static SimulationReport RunUntilViolation(ulong first, int maxSchedules, TimeSpan budget, Func<ulong, (SimulatedCluster Cluster, long Faults)> schedule)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var violations = new List<Violation>();
        string? trace = null;
        long steps = 0, faults = 0;
        var schedules = 0;
        for (var seed = first; schedules < maxSchedules && (schedules == 0 || clock.Elapsed < budget) && violations.Count == 0; seed++)
        {
            var (cluster, counted) = schedule(seed);
            schedules++;
            trace ??= cluster.TraceHash;
            steps += cluster.Steps;
            faults += counted;
            if (cluster.Violation is { } violation)
            {
                violations.Add(violation);
            }
        }

        return new SimulationReport(schedules, violations, trace!, steps, faults, 0, clock.Elapsed);
    }

    /// <summary>Attaches the model of the setup's quorum device: the device plugin's own arbiter.</summary>
    private static ClusterSetup WithWitness(ClusterSetup setup)
    {
        switch (setup.Device?.Name)
        {
            case null:
                return setup;
            case WitnessNodePlugin.Name:
                var options = WitnessNodeOptions.From(setup.Cluster.GetSection(WitnessNodeOptions.Section));
                var tieBreaker = options.TieBreakerNode(setup.Nodes);
                return setup with
                {
                    Witness = () => new WitnessNodeSimulation(tieBreaker, options.Lease),
                    DevicePing = options.PingInterval,
                    DeviceLease = options.Lease,
                };
            case WitnessFilePlugin.Name:
                var file = WitnessFileOptions.From(setup.Cluster.GetSection(WitnessFileOptions.Section));
                var slots = setup.Nodes.Select(n => n.Id).Order().ToArray();
                var fileTieBreaker = file.TieBreakerNode(setup.Nodes);
                return setup with
                {
                    SharedDevice = () => new WitnessFileSimulation(new FileLeaseModel(slots, file, setup.Membership.ClockDriftBound, fileTieBreaker)),
                    DevicePing = file.RenewInterval,
                };
            case var other:
                throw new CohortStartupException($"--device: the simulator has no model of the quorum device \"{other}\"; it models {WitnessNodePlugin.Name} and {WitnessFilePlugin.Name}", ExitCodes.Usage);
        }
    }

    /// <summary>The witness-file lease cores on one in-memory file as the simulator's shared device.</summary>
    private sealed class WitnessFileSimulation(FileLeaseModel model) : ISimulatedSharedDevice
    {
        public QuorumDeviceGrant Advance(NodeIncarnation node, View? view, TimeSpan local) => model.Advance(node, view, local);
    }

    /// <summary>The witness-node arbiter as the simulator's witness.</summary>
    private sealed class WitnessNodeSimulation(NodeId tieBreaker, TimeSpan maxLease) : ISimulatedWitness
    {
        private readonly WitnessArbiter _arbiter = new(maxLease, TimeSpan.Zero);

        public bool Ask(NodeIncarnation node, View view, TimeSpan lease, double clockDriftBound, TimeSpan now, out string reason)
        {
            var answer = _arbiter.Ask(new WitnessRequest("simulated", node, view.Id, [.. view.Members.Select(m => m.Node.Value)], tieBreaker.Value, lease, clockDriftBound, 0), now);
            reason = answer.Reason;
            return answer.Granted;
        }
    }

    private static void WriteText(SimulationReport report, ClusterSetup setup, ulong seed, double span)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(c, $"simulated {report.Schedules} schedules of {span} s ({setup.Nodes.Count} nodes, seeds {seed}..{seed + (ulong)report.Schedules - 1}) in {report.Elapsed.TotalSeconds:F1} s: {report.Steps} steps, {report.Faults} faults, {report.ViewsInstalled} views"));
        Console.WriteLine($"trace hash (seed {seed}): {report.TraceHash}");
        if (report.Violations.Count == 0)
        {
            Console.WriteLine("no violations");
            return;
        }

        foreach (var v in report.Violations)
        {
            Console.WriteLine(string.Create(c, $"VIOLATION seed {v.Seed}: {v.Invariant} at step {v.Step} ({v.At.TotalMilliseconds:F3} ms): {v.Detail}"));
            foreach (var line in v.LastSteps)
            {
                Console.WriteLine("    " + line);
            }
        }
    }

    private static void WriteJson(SimulationReport report, ClusterSetup setup, ulong seed, double span)
    {
        using var stream = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("schedules", report.Schedules);
            w.WriteNumber("seed", seed);
            w.WriteNumber("nodes", setup.Nodes.Count);
            w.WriteNumber("spanSeconds", span);
            w.WriteString("traceHash", report.TraceHash);
            w.WriteNumber("steps", report.Steps);
            w.WriteNumber("faults", report.Faults);
            w.WriteNumber("viewsInstalled", report.ViewsInstalled);
            w.WriteNumber("elapsedSeconds", Math.Round(report.Elapsed.TotalSeconds, 3));
            w.WriteStartArray("violations");
            foreach (var v in report.Violations)
            {
                w.WriteStartObject();
                w.WriteNumber("seed", v.Seed);
                w.WriteString("invariant", v.Invariant);
                w.WriteNumber("step", v.Step);
                w.WriteNumber("atMilliseconds", Math.Round(v.At.TotalMilliseconds, 3));
                w.WriteString("detail", v.Detail);
                w.WriteStartArray("lastSteps");
                foreach (var line in v.LastSteps)
                {
                    w.WriteStringValue(line);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        stream.WriteByte((byte)'\n');
    }
}
