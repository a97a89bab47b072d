#!/usr/bin/env python3
"""Remote lock+unlock between two real agents over the tcp transport on 127.0.0.1.

Starts two agents (node1 = A, node2 = B), an echo responder (`cohort debug echo`) and a `redis-server`, each on a
free loopback port. In every run, B first takes and releases the resource once, so that B masters it (the first
node to ask masters a resource; `Cluster:Dlm:CacheTime` is raised so that B keeps it between runs), and then A runs
`debug-dlm-bench` over its admin socket: N lock+unlock cycles of the resource in EX, one after another, each a round
trip to B and back for the lock (the unlock completes as it goes out, as VMS's $DEQ); and, by the same harness in
the same process, N raw TCP round trips of 64 bytes to the echo responder and N `SET key val NX PX 30000` + `DEL key`
pairs on one connection to redis, the three taking turns in blocks of 100 so that they share the machine's state.
A discarded warm-up run of 20000 cycles comes first. Status confirms, in each run, that B masters the resource and A
does not.

Prints each run's p50/p99 of the three and its ratios, then the medians over the runs and the median ratios against
the targets of docs/DESIGN.md: dlm p50 / raw round trip p50 <= 2.5, and dlm p50 / redis p50 < 1. Every process it starts is
stopped by PID at the end; every wait has a deadline."""

import argparse
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "lib"))
sys.path.insert(0, os.path.join(here, "..", "membership"))
import bench_args  # noqa: E402
from cohort_admin import ask  # noqa: E402
from membership import FORM_DEADLINE_S, Cluster  # noqa: E402
from ports import free_ports  # noqa: E402

A, B = 1, 2
LOCKSPACE, RESOURCE = "bench", "remote"
TARGET_RTT_RATIO = 2.5  # DESIGN.md: remote lock+unlock p50 <= 2.5 loopback round trips
TARGET_REDIS_RATIO = 1.0  # ... and faster than Redis SET NX + DEL
CACHE_TIME_S = 3600  # B keeps the idle resource for the whole benchmark
START_DEADLINE_S = 10.0  # for the echo responder and redis to accept connections
ECHO_LIFETIME_S = 3600  # the echo responder exits by itself after this, whatever happens here
WARMUP_CYCLES = 20_000  # before the kept runs
MASTER_DEADLINE_S = 30.0  # for status to show the lockspace running on both, B the master


def start_echo(cohort, folder):
    """Starts `cohort debug echo` on a free port; returns (process, port) once it listens."""
    log = open(os.path.join(folder, "echo.err"), "ab")
    proc = subprocess.Popen([cohort, "debug", "echo", "--listen", "127.0.0.1:0", "--timeout", str(ECHO_LIFETIME_S)],
                            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    started = time.monotonic()
    while time.monotonic() - started < START_DEADLINE_S:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline().decode().strip()
            if line.startswith("listening on 127.0.0.1:"):
                return proc, int(line.rsplit(":", 1)[1])
            raise RuntimeError(f"cohort debug echo said {line!r}, not 'listening on ...'")
        if proc.poll() is not None:
            raise RuntimeError(f"cohort debug echo exited with {proc.returncode}; see {folder}/echo.err")
    raise RuntimeError(f"cohort debug echo did not listen within {START_DEADLINE_S:.0f} s")


def start_redis(folder):
    """Starts redis-server on a free loopback port, without persistence; returns (process, port) once it answers."""
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    port = free_ports(1)[0]
    log = open(os.path.join(folder, "redis.log"), "ab")
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", folder, "--daemonize", "no"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    started = time.monotonic()
    while time.monotonic() - started < START_DEADLINE_S:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}; see {folder}/redis.log")
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer PING within {START_DEADLINE_S:.0f} s")


def stop(proc):
    """Stops a process this script started, by its PID (its own session's group), and reaps it."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(5.0)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def bench(cluster, node, count, timeout_s, echo=None, redis=None, warmup=None):
    """debug-dlm-bench on `node`; returns its report."""
    arguments = {"lockspace": LOCKSPACE, "resource": RESOURCE, "count": count, "mode": "EX",
                 "echo": echo, "redis": redis, "warmup": warmup, "timeoutSeconds": timeout_s}
    reply = ask(cluster.socket(node), "debug-dlm-bench", timeout=timeout_s + 10, arguments=arguments)
    if reply is None:
        raise RuntimeError(f"node{node} did not answer debug-dlm-bench within {timeout_s + 10:.0f} s")
    if not reply.get("ok"):
        raise RuntimeError(f"node{node}: debug-dlm-bench failed: {reply.get('error')}")
    return reply["result"]


def lockspace_of(cluster, node):
    status = (ask(cluster.socket(node)) or {}).get("result") or {}
    for ls in (status.get("dlm") or {}).get("lockspaces", []):
        if ls["name"] == LOCKSPACE:
            return ls
    return None


def wait_for_master(cluster, deadline_s):
    """Polls until both run the lockspace with both as members, B mastering the resource and A not."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        a, b = lockspace_of(cluster, A), lockspace_of(cluster, B)
        if a and b and all(ls["phase"] == "running" and len(ls["members"]) == 2 for ls in (a, b)):
            if b["mastered"] == 1 and a["mastered"] == 0:
                return
            raise RuntimeError(f"node{B} should master the resource and node{A} not: node{A} masters "
                               f"{a['mastered']} resources, node{B} {b['mastered']}")
        time.sleep(0.05)
    raise RuntimeError(f"the lockspace did not run on both nodes within {deadline_s:.0f} s")


def median_of(runs, key):
    return statistics.median(run[key] for run in runs)


def us(value):
    return f"{value:8.1f} us"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs (default 5), each measuring all three")
    parser.add_argument("--count", type=int, default=5000, help="lock+unlock cycles per run (default 5000)")
    parser.add_argument("--keep", action="store_true", help="keep the folder with the agents' logs")
    args = bench_args.parse(parser)
    if not 1 <= args.count <= 1_000_000:
        parser.error("--count must be 1 to 1000000")
    timeout_s = max(60.0, args.count * 0.02)  # 20 ms a cycle is far slower than any healthy run

    root = tempfile.mkdtemp(prefix="cohort-bench-dlm-")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    cluster = echo = redis = None
    runs = []
    try:
        folder = os.path.join(root, "cluster")
        os.makedirs(folder)
        cluster = Cluster(args.cohort, folder, 2)
        path = os.path.join(folder, "cluster.json")
        with open(path) as f:
            document = json.load(f)
        document["Dlm"] = {"CacheTime": CACHE_TIME_S}
        with open(path, "w") as f:
            json.dump(document, f)
        for n in (A, B):
            cluster.start(n)
        formed = cluster.wait_for_view([A, B], FORM_DEADLINE_S)
        echo, echo_port = start_echo(args.cohort, root)
        redis, redis_port = start_redis(root)
        print(f"2 agents quorate in view {formed}; echo responder on 127.0.0.1:{echo_port}, "
              f"redis-server on 127.0.0.1:{redis_port}", flush=True)

        bench(cluster, B, 1, timeout_s, warmup=0)  # B asks first: B masters the resource
        # Warm-up, not kept: the agents' code runs unoptimised until .NET's tiered JIT has recompiled it, which
        # takes some ten thousand cycles (a long-running agent is past it).
        bench(cluster, A, WARMUP_CYCLES, timeout_s, f"127.0.0.1:{echo_port}", f"127.0.0.1:{redis_port}")
        for i in range(args.runs):
            bench(cluster, B, 1, timeout_s, warmup=0)
            wait_for_master(cluster, MASTER_DEADLINE_S)
            report = bench(cluster, A, args.count, timeout_s, f"127.0.0.1:{echo_port}", f"127.0.0.1:{redis_port}")
            if not report["tokensGrew"]:
                raise RuntimeError(f"run {i + 1}: the fencing tokens did not grow ({report['firstToken']} .. {report['lastToken']})")
            wait_for_master(cluster, MASTER_DEADLINE_S)
            d, e, r = report["dlm"], report["echo"], report["redis"]
            runs.append(report)
            print(f"run {i + 1}/{args.runs}: {report['count']} cycles: dlm lock+unlock p50 {us(d['p50Microseconds'])} "
                  f"p99 {us(d['p99Microseconds'])} | raw RTT p50 {us(e['p50Microseconds'])} p99 {us(e['p99Microseconds'])} | "
                  f"redis SET NX PX + DEL p50 {us(r['p50Microseconds'])} p99 {us(r['p99Microseconds'])} | "
                  f"tokens {report['firstToken']} .. {report['lastToken']} | "
                  f"ratios {report['ratioToEcho']:.2f} RTT, {report['ratioToRedis']:.2f} redis", flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as e:
        print(f"dlm remote bench: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(echo)
        stop(redis)
        if cluster is not None:
            cluster.close()
        if args.keep:
            print(f"logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)

    median = lambda what, key: statistics.median(run[what][key] for run in runs)  # noqa: E731
    dlm50, dlm99 = median("dlm", "p50Microseconds"), median("dlm", "p99Microseconds")
    rtt50, rtt99 = median("echo", "p50Microseconds"), median("echo", "p99Microseconds")
    redis50, redis99 = median("redis", "p50Microseconds"), median("redis", "p99Microseconds")
    print()
    print(f"medians of {len(runs)} runs of {args.count} (p50, p99):")
    print(f"  dlm remote lock+unlock (EX, master on the other agent)  {us(dlm50)}  {us(dlm99)}")
    print(f"  raw loopback TCP round trip (64 B, same harness)        {us(rtt50)}  {us(rtt99)}")
    print(f"  redis SET key val NX PX 30000 + DEL key (one conn)      {us(redis50)}  {us(redis99)}")
    # The ratio of each run (its three measurements interleave, in blocks, on the same machine), then their median.
    rtt_ratio, redis_ratio = median_of(runs, "ratioToEcho"), median_of(runs, "ratioToRedis")
    print(f"dlm p50 / raw RTT p50   {rtt_ratio:6.2f}   target <= {TARGET_RTT_RATIO}: "
          f"{'met' if rtt_ratio <= TARGET_RTT_RATIO else 'MISSED'}")
    print(f"dlm p50 / redis p50     {redis_ratio:6.2f}   target < {TARGET_REDIS_RATIO:.0f}: "
          f"{'met' if redis_ratio < TARGET_REDIS_RATIO else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
