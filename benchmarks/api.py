"""How fast ``thv serve`` lists workloads, and how soon its event stream reports a status change.

With ``--workloads`` (50) workloads in a fresh home — written straight into the state as ``thv``
leaves it (a RunConfig and a status file each; half ``running`` under a live supervisor PID, half
``stopped``), so no server has to run — one real ``thv serve`` (the console script, TCP, or
``--socket``) is measured in one run:

    health     ``GET /health`` (the floor: routing, headers, a cached runtime check)
    list       ``GET /api/v1beta/workloads?all=true`` (every workload: the state read + JSON)
    thv list   ``thv list --all --format json`` (a fresh process each time, as a script does)

``health`` and ``list`` are interleaved over one keep-alive connection (sequential requests),
p50/p99 each. Then the event stream: with a client connected (snapshot read), one workload's status
file is rewritten as another process would (``store.set_status``) at a random moment, and the
time from the write until its ``event: workload`` arrives is taken, p50/p99 (inotify wakes the
watcher on Linux; elsewhere it is its 200 ms tick plus the scan). Last, what the watcher costs: one scan of the state,
and the server's CPU while a stream is open and nothing changes.

    uv run python benchmarks/api.py [--workloads 50] [--requests 400] [--cli-runs 20]
                                    [--changes 100] [--socket]

A benchmark, not a test: it prints figures and asserts nothing. Everything stays on loopback
and in a temporary home, removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from toolhive.testing.api import ApiServer, isolated_env, thv_executable


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1e3:7.2f} ms   p99 {percentile(values, 99) * 1e3:7.2f} ms"
        f"   mean {statistics.fmean(values) * 1e3:7.2f} ms   (n={len(values)})"
    )


def populate(count: int) -> list[str]:
    """``count`` workloads in the state of the home ``os.environ`` points at."""
    from toolhive.models.runconfig import RunConfig
    from toolhive.models.workload import WorkloadStatus as S
    from toolhive.state import store

    names = []
    for i in range(count):
        name = f"bench-{i:03d}"
        store.save_runconfig(
            RunConfig(
                name=name,
                base_name=name,
                container_name=name,
                image="ghcr.io/example/echo:1",
                transport="streamable-http",
                port=20000 + i,
                target_port=8080,
                group="default" if i % 5 else "team",
                container_labels={"toolhive": "true", "toolhive-name": name},
                runtime="process",
            )
        )
        running = i % 2 == 0
        # A live PID (this process) keeps ``running`` as it is: nothing is spawned.
        store.set_status(
            name, S.RUNNING if running else S.STOPPED, process_id=os.getpid() * running
        )
        names.append(name)
    return names


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_list(api: ApiServer, requests: int) -> tuple[list[float], list[float], int]:
    client = api.client
    for _ in range(20):  # warm up: imports, the runtime check, connection
        client.get("/health")
        client.get("/api/v1beta/workloads", params={"all": "true"})
    health: list[float] = []
    listing: list[float] = []
    rows = 0
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get("/health")
        health.append(time.perf_counter() - started)
        if answer.status_code not in (204, 503):
            raise SystemExit(f"/health answered {answer.status_code}: {answer.text}")
        started = time.perf_counter()
        answer = client.get("/api/v1beta/workloads", params={"all": "true"})
        listing.append(time.perf_counter() - started)
        rows = len(answer.json()["workloads"])
    return health, listing, rows


def bench_cli(env: dict[str, str], runs: int) -> tuple[list[float], int]:
    exe = str(thv_executable())
    times: list[float] = []
    rows = 0
    for _ in range(runs + 2):
        started = time.perf_counter()
        proc = subprocess.run(
            [exe, "list", "--all", "--format", "json"], env=env, capture_output=True, check=True
        )
        times.append(time.perf_counter() - started)
        rows = proc.stdout.count(b'"name"')
    return times[2:], rows  # the first two warm the page cache


def bench_events(api: ApiServer, names: list[str], changes: int) -> tuple[list[float], int]:
    from toolhive.models.workload import WorkloadStatus as S
    from toolhive.state import store

    delays: list[float] = []
    missed = 0
    stopped = [n for i, n in enumerate(names) if i % 2]
    rng = random.Random(11)
    with api.events() as stream:
        stream.until(lambda e: e.event == "ready", timeout=30)
        for i in range(changes):
            name = rng.choice(stopped)
            time.sleep(rng.uniform(0.0, 0.25))  # any phase of the watcher's 200 ms tick
            status = S.ERROR if i % 2 == 0 else S.STOPPED
            store.set_status(name, status, f"benchmark change {i}")
            written = time.perf_counter()
            try:
                stream.until(
                    lambda e, n=name, i=i: (
                        e.event == "workload"
                        and e.data["name"] == n
                        and e.data.get("status_context", "") == f"benchmark change {i}"
                    ),
                    timeout=5,
                )
            except TimeoutError:
                missed += 1
                continue
            delays.append(time.perf_counter() - written)
    return delays, missed


def bench_watcher(api: ApiServer, idle_seconds: float) -> tuple[float, float, float, float]:
    """The watcher's scan of this state (in this process): a tick when no folder changed, and a
    full listing (re-reading no file); the server's CPU share idle, without a client and with a
    stream open."""
    from toolhive.workloads.watch import StateScanner

    def per_scan(scanner: StateScanner, rounds: int = 300) -> float:
        scanner.scan()  # reads every file once
        started = time.perf_counter()
        for _ in range(rounds):
            scanner.scan()
        return (time.perf_counter() - started) / rounds

    time.sleep(2.1)  # the folders' last change is no longer recent
    tick = per_scan(StateScanner())  # as the server runs it: a full listing every 5th tick
    full = per_scan(StateScanner(full_every=1, recent_s=0))

    before = cpu_seconds(api.pid)
    time.sleep(idle_seconds)
    idle = (cpu_seconds(api.pid) - before) / idle_seconds
    with api.events() as stream:
        stream.until(lambda e: e.event == "ready", timeout=30)
        before = cpu_seconds(api.pid)
        time.sleep(idle_seconds)
        watching = (cpu_seconds(api.pid) - before) / idle_seconds
    return tick, full, idle, watching


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--cli-runs", type=int, default=20)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--socket", action="store_true", help="Serve on a unix socket.")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="thv-bench-api-"))
    env = isolated_env(root)
    os.environ.update({k: env[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")})
    try:
        names = populate(args.workloads)
        with ApiServer(env, socket=True if args.socket else None) as api:
            where = "unix socket" if args.socket else "TCP 127.0.0.1"
            print(
                f"thv serve on {where}, {args.workloads} workloads in the state, {os.cpu_count()} CPUs"
            )
            health, listing, rows = bench_list(api, args.requests)
            print(f"  GET /health                        {ms(health)}")
            print(f"  GET /api/v1beta/workloads?all=true {ms(listing)}   {rows} rows")
            cli, cli_rows = bench_cli(env, args.cli_runs)
            print(f"  thv list --all --format json       {ms(cli)}   {cli_rows} rows")
            ratio = percentile(listing, 50) / percentile(health, 50)
            print(
                f"  list p50 = {ratio:.1f}x health p50; thv list p50 = "
                f"{percentile(cli, 50) / percentile(listing, 50):.0f}x API list p50"
            )
            delays, missed = bench_events(api, names, args.changes)
            if delays:
                print(f"  event delay after a status write   {ms(delays)}   missed {missed}")
            else:
                print(f"  event delay: no event arrived ({missed} changes missed)")
            tick, full, idle, watching = bench_watcher(api, args.idle_seconds)
            print(
                f"  watcher, nothing changing: {tick * 1e3:.3f} ms per tick on average "
                f"(a full listing, every 5th tick: {full * 1e3:.3f} ms)"
            )
            print(
                f"  server CPU, idle: {idle * 100:.2f}% without a client, "
                f"{watching * 100:.2f}% with an event stream open"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
