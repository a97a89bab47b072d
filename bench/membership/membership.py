#!/usr/bin/env python3
"""Membership benchmark on three real agents over the tcp transport on 127.0.0.1.

Failover (default): SIGKILL one agent of a formed, quorate cluster and measure the time until the
survivors are quorate in a view without it, from CLOCK_MONOTONIC: this script's clock at the kill,
and the `quorate:True in VIEW ... at monotonic T` lines the agents log (both read the same clock).
Prints each run, the medians, and the ratio to the configured failure timeout.

Witness failover (--witness, --witness-file): the same on two agents and a quorum device (a `cohort
witness`, or a file both share): SIGKILL either agent and measure until the survivor is quorate alone
with the device's vote.

Soak (--soak SECONDS): three agents under `stress-ng --cpu 2` plus a build loop (dotnet build of a
copy of the repository), counting view changes after the cluster formed; with no fault injected,
every one is spurious."""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import bench_args  # noqa: E402
from cohort_admin import ask  # noqa: E402
from ports import free_ports  # noqa: E402

FAILOVER_TARGET_S = 0.5
SOAK_TARGET = 0
FAILURE_TIMEOUT_MS = 400  # Cluster:Membership:FailureTimeout default (docs/membership.md)
FORM_DEADLINE_S = 60.0
FAILOVER_DEADLINE_S = 30.0
STOP_GRACE_S = 10.0
WITNESS_LEASE_MS = 500  # Cluster:Quorum:WitnessNode:Lease default (docs/quorum.md)

QUORATE = re.compile(r"quorate:True in (\d+\.\d+) .* at monotonic (\d+\.\d+)")
INSTALLED = re.compile(r"installed view (\d+\.\d+) \[([^\]]*)\]")


class Cluster:
    """Agents (and a witness, if asked for) in a folder of their own; every process is killed on close."""

    def __init__(self, cohort, folder, nodes=3, witness=False):
        self.cohort, self.folder, self.nodes = cohort, folder, nodes
        self.procs, self.logs = {}, {}
        ports = free_ports(nodes + 1)
        quorum = {"Policy": "votequorum"}
        if witness == "node":
            quorum.update({"Device": "witness-node", "WitnessNode": {"Address": f"127.0.0.1:{ports[nodes]}"}})
        elif witness == "file":
            quorum.update({"Device": "witness-file", "WitnessFile": {"Path": os.path.join(folder, "witness.lease")}})
        with open(os.path.join(folder, "cluster.json"), "w") as f:
            json.dump({"Name": "bench", "Nodes": [{"Id": i, "Name": f"node{i}"} for i in range(1, nodes + 1)],
                       "Quorum": quorum}, f)
        key = os.path.join(folder, "cluster.key")
        subprocess.run([cohort, "keygen", "--output", key], check=True, stdout=subprocess.DEVNULL)
        if witness == "node":
            self.logs[0] = open(os.path.join(folder, "witness.log"), "ab")
            self.procs[0] = subprocess.Popen(
                [cohort, "witness", "--listen", f"127.0.0.1:{ports[nodes]}", "--key-file", key, "--max-lease", "1000"],
                stdout=self.logs[0], stderr=subprocess.STDOUT, start_new_session=True)
        for i in range(1, nodes + 1):
            with open(os.path.join(folder, f"node{i}.json"), "w") as f:
                json.dump({"Node": {"Id": i, "Bootstrap": "cluster.json", "Listen": f"127.0.0.1:{ports[i - 1]}",
                                    "Seeds": [f"127.0.0.1:{p}" for j, p in enumerate(ports[:nodes], 1) if j != i],
                                    "KeyFile": "cluster.key", "StateDirectory": f"node{i}"}}, f)

    def socket(self, node):
        return os.path.join(self.folder, f"node{node}", "admin.sock")

    def log(self, node):
        return os.path.join(self.folder, f"node{node}.log")

    def start(self, node):
        self.logs[node] = open(self.log(node), "ab")
        self.procs[node] = subprocess.Popen(
            [self.cohort, "agent", "--config", os.path.join(self.folder, f"node{node}.json")],
            stdout=self.logs[node], stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for_view(self, nodes, deadline_s):
        """Polls until the nodes report one view of exactly them, quorate; returns that view id."""
        started = time.monotonic()
        while time.monotonic() - started < deadline_s:
            statuses = [(ask(self.socket(n)) or {}).get("result") for n in nodes]
            if all(s and s.get("quorate") and s.get("view") for s in statuses):
                views = {(s["view"]["epoch"], s["view"]["coordinator"]) for s in statuses}
                members = [sorted(m["nodeId"] for m in s["view"]["members"]) for s in statuses]
                if len(views) == 1 and all(m == sorted(nodes) for m in members):
                    epoch, coordinator = views.pop()
                    return f"{epoch}.{coordinator}"
            for n in nodes:
                if self.procs[n].poll() is not None:
                    raise RuntimeError(f"node{n} exited with {self.procs[n].returncode}; see {self.log(n)}")
            time.sleep(0.01)
        raise RuntimeError(f"nodes {nodes} did not agree on a quorate view within {deadline_s:.0f} s; logs in {self.folder}")

    def kill(self, node):
        os.killpg(self.procs[node].pid, signal.SIGKILL)
        self.procs[node].wait()

    def lines(self, node):
        with open(self.log(node), errors="replace") as f:
            return f.read().splitlines()

    def close(self):
        for node in sorted(self.procs, reverse=True):  # the last first: each leaves cleanly
            proc = self.procs[node]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        for log in self.logs.values():
            log.close()


def quorate_without(cluster, node, victim, after):
    """The CLOCK_MONOTONIC time at which `node` logged quorate:True in a view without `victim`."""
    lines = cluster.lines(node)
    without = {m.group(1) for m in map(INSTALLED.search, lines)
               if m and str(victim) not in [x.split("#")[0] for x in m.group(2).split(", ")]}
    for m in map(QUORATE.search, lines):
        if m and m.group(1) in without and float(m.group(2)) > after:
            return float(m.group(2))
    return None


def failover_run(cohort, folder, victim, nodes, witness):
    cluster = Cluster(cohort, folder, nodes, witness)
    try:
        for n in range(1, nodes + 1):
            cluster.start(n)
        cluster.wait_for_view(list(range(1, nodes + 1)), FORM_DEADLINE_S)
        if witness:
            wait_for_witness_vote(cluster, 1)
        survivors = [n for n in range(1, nodes + 1) if n != victim]
        killed_at = time.monotonic()
        cluster.kill(victim)
        cluster.wait_for_view(survivors, FAILOVER_DEADLINE_S)
        # The status answered before the logger's queue wrote the line: poll the logs a little.
        deadline = time.monotonic() + 5.0
        stamps = [quorate_without(cluster, n, victim, killed_at) for n in survivors]
        while None in stamps and time.monotonic() < deadline:
            time.sleep(0.05)
            stamps = [quorate_without(cluster, n, victim, killed_at) for n in survivors]
        if None in stamps:
            raise RuntimeError(f"no quorate:True line after the kill in the survivors' logs in {folder}")
        return min(stamps) - killed_at, max(stamps) - killed_at
    finally:
        cluster.close()


def wait_for_witness_vote(cluster, node):
    """Polls `quorum` until the node's witness vote is its view's (the witness grants nothing at first)."""
    started = time.monotonic()
    while time.monotonic() - started < FORM_DEADLINE_S:
        device = ((ask(cluster.socket(node), "quorum") or {}).get("result") or {}).get("device") or {}
        if device.get("granted"):
            return
        time.sleep(0.01)
    raise RuntimeError(f"node{node} never held the witness's vote; logs in {cluster.folder}")


def soak(cohort, folder, seconds, repo):
    cluster = Cluster(cohort, folder)
    load = []
    try:
        for n in range(1, cluster.nodes + 1):
            cluster.start(n)
        formed = cluster.wait_for_view(list(range(1, cluster.nodes + 1)), FORM_DEADLINE_S)
        baseline = {n: len([l for l in cluster.lines(n) if INSTALLED.search(l)]) for n in range(1, cluster.nodes + 1)}
        copy = os.path.join(folder, "repo")
        subprocess.run(["git", "clone", "-q", repo, copy], check=True)
        load.append(subprocess.Popen(["stress-ng", "--cpu", "2", "--timeout", f"{int(seconds) + 5}s", "--quiet"],
                                     start_new_session=True))
        load.append(subprocess.Popen(
            ["bash", "-c", f"while true; do dotnet build '{copy}/Cohort.slnx' -c Release -nologo -v quiet "
                           f"--no-incremental >/dev/null 2>&1; done"], start_new_session=True))
        print(f"soak: cluster formed in view {formed}; stress-ng --cpu 2 and a build loop for {seconds:.0f} s", flush=True)
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            time.sleep(min(30.0, max(0.0, seconds - (time.monotonic() - started))))
            changes = sum(len([l for l in cluster.lines(n) if INSTALLED.search(l)]) - baseline[n] for n in baseline)
            print(f"  {time.monotonic() - started:6.0f} s: {changes} view installs since forming", flush=True)
        changes = {n: [l for l in cluster.lines(n) if INSTALLED.search(l)][baseline[n]:] for n in baseline}
        return changes
    finally:
        for proc in load:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        cluster.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9, help="failover runs (default 9; the victim rotates over the three nodes)")
    parser.add_argument("--witness", action="store_const", const="node", help="two agents and a cohort witness instead of three agents")
    parser.add_argument("--witness-file", dest="witness", action="store_const", const="file", help="two agents sharing a witness-file instead of three agents")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="run the soak instead, for this long (target: 600)")
    args = bench_args.parse(parser)

    root = tempfile.mkdtemp(prefix="cohort-bench-membership-")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if args.soak is not None:
            os.makedirs(os.path.join(root, "soak"))
            changes = soak(args.cohort, os.path.join(root, "soak"), args.soak, bench_args.REPO)
            total = sum(len(v) for v in changes.values())
            for node, lines in changes.items():
                for line in lines:
                    print(f"  node{node}: {line.strip()}")
            print(f"\nsoak  {args.soak:.0f} s under stress-ng --cpu 2 + a build loop: {total} spurious view installs "
                  f"(over 3 nodes)   target {SOAK_TARGET}: {'met' if total <= SOAK_TARGET else 'MISSED'}")
            return 0

        firsts, lasts = [], []
        nodes = 2 if args.witness else 3
        for i in range(args.runs):
            victim = nodes - (i % nodes)  # the highest first, then down to node1 (the coordinator)
            folder = os.path.join(root, f"run{i}")
            os.makedirs(folder)
            first, last = failover_run(args.cohort, folder, victim, nodes, args.witness)
            firsts.append(first)
            lasts.append(last)
            print(f"run {i + 1}/{args.runs}: SIGKILL node{victim} -> first survivor quorate without it {first * 1000:.0f} ms, "
                  f"all {last * 1000:.0f} ms", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(root, ignore_errors=True)

    first, last = statistics.median(firsts), statistics.median(lasts)
    print()
    print(f"failure timeout (configured, Cluster:Membership:FailureTimeout)   {FAILURE_TIMEOUT_MS:5d} ms")
    if args.witness:
        section = "WitnessNode" if args.witness == "node" else "WitnessFile"
        print(f"device lease (Cluster:Quorum:{section}:Lease)                  {WITNESS_LEASE_MS:5d} ms")
        print(f"SIGKILL -> the survivor quorate alone with the device's vote   median {last * 1000:5.0f} ms   "
              f"ratio to the failure timeout {last * 1000 / FAILURE_TIMEOUT_MS:.2f}x   "
              f"(min {min(lasts) * 1000:.0f}, max {max(lasts) * 1000:.0f})")
        return 0
    print(f"SIGKILL -> both survivors quorate in a new view   median {last * 1000:5.0f} ms   "
          f"ratio to the failure timeout {last * 1000 / FAILURE_TIMEOUT_MS:.2f}x   "
          f"target <= {FAILOVER_TARGET_S * 1000:.0f} ms: {'met' if last <= FAILOVER_TARGET_S else 'MISSED'}")
    print(f"SIGKILL -> first survivor quorate                 median {first * 1000:5.0f} ms   "
          f"(min {min(firsts) * 1000:.0f}, max {max(lasts) * 1000:.0f} over both)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
