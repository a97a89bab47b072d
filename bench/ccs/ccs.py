#!/usr/bin/env python3
"""CCS benchmark on five real agents over the tcp transport on 127.0.0.1.

Forms a 5-node cluster, waits until the agents are idle, then applies N new cluster documents one after
another (the bootstrap document with another Description), each straight over the admin socket of one
node: alternately the view's coordinator (the CCS leader) and one of the others in turn. For each it
measures, from CLOCK_MONOTONIC, the time until the apply's reply arrived and until the version was
committed on all five: this script's clock just before the request, and the `cluster document version
V committed ... at monotonic T` lines the agents log (both read the same clock). Five warm-up applies,
one through each node (every process JIT-compiles its own request path), are printed but not counted.

Prints each run, the medians for the leader and for the followers, and the ratio to a floor measured in
the same run: 3 loopback TCP round trips plus one durable record write (write, fsync, rename, fsync the
directory, as the agent writes its records), both sampled in slices just before each run. Each run
also shows the CPU time the five agents used during it, and how many of the cores that kept busy."""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "lib"))
sys.path.insert(0, os.path.join(here, "..", "membership"))
import bench_args  # noqa: E402
from cohort_admin import ask  # noqa: E402
from membership import FORM_DEADLINE_S, Cluster  # noqa: E402

NODES = 5
TARGET_ROUND_TRIPS = 3  # DESIGN.md: a change committed on 5 nodes within 3 round trips + one fsync
APPLY_TIMEOUT_S = 20.0  # the agent answers within 10 s (outcome-unknown after that; docs/ccs.md)
COMMIT_DEADLINE_S = 10.0  # for a committed version to appear in all five logs
SETTLE_DEADLINE_S = 10.0  # for all five to hold the last version, in one view, the leader ready
QUIET_DEADLINE_S = 60.0  # for the agents to finish starting and go idle
QUIET_CPU = 0.8  # idle: the five together used less than 80% of one core over the last second
WARMUPS = NODES  # uncounted applies, one through each node: each process JIT-compiles the request path
RTT_ROUNDS = 2000
RTT_BYTES = 64
WRITES = 50
WRITE_BYTES = 1024

COMMITTED = re.compile(r"cluster document version (\d+) committed \(sha256 ([0-9a-f]+)\), "
                       r"proposed by node (\d+) under ballot (\S+), at monotonic (\d+\.\d+)")


def cpu_seconds(cluster):
    """CPU time the agents used so far, all their threads (ended ones too): each process's CPU-time
    clock, the clock id clock_getcpuclockid(3) gives for a pid, which Python does not wrap. (Per-thread
    /proc/PID/task/TID/schedstat lags: it misses what a running thread used since its last tick.)"""
    total = 0.0
    for proc in cluster.procs.values():
        try:
            total += time.clock_gettime((~proc.pid << 3) | 2)  # CPUCLOCK_SCHED of the whole process
        except OSError:
            pass  # it exited; settle() and wait_for_view() say so
    return total


def wait_until_quiet(cluster, deadline_s):
    """Polls until the agents' CPU use over one second falls below QUIET_CPU (for seconds after forming
    they use both cores: start-up and JIT); returns (seconds waited, that second's use in cores)."""
    started = time.monotonic()
    while True:
        before, at = cpu_seconds(cluster), time.monotonic()
        time.sleep(1.0)
        used = (cpu_seconds(cluster) - before) / (time.monotonic() - at)
        if used < QUIET_CPU:
            return time.monotonic() - started, used
        if time.monotonic() - started > deadline_s:
            raise RuntimeError(f"the agents still used {used:.1f} cores after {deadline_s:.0f} s")


def settle(cluster, version, deadline_s):
    """Polls until all five are quorate in one view of all five, each holds `version` (fsynced) with
    nothing in doubt, and the coordinator leads CCS and is ready to propose; returns the coordinator."""
    nodes = list(range(1, NODES + 1))
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        statuses = [(ask(cluster.socket(n)) or {}).get("result") for n in nodes]
        if all(s and s.get("quorate") and s.get("view") and s.get("config") for s in statuses):
            views = {(s["view"]["epoch"], s["view"]["coordinator"]) for s in statuses}
            members = [sorted(m["nodeId"] for m in s["view"]["members"]) for s in statuses]
            if len(views) == 1 and all(m == nodes for m in members):
                _, coordinator = views.pop()
                configs = [s["config"] for s in statuses]
                if (all(c["version"] == version and c.get("inDoubt") is None and c.get("leader") == coordinator
                        for c in configs) and configs[coordinator - 1]["phase"] == "ready"):
                    return coordinator
        for n in nodes:
            if cluster.procs[n].poll() is not None:
                raise RuntimeError(f"node{n} exited with {cluster.procs[n].returncode}")
        time.sleep(0.01)
    raise RuntimeError(f"the nodes did not all hold version {version} in one quorate view with a ready leader "
                       f"within {deadline_s:.0f} s")


def write_change(cluster, description):
    """The bootstrap document with `description` as its Description, in a file; returns its path."""
    with open(os.path.join(cluster.folder, "cluster.json")) as f:
        bootstrap = json.load(f)
    document = {"Name": bootstrap["Name"], "Description": description,
                **{k: v for k, v in bootstrap.items() if k != "Name"}}
    path = os.path.join(cluster.folder, description.replace(" ", "-") + ".json")
    with open(path, "w") as f:
        json.dump(document, f)
    return path


def commit_stamps(cluster, version, sha256, origin, deadline_s):
    """Polls the five logs for version `version`'s commit line; returns {node: CLOCK_MONOTONIC stamp}."""
    started = time.monotonic()
    while True:
        stamps = {}
        for n in range(1, NODES + 1):
            for m in map(COMMITTED.search, cluster.lines(n)):
                if m and int(m.group(1)) == version:
                    if m.group(2) != sha256 or int(m.group(3)) != origin:
                        raise RuntimeError(f"node{n} committed version {version} as {m.group(2)} from node "
                                           f"{m.group(3)}, not {sha256} from node {origin}")
                    stamps[n] = float(m.group(5))
        if len(stamps) == NODES:
            return stamps
        if time.monotonic() - started > deadline_s:
            missing = [n for n in range(1, NODES + 1) if n not in stamps]
            raise RuntimeError(f"version {version} not in the logs of nodes {missing} within {deadline_s:.0f} s")
        time.sleep(0.005)


def apply_run(cluster, node, path):
    """Applies the document at `path` on `node`. Returns the version, the reply latency, {node: commit
    latency}, the agents' CPU time from the request until all five had logged the commit, and how long
    that took."""
    with open(path) as f:
        text = f.read()
    arguments = {"document": text, "expectVersion": None, "source": path}
    cpu_before = cpu_seconds(cluster)
    t0 = time.monotonic()
    reply = ask(cluster.socket(node), "config-apply", timeout=APPLY_TIMEOUT_S, arguments=arguments)
    replied = time.monotonic() - t0
    if reply is None:
        raise RuntimeError(f"node{node} did not answer config-apply within {APPLY_TIMEOUT_S:.0f} s")
    if not reply.get("ok"):
        raise RuntimeError(f"node{node}: config-apply failed: {reply.get('error')}")
    result = reply["result"]
    if result.get("outcome") != "committed":
        raise RuntimeError(f"node{node}: config-apply answered {result.get('outcome')}: {result.get('detail')}")
    version = result["version"]
    stamps = commit_stamps(cluster, version, hashlib.sha256(text.encode()).hexdigest(), node, COMMIT_DEADLINE_S)
    cpu, window = cpu_seconds(cluster) - cpu_before, time.monotonic() - t0
    return version, replied, {n: t - t0 for n, t in stamps.items()}, cpu, window


class Floors:
    """The floors, sampled in slices between the runs so that they see the same machine as the applies:
    ping-pongs of RTT_BYTES with an echo thread over 127.0.0.1 (TCP_NODELAY both ways), and durable
    writes of WRITE_BYTES the way the agent replaces a record (DurableFile.WriteAtomically: write a
    temporary file, fsync it, rename it over the record, fsync the directory)."""

    def __init__(self, folder):
        self.folder = folder
        self.record = os.path.join(folder, "floor.record")
        self.contents = os.urandom(WRITE_BYTES)
        self.round_trips, self.writes = [], []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.server.settimeout(5.0)
        self.thread = threading.Thread(target=self._echo, daemon=True)
        self.thread.start()
        self.client = socket.create_connection(self.server.getsockname(), timeout=5.0)
        self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _echo(self):
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(120.0)  # longer than any run in between (each wait has its deadline)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass

    def sample(self, round_trips, writes):
        payload = b"x" * RTT_BYTES
        for _ in range(round_trips):
            started = time.monotonic()
            self.client.sendall(payload)
            got = 0
            while got < RTT_BYTES:
                chunk = self.client.recv(RTT_BYTES - got)
                if not chunk:
                    raise RuntimeError("the echo thread closed the connection")
                got += len(chunk)
            self.round_trips.append(time.monotonic() - started)
        temporary = self.record + ".tmp"
        for _ in range(writes):
            started = time.monotonic()
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, self.contents)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.record)
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self.writes.append(time.monotonic() - started)

    def close(self):
        self.client.close()
        self.server.close()
        self.thread.join(5.0)


def share(total, runs, i):
    """Run i's slice of `total` samples spread evenly over `runs` runs."""
    return total * (i + 1) // runs - total * i // runs


def log_tails(cluster, lines=5):
    out = []
    for n in range(1, NODES + 1):
        try:
            out += [f"  node{n}.log: {line}" for line in cluster.lines(n)[-lines:]]
        except OSError:
            continue
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20,
                        help="applies (default 20; alternately on the leader and on each follower in turn)")
    args = bench_args.parse(parser)

    root = tempfile.mkdtemp(prefix="cohort-bench-ccs-")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cluster = floors = None
    runs = {"leader": [], "follower": []}  # per role: (reply, committed on all five, agents' CPU)
    try:
        folder = os.path.join(root, "cluster")
        os.makedirs(folder)
        cluster = Cluster(args.cohort, folder, NODES)
        for n in range(1, NODES + 1):
            cluster.start(n)
        formed = cluster.wait_for_view(list(range(1, NODES + 1)), FORM_DEADLINE_S)
        waited, idle = wait_until_quiet(cluster, QUIET_DEADLINE_S)
        print(f"5 agents quorate in view {formed}; idle {waited:.0f} s later ({idle * 100:.0f}% of a core "
              f"over the last second)", flush=True)
        floors = Floors(folder)
        version = 1
        for i in range(-WARMUPS, args.runs):
            if i >= 0:
                floors.sample(share(RTT_ROUNDS, args.runs, i), share(WRITES, args.runs, i))
            coordinator = settle(cluster, version, SETTLE_DEADLINE_S)
            followers = [n for n in range(1, NODES + 1) if n != coordinator]
            if i < 0:  # warm-ups: the leader, then each follower
                k = i + WARMUPS
                role, node = ("leader", coordinator) if k == 0 else ("follower", followers[k - 1])
            else:
                role = "leader" if i % 2 == 0 else "follower"
                node = coordinator if role == "leader" else followers[(i // 2) % len(followers)]
            label = f"run {i + 1}/{args.runs}" if i >= 0 else f"warm-up {i + 1 + WARMUPS}/{WARMUPS}"
            change = write_change(cluster, f"bench {label.split('/')[0]}")
            version, replied, latencies, cpu, window = apply_run(cluster, node, change)
            last, first = max(latencies.values()), min(latencies.values())
            if i >= 0:
                runs[role].append((replied, last, cpu))
            print(f"{label}: apply on node{node} ({role:8}) -> version {version:2}: reply {replied * 1000:6.2f} ms, "
                  f"committed on all 5 {last * 1000:6.2f} ms (first {first * 1000:6.2f}); agents' CPU "
                  f"{cpu * 1000:5.1f} ms ({cpu / window:.1f} cores)", flush=True)
        rtt, write = statistics.median(floors.round_trips), statistics.median(floors.writes)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print(f"ccs bench: {e}", file=sys.stderr)
        if cluster is not None:
            print(log_tails(cluster), file=sys.stderr)
        return 1
    finally:
        # Stop everything even when interrupted again while stopping.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if floors is not None:
            floors.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(root, ignore_errors=True)

    floor = TARGET_ROUND_TRIPS * rtt + write
    ms = lambda seconds: f"{seconds * 1000:6.2f} ms"  # noqa: E731
    print()
    print(f"loopback TCP round trip (64 B, TCP_NODELAY, median of {len(floors.round_trips)})             "
          f"{rtt * 1000:6.3f} ms")
    print(f"durable write (1 KiB: write, fsync, rename, fsync dir; median of {len(floors.writes)})      "
          f"{write * 1000:6.3f} ms")
    print(f"floor: {TARGET_ROUND_TRIPS} x round trip + 1 durable write                               {floor * 1000:6.3f} ms")
    for role, label in (("leader", "on the leader "), ("follower", "on a follower ")):
        if not runs[role]:
            continue
        replies, alls, cpus = (list(column) for column in zip(*runs[role]))
        last = statistics.median(alls)
        print(f"apply {label}-> committed on all 5   median {ms(last)}   ratio to the floor {last / floor:5.2f}x   "
              f"target <= 1x: {'met' if last <= floor else 'MISSED'}   (min {min(alls) * 1000:.2f}, "
              f"max {max(alls) * 1000:.2f}, {len(alls)} runs)")
        print(f"                      reply            median {ms(statistics.median(replies))}   "
              f"agents' CPU median {ms(statistics.median(cpus))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
