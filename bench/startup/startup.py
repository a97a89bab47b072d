#!/usr/bin/env python3
"""Start-up benchmark: time from spawning `cohort agent` to a quorate answer on its admin socket,
and the agent's idle resident memory. Prints medians and a ratio against a floor measured in the
same run (spawning `cohort --version`, i.e. .NET start-up plus our command-line parsing)."""

import argparse
import json
import os
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

READY_TARGET_S = 1.0
RSS_TARGET_MB = 100.0
READY_DEADLINE_S = 30.0
IDLE_S = 2.0
STOP_GRACE_S = 10.0


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


def stop(proc):
    """SIGTERM, then SIGKILL to the agent's process group after the grace period."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def write_config(folder):
    state = os.path.join(folder, "state")
    with open(os.path.join(folder, "cluster.json"), "w") as f:
        json.dump({"Name": "bench", "Nodes": [{"Id": 1, "Name": "n1"}],
                   "Quorum": {"Policy": "votequorum"}}, f)
    node = os.path.join(folder, "node.json")
    with open(node, "w") as f:
        json.dump({"Node": {"Id": 1, "Name": "n1", "Bootstrap": "cluster.json",
                            "StateDirectory": state}}, f)
    return node, os.path.join(state, "admin.sock")


def one_agent_run(cohort, folder, live):
    node, sock = write_config(folder)
    log = open(os.path.join(folder, "agent.log"), "wb")
    started = time.monotonic()
    proc = subprocess.Popen([cohort, "agent", "--config", node], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    live.append(proc)
    try:
        while True:
            reply = ask(sock)
            if reply and reply.get("ok") and (reply.get("result") or {}).get("quorate"):
                ready = time.monotonic() - started
                break
            if proc.poll() is not None:
                raise RuntimeError(f"agent exited with {proc.returncode}; see {log.name}")
            if time.monotonic() - started > READY_DEADLINE_S:
                raise RuntimeError(f"agent not ready within {READY_DEADLINE_S} s; see {log.name}")
            time.sleep(0.005)
        time.sleep(IDLE_S)  # let it go idle before reading its memory; not synchronisation
        rss = rss_mb(proc.pid)
    finally:
        stop(proc)
        live.remove(proc)
        log.close()
    return ready, rss


def one_floor_run(cohort):
    started = time.monotonic()
    subprocess.run([cohort, "--version"], check=True, stdout=subprocess.DEVNULL, timeout=60)
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="runs of each measurement (default 7)")
    args = bench_args.parse(parser)

    root = tempfile.mkdtemp(prefix="cohort-bench-startup-")
    live = []

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        one_floor_run(args.cohort)  # warm the page cache for both measurements
        floors, readies, rsses = [], [], []
        for i in range(args.runs):
            floors.append(one_floor_run(args.cohort))
            folder = os.path.join(root, f"run{i}")
            os.makedirs(folder)
            ready, rss = one_agent_run(args.cohort, folder, live)
            readies.append(ready)
            rsses.append(rss)
            print(f"run {i + 1}/{args.runs}: floor {floors[-1] * 1000:.0f} ms, ready {ready * 1000:.0f} ms, "
                  f"idle RSS {rss:.1f} MB", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for proc in live:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)

    floor, ready, rss = (statistics.median(x) for x in (floors, readies, rsses))
    print()
    print(f"floor  `cohort --version`           median {floor * 1000:7.0f} ms")
    print(f"ready  `cohort agent` to quorate     median {ready * 1000:7.0f} ms   "
          f"ratio to floor {ready / floor:.2f}x   target < {READY_TARGET_S * 1000:.0f} ms: "
          f"{'met' if ready < READY_TARGET_S else 'MISSED'}")
    print(f"idle   resident memory after {IDLE_S:.0f} s   median {rss:7.1f} MB   "
          f"target < {RSS_TARGET_MB:.0f} MB: {'met' if rss < RSS_TARGET_MB else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
