#!/usr/bin/env python3
"""Fencing benchmark on a real two-node cluster (votequorum TwoNode) over the tcp transport on 127.0.0.1.

Each run forms a fresh cluster whose `kill` device (process-group) kills the other agent's process group,
splits it both ways at once through the admin sockets (debug-partition on each node towards the other), and
watches what is left. Both agents are this script's own children, each in its own session: they are the
"machines", and the script reaps them, so it knows to the microsecond when the loser's group is gone.

Static delays (default): DelayBase node1 0, node2 --delay (2 s), as samples/two-node: node2 fences node1
at once and survives. Per run: split -> node2 quorate without node1 *and* node1's group gone (the later of
the two); the fence operation alone, from the survivor's `fencing node1 (1#N): level 1, device kill ...`
line to its `fenced:True ... at monotonic T` line; and detection alone, split -> `quorate:True` in a view
without node1. Medians and p90 over --runs, and the ratio to the floor: the failure timeout + the
survivor's delay (0) + a process-group kill measured in the same run.

Random delays (--random MAX): DelayBase 0 for both and DelayMax MAX; repeat the split and count double
fences (both agents dead), single survivors and anything else; the double-fence rate with a 95% Wilson
interval, and what `cohort simulate` says for the same devices and delays.

Times come from CLOCK_MONOTONIC: this script's time.monotonic() and the agents' `... at monotonic T` lines.
The start of a fence operation is logged without one: it is placed on that clock from the local
wall-clock prefixes (ms) of the start and end lines of the same agent."""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bench_args  # noqa: E402
from cohort_admin import ask  # noqa: E402
from ports import free_ports  # noqa: E402

FAILURE_TIMEOUT_MS = 400  # Cluster:Membership:FailureTimeout default (docs/membership.md); the document sets no other
SLACK_S = 0.5  # the target: failover <= failure timeout + the survivor's delay + the kill floor + this
FORM_DEADLINE_S = 60.0
OUTCOME_DEADLINE_S = 15.0  # after the failure timeout and the largest delay: a fence not done by then failed
SETTLE_S = 1.0  # after the first death: time for a shot fired by the dead node to land
LOG_DEADLINE_S = 5.0  # the logger writes from a queue: its lines may trail what they report
KILL_FLOOR_SAMPLES = 20
KILL_FLOOR_CHILDREN = 3
SIMULATE_SEEDS = 50
SIMULATE_DEADLINE_S = 300.0

QUORATE = re.compile(r"quorate:True in (\d+\.\d+) .* at monotonic (\d+\.\d+)")
INSTALLED = re.compile(r"installed view (\d+\.\d+) \[([^\]]*)\]")
WALL = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) ")
# FencingService.LogRunning and LogSucceeded; the victim is "node1 (1#3)"
RUNNING = re.compile(r"fencing (\S+) \((\d+)#(\d+)\): level (\d+), device (\S+) \(([^)]*)\), action (\S+), pass (\d+)")
FENCED = re.compile(r"fenced:True (\S+) \((\d+)#(\d+)\): level (\d+), device (\S+), action (\S+) succeeded, by this node: .* at monotonic (\d+\.\d+)")
# FencingService.LogDelayed
DELAYED = re.compile(r"fencing (\S+) \((\d+)#(\d+)\) in (\d+(?:\.\d+)?) s \(fence-race delay")
SIMULATED = re.compile(r"fence races: (\d+) splits, (\d+) with one survivor, (\d+) double fences")


def cluster_document(folder, delay_base, delay_max):
    """The two-node cluster document: TwoNode, one process-group device whose plugs are the state directories."""
    kill = {"Agent": "process-group",
            "HostMap": {f"node{i}": os.path.join(folder, f"node{i}") for i in (1, 2)}}
    if any(delay_base.values()):
        kill["DelayBase"] = delay_base
    if delay_max:
        kill["DelayMax"] = delay_max
    return {"Name": "bench-fencing",
            "Nodes": [{"Id": i, "Name": f"node{i}", "Votes": 1} for i in (1, 2)],
            "Quorum": {"Policy": "votequorum", "VoteQuorum": {"TwoNode": True}},
            "Fencing": {"Devices": {"kill": kill}, "Levels": {"*": [["kill"]]}}}


STARTED = []  # every agent this script started, for main's last-resort cleanup


class Agent:
    """One agent, a child of this script in a session of its own; a thread reaps it the moment it dies."""

    def __init__(self, cohort, folder, node):
        self.node, self.log = node, os.path.join(folder, f"node{node}.log")
        self.socket = os.path.join(folder, f"node{node}", "admin.sock")
        self.reaped_at, self._reaper = None, None
        self._out = open(self.log, "ab")
        self.proc = subprocess.Popen([cohort, "agent", "--config", os.path.join(folder, f"node{node}.json")],
                                     stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        STARTED.append(self)
        self.pid = self.proc.pid  # its pgid too
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _reap(self):
        self.proc.wait()
        self.reaped_at = time.monotonic()

    @property
    def alive(self):
        return self.reaped_at is None

    def group_gone(self):
        try:
            os.killpg(self.pid, 0)
            return False
        except ProcessLookupError:
            return True
        except PermissionError:  # not ours any more: the pid became another user's group leader
            return True

    def lines(self):
        with open(self.log, errors="replace") as f:
            return f.read().splitlines()

    def status(self):
        return (ask(self.socket) or {}).get("result")

    def close(self):
        """SIGKILLs the group if its leader was not reaped (after that the pid may be another's), and reaps it."""
        if self.alive:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self._reaper is not None:
                self._reaper.join(10.0)
            else:
                self.proc.wait(10.0)
        if not self._out.closed:
            self._out.close()


class Cluster:
    def __init__(self, cohort, folder, delay_base, delay_max):
        self.cohort, self.folder = cohort, folder
        self.agents = {}
        ports = free_ports(2)
        self.document = os.path.join(folder, "cluster.json")
        with open(self.document, "w") as f:
            json.dump(cluster_document(folder, delay_base, delay_max), f, indent=2)
        subprocess.run([cohort, "keygen", "--output", os.path.join(folder, "cluster.key")], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)
        for i in (1, 2):
            with open(os.path.join(folder, f"node{i}.json"), "w") as f:
                json.dump({"Node": {"Id": i, "Bootstrap": self.document, "Listen": f"127.0.0.1:{ports[i - 1]}",
                                    "Seeds": [f"127.0.0.1:{ports[2 - i]}"], "KeyFile": os.path.join(folder, "cluster.key"),
                                    "FaultInjection": True, "StateDirectory": os.path.join(folder, f"node{i}")}}, f)

    def start(self):
        for i in (1, 2):
            self.agents[i] = Agent(self.cohort, self.folder, i)

    def wait_formed(self):
        """Polls until both report one quorate view of both; returns it."""
        deadline = time.monotonic() + FORM_DEADLINE_S
        while time.monotonic() < deadline:
            statuses = [a.status() for a in self.agents.values()]
            if all(s and s.get("quorate") and s.get("view") for s in statuses):
                views = {(s["view"]["epoch"], s["view"]["coordinator"]) for s in statuses}
                members = [sorted(m["nodeId"] for m in s["view"]["members"]) for s in statuses]
                if len(views) == 1 and all(m == [1, 2] for m in members):
                    epoch, coordinator = views.pop()
                    return f"{epoch}.{coordinator}"
            for a in self.agents.values():
                if not a.alive:
                    raise RuntimeError(f"node{a.node} exited with {a.proc.returncode} before the cluster formed; see {a.log}")
            time.sleep(0.01)
        raise RuntimeError(f"the two nodes did not agree on a quorate view within {FORM_DEADLINE_S:.0f} s; logs in {self.folder}")

    def split(self):
        """Cuts both links at once: both admin connections are open before t0, then both requests go out
        back to back. Returns t0 (time.monotonic() just before the first send)."""
        conns = []
        try:
            for node, peer in ((1, "node2"), (2, "node1")):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(5.0)
                s.connect(self.agents[node].socket)
                conns.append((s, json.dumps({"verb": "debug-partition", "arguments": {"peer": peer}}).encode() + b"\n"))
            t0 = time.monotonic()
            for s, request in conns:
                s.sendall(request)
            for s, _ in conns:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                reply = json.loads(data) if data else None
                if not reply or "result" not in reply:
                    raise RuntimeError(f"debug-partition was refused: {reply}")
            return t0
        finally:
            for s, _ in conns:
                s.close()

    def close(self):
        for a in self.agents.values():
            a.close()


def quorate_without(lines, victim, after):
    """The monotonic time the node logged quorate:True in a view without `victim`, after `after`."""
    without = {m.group(1) for m in map(INSTALLED.search, lines)
               if m and str(victim) not in [x.split("#")[0] for x in m.group(2).split(", ")]}
    for m in map(QUORATE.search, lines):
        if m and m.group(1) in without and float(m.group(2)) > after:
            return float(m.group(2))
    return None


def wall_seconds(line):
    m = WALL.match(line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) + int(m.group(4)) / 1000 if m else None


def fence_operation(lines, victim):
    """The survivor's successful fence of `victim`: (start, end) on the monotonic clock. The end is the
    fenced:True line's stamp; the start is its wall-clock prefix moved back by the wall-clock distance of
    the start line (the last `fencing VICTIM ... level 1` line before it). None when not (yet) logged."""
    for i, line in enumerate(lines):
        end = FENCED.search(line)
        if not end or int(end.group(2)) != victim:
            continue
        for earlier in reversed(lines[:i]):
            start = RUNNING.search(earlier)
            if start and int(start.group(2)) == victim and start.group(5) == end.group(5):
                w0, w1 = wall_seconds(earlier), wall_seconds(line)
                if w0 is None or w1 is None:
                    return None
                gap = (w1 - w0) % 86400  # across midnight
                return float(end.group(7)) - gap, float(end.group(7))
        return None
    return None


def drawn_delay(lines, victim):
    """The fence-race delay the node logged before fencing `victim`, in seconds; None when it logged none
    (no delay, or it died before it named the victim)."""
    for m in map(DELAYED.search, lines):
        if m and int(m.group(2)) == victim:
            return float(m.group(4))
    return None


def keep_logs(folder, label):
    """Copies a run's folder (documents, logs, state) out of the temporary root, for a failed run."""
    kept = tempfile.mkdtemp(prefix=f"cohort-bench-fencing-{label}-")
    shutil.copytree(folder, os.path.join(kept, "run"), ignore=shutil.ignore_patterns("*.sock"), dirs_exist_ok=True)
    return os.path.join(kept, "run")


def diagnose(agent, victim, t0):
    """What a node's log says it did after the split: the views it installed, its quorum lines, whether it
    named `victim` a victim and fenced it."""
    lines = agent.lines()
    installs = [m.group(1) for m in map(INSTALLED.search, lines) if m]
    quorate = [l for l in lines if QUORATE.search(l) and float(QUORATE.search(l).group(2)) > t0]
    named = any(f"fencing node{victim} (" in l and "left a quorate view" in l for l in lines)
    fenced = any(FENCED.search(l) and int(FENCED.search(l).group(2)) == victim for l in lines)
    return (f"node{agent.node}: views installed {', '.join(installs) or 'none'}; "
            f"{len(quorate)} quorate:True line(s) after the split; "
            f"{'named' if named else 'never named'} node{victim} a victim; {'fenced' if fenced else 'never fenced'} it")


def run_once(cohort, folder, delay_base, delay_max, settle):
    """Forms, splits and watches one cluster. Returns a dict: outcome ("survivor", "double", "other"),
    who survived, t0 and what the survivor's log says."""
    cluster = Cluster(cohort, folder, delay_base, delay_max)
    try:
        cluster.start()
        formed = cluster.wait_formed()
        if settle > 0:
            time.sleep(settle)
            if cluster.wait_formed() != formed:
                raise RuntimeError(f"the cluster changed views while it settled; logs in {folder}")
        t0 = cluster.split()
        a1, a2 = cluster.agents[1], cluster.agents[2]
        deadline = t0 + FAILURE_TIMEOUT_MS / 1000 + max(list(delay_base.values()) + [delay_max]) + OUTCOME_DEADLINE_S
        while a1.alive and a2.alive and time.monotonic() < deadline:
            time.sleep(0.002)
        first_death = time.monotonic()
        settle = min(first_death + SETTLE_S, deadline + SETTLE_S)
        while (a1.alive or a2.alive) and time.monotonic() < settle:
            time.sleep(0.01)
        dead = [a for a in (a1, a2) if not a.alive]
        result = {"t0": t0, "dead": [a.node for a in dead], "folder": folder,
                  "diagnosis": [diagnose(a, 3 - a.node, t0) for a in (a1, a2)]}
        if len(dead) == 2:
            result["outcome"] = "double"
            result["delays"] = {a.node: drawn_delay(a.lines(), 3 - a.node) for a in (a1, a2)}
            return result
        if len(dead) == 0:
            said = []
            for a in (a1, a2):
                st = a.status() or {}
                view = st.get("view") or {}
                said.append(f"node{a.node} quorate:{st.get('quorate')} in {view.get('epoch')}.{view.get('coordinator')} "
                            f"{sorted(m['nodeId'] for m in view.get('members', []))}, "
                            f"{len((st.get('fencing') or {}).get('pending') or [])} victim(s) pending")
            result.update(outcome="other", why=f"neither agent died within {deadline - t0:.1f} s of the split ({'; '.join(said)})")
            return result
        loser, survivor = dead[0], (a2 if dead[0] is a1 else a1)
        result.update(survivor=survivor.node, loser=loser.node)
        result["delays"] = {a.node: drawn_delay(a.lines(), 3 - a.node) for a in (a1, a2)}
        # The loser's group must be empty (it leads a session of its own; its children die with it).
        gone_at = loser.reaped_at
        while not loser.group_gone() and time.monotonic() < gone_at + LOG_DEADLINE_S:
            time.sleep(0.001)
        if not loser.group_gone():
            result.update(outcome="other", why=f"node{loser.node}'s agent died but its group {loser.pid} still has processes")
            return result
        status = survivor.status()
        members = sorted(m["nodeId"] for m in ((status or {}).get("view") or {}).get("members", []))
        if not (survivor.alive and status and status.get("quorate") and members == [survivor.node]):
            result.update(outcome="other", why=f"node{survivor.node} lives but is not quorate alone: {status}")
            return result
        # The logger writes from a queue: give the survivor's lines a moment.
        log_deadline = time.monotonic() + LOG_DEADLINE_S
        while True:
            lines = survivor.lines()
            quorate = quorate_without(lines, loser.node, t0)
            operation = fence_operation(lines, loser.node)
            if (quorate and operation) or time.monotonic() > log_deadline:
                break
            time.sleep(0.05)
        if not quorate or not operation:
            result.update(outcome="other", why=f"node{survivor.node} lives, quorate alone, but its log lacks the "
                                                f"{'quorate:True' if not quorate else 'fence'} line")
            return result
        result.update(outcome="survivor", quorate=quorate, gone=gone_at, fence_start=operation[0], fence_end=operation[1])
        return result
    finally:
        cluster.close()


def kill_floor(samples=KILL_FLOOR_SAMPLES, children=KILL_FLOOR_CHILDREN):
    """SIGKILL a throwaway process group (a leader and a few children, all this script's, reaped by threads
    as they die) and time until kill(-pgid, 0) answers ESRCH. Returns the median in seconds."""
    times = []
    for _ in range(samples):
        procs = []
        try:
            leader = subprocess.Popen(["sleep", "60"], process_group=0)  # a group of its own in this session, so the children can join it
            procs.append(leader)
            for _ in range(children):
                procs.append(subprocess.Popen(["sleep", "60"], process_group=leader.pid))
            reapers = [threading.Thread(target=p.wait, daemon=True) for p in procs]
            for r in reapers:
                r.start()
            time.sleep(0.02)  # let them exec
            started = time.monotonic()
            os.killpg(leader.pid, signal.SIGKILL)
            limit = started + 5.0
            while time.monotonic() < limit:
                try:
                    os.killpg(leader.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.0001)
            times.append(time.monotonic() - started)
            for r in reapers:
                r.join(5.0)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    return statistics.median(times)


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def wilson(k, n, z=1.96):
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def simulate(cohort, folder, delay_base, delay_max, procs):
    """What `cohort simulate` says of fence races under the same devices and delays, or None."""
    os.makedirs(folder, exist_ok=True)
    document = os.path.join(folder, "cluster.json")
    with open(document, "w") as f:
        json.dump(cluster_document(folder, delay_base, delay_max), f, indent=2)
    proc = subprocess.Popen([cohort, "simulate", "--cluster", document, "--seeds", str(SIMULATE_SEEDS),
                             "--seconds", str(int(SIMULATE_DEADLINE_S))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    procs.append(proc)
    try:
        _, err = proc.communicate(timeout=SIMULATE_DEADLINE_S + 30)
    except subprocess.TimeoutExpired:
        return None
    m = SIMULATED.search(err)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(0)) if m else None


def spell_delay(seconds):
    return "(none logged)" if seconds is None else f"{seconds:.3f} s"


def ms(seconds):
    return seconds * 1000


def static_mode(args, root):
    delay_base = {"node1": 0, "node2": args.delay}
    print(f"static delays: DelayBase node1 0 s, node2 {args.delay:g} s (node2 fences node1 at once); {args.runs} runs, "
          f"each split {args.settle:g} s after the cluster formed", flush=True)
    floor_kill = kill_floor()
    print(f"process-group kill floor: SIGKILL a group of {1 + KILL_FLOOR_CHILDREN} -> ESRCH, median of {KILL_FLOOR_SAMPLES}: "
          f"{ms(floor_kill):.2f} ms", flush=True)
    failovers, fences, detections, failed = [], [], [], []
    to_start, to_gone, to_logged = [], [], []
    for i in range(args.runs):
        folder = os.path.join(root, f"run{i}")
        os.makedirs(folder)
        r = run_once(args.cohort, folder, delay_base, 0, args.settle)
        if r["outcome"] == "survivor" and r["survivor"] == 2:
            failover = max(r["quorate"], r["gone"]) - r["t0"]
            fence = r["fence_end"] - r["fence_start"]
            detection = r["quorate"] - r["t0"]
            failovers.append(failover)
            fences.append(fence)
            detections.append(detection)
            to_start.append(r["fence_start"] - r["quorate"])
            to_gone.append(r["gone"] - r["fence_start"])
            to_logged.append(r["fence_end"] - r["gone"])
            print(f"run {i + 1}/{args.runs}: split -> node2 quorate without node1 {ms(detection):.0f} ms, node1's group gone "
                  f"{ms(r['gone'] - r['t0']):.0f} ms: failover {ms(failover):.0f} ms; fence operation {ms(fence):.0f} ms "
                  f"(started {ms(r['fence_start'] - r['t0']):.0f} ms after the split)", flush=True)
        else:
            why = {"double": "BOTH agents died (a double fence with static delays)",
                   "survivor": f"node{r.get('survivor')} survived and node{r.get('loser')} died: the wrong one"}.get(
                r["outcome"], r.get("why", "?"))
            kept = keep_logs(folder, f"run{i}")
            failed.append((i, why, kept))
            print(f"run {i + 1}/{args.runs}: FAILED: {why}; logs kept in {kept}", flush=True)
            for line in r["diagnosis"]:
                print(f"    {line}", flush=True)
        shutil.rmtree(folder, ignore_errors=True)

    floor = FAILURE_TIMEOUT_MS / 1000 + 0 + floor_kill
    print()
    print(f"failure timeout (configured, Cluster:Membership:FailureTimeout)   {FAILURE_TIMEOUT_MS:7.0f} ms")
    print(f"survivor's delay (DelayBase of node1)                             {0:7.0f} ms")
    print(f"process-group kill floor (measured in this run)                   {ms(floor_kill):7.2f} ms")
    print(f"floor                                                             {ms(floor):7.0f} ms")
    print(f"runs: {len(failovers)} with node2 the only survivor, {len(failed)} failed")
    for i, why, kept in failed:
        print(f"  run {i + 1}: {why}; {kept}")
    if not failovers:
        print(f"failover target <= floor + {ms(SLACK_S):.0f} ms: not met (no successful run)")
        return 0
    target = floor + SLACK_S
    median = statistics.median(failovers)
    print(f"split -> survivor quorate, loser dead   median {ms(median):5.0f} ms   p90 {ms(percentile(failovers, 90)):5.0f} ms   "
          f"ratio to the floor {median / floor:.2f}x")
    print(f"  detection: split -> quorate alone     median {ms(statistics.median(detections)):5.0f} ms   "
          f"p90 {ms(percentile(detections, 90)):5.0f} ms")
    print(f"  fence operation (survivor's log)      median {ms(statistics.median(fences)):5.0f} ms   "
          f"p90 {ms(percentile(fences, 90)):5.0f} ms   ratio to the kill floor {statistics.median(fences) / floor_kill:.1f}x")
    print(f"  where the time goes (medians): split -> quorate {ms(statistics.median(detections)):.0f} ms, quorate -> fence "
          f"operation starts {ms(statistics.median(to_start)):.0f} ms, starts -> node1's group gone (SIGKILL of an agent, "
          f"reaped) {ms(statistics.median(to_gone)):.0f} ms, gone -> fenced:True logged {ms(statistics.median(to_logged)):.0f} ms")
    met = median <= target and not failed
    print(f"failover target <= failure timeout + delay + kill floor + {ms(SLACK_S):.0f} ms = {ms(target):.0f} ms, "
          f"every run one survivor: {'target met' if met else 'target not met'}")
    return 0


def random_mode(args, root, procs):
    delay_base = {"node1": 0, "node2": 0}
    print(f"random delays: DelayBase 0 s for both, DelayMax {args.random:g} s; {args.runs} splits, "
          f"each {args.settle:g} s after the cluster formed", flush=True)
    doubles, singles, others = [], [], []
    survivors = {1: 0, 2: 0}
    failovers = []
    for i in range(args.runs):
        folder = os.path.join(root, f"run{i}")
        os.makedirs(folder)
        r = run_once(args.cohort, folder, delay_base, args.random, args.settle)
        d = r.get("delays", {})
        drawn = ("delays drawn: node1 fences node2 after " + spell_delay(d.get(1)) + ", node2 fences node1 after "
                 + spell_delay(d.get(2))) if d else ""
        if r["outcome"] == "double":
            doubles.append(i)
            kept = keep_logs(folder, f"double{i}")
            print(f"run {i + 1}/{args.runs}: double fence: both agents dead; {drawn}; logs kept in {kept}", flush=True)
        elif r["outcome"] == "survivor":
            singles.append(i)
            survivors[r["survivor"]] += 1
            failover = max(r["quorate"], r["gone"]) - r["t0"]
            failovers.append(failover)
            print(f"run {i + 1}/{args.runs}: node{r['survivor']} survived, failover {ms(failover):.0f} ms; {drawn}", flush=True)
        else:
            kept = keep_logs(folder, f"other{i}")
            others.append((i, r.get("why", "?"), kept))
            print(f"run {i + 1}/{args.runs}: neither a single survivor nor a double fence: {r.get('why')}; logs kept in {kept}", flush=True)
            for line in r["diagnosis"]:
                print(f"    {line}", flush=True)
        shutil.rmtree(folder, ignore_errors=True)

    sim = simulate(args.cohort, os.path.join(root, "simulate"), delay_base, args.random, procs)
    n = args.runs
    low, high = wilson(len(doubles), n)
    print()
    print(f"splits {n}: {len(singles)} single survivors (node1 {survivors[1]}, node2 {survivors[2]}), "
          f"{len(doubles)} double fences, {len(others)} other")
    for i, why, kept in others:
        print(f"  run {i + 1}: {why}; {kept}")
    print(f"double-fence rate {len(doubles) / n:.1%}   95% Wilson interval [{low:.1%}, {high:.1%}]   (no target)")
    if failovers:
        print(f"split -> survivor quorate, loser dead   median {ms(statistics.median(failovers)):5.0f} ms   "
              f"p90 {ms(percentile(failovers, 90)):5.0f} ms   (with the random delay)")
    if sim:
        splits, one, double, line = sim
        slow, shigh = wilson(double, splits)
        print(f"cohort simulate --seeds {SIMULATE_SEEDS}, the same devices and delays: {line}")
        print(f"  simulated double-fence rate {double / max(splits, 1):.1%}   95% Wilson interval [{slow:.1%}, {shigh:.1%}]")
    else:
        print("cohort simulate: no 'fence races' line (or it ran out of time)")
    return 0


def main():
    # --runs defaults by mode: look for --random first.
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--random", type=float)
    random_max = peek.parse_known_args()[0].random
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10 if random_max is None else 20,
                        help="splits (default 10 with static delays, 20 with --random)")
    parser.add_argument("--delay", type=float, default=2.0, help="DelayBase of node2 in seconds, static mode (default 2)")
    parser.add_argument("--random", type=float, metavar="MAX", help="random-only delays: DelayBase 0, DelayMax MAX seconds")
    parser.add_argument("--settle", type=float, default=1.0,
                        help="seconds between forming and the split (default 1; 0 splits at once, see README: a split "
                             "within a heartbeat of forming can leave a node quorate that never fences)")
    args = bench_args.parse(parser)
    if args.random is not None and args.random <= 0:
        parser.error("--random MAX must be above 0")
    if args.delay <= 0:
        parser.error("--delay must be above 0 (node2 must win)")

    root = tempfile.mkdtemp(prefix="cohort-bench-fencing-")
    procs = []
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return random_mode(args, root, procs) if args.random is not None else static_mode(args, root)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for agent in STARTED:
            agent.close()
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
