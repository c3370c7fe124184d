"""CPU time per tools/call that a stdio workload's process tree spends, next to the server alone.

Under a typical Python client — the official ``mcp`` SDK client (or ``--client httpx``, a plain
``httpx.AsyncClient`` speaking JSON-RPC) — with 8 concurrent sessions calling the SDK echo server
(tests/fixtures/echo_server.py), in one run:

    direct    the SDK client talks to the server over its stdin/stdout (one server process; the
              sessions' calls share its pipe): what the server itself costs per call
    toolhive  a real ``thv run --runtime process --transport stdio`` workload: the supervisor
              (proxy) process and the server process (sandbox included) are measured separately

CPU is user + system time from /proc/<pid>/stat, taken before and after the load, divided by the
calls made. The proxy's idle CPU (no client connected, and with the sessions open but quiet) is
measured too, because a loop that wakes up while nothing happens costs every workload all day.
``--profile`` records the proxy under load with py-spy (installed by benchmarks/proxy.py into the
peer venv) and prints where its time goes.

    uv run python benchmarks/cpu_per_call.py [--seconds 10] [--sessions 8] [--client sdk|httpx]
                                             [--rate CALLS_PER_S] [--rounds 2] [--profile]

By default every session calls flat out (the server is the bottleneck, so calls batch up);
``--rate`` paces the sessions to a total rate, as interactive clients are: each call then wakes
the processes on its own, which is what a call costs when it does not share a wake-up.

A benchmark, not a test: it prints figures and asserts nothing. Needs bubblewrap + uv (process
runtime). Load stays on loopback and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxy import tree_pids  # benchmarks/proxy.py, beside this script

REPO = Path(__file__).resolve().parents[1]
SDK_SERVER = REPO / "tests" / "fixtures" / "echo_server.py"
THV = str(Path(sys.executable).with_name("thv"))
PEER_VENV = Path(
    os.environ.get("TOOLHIVE_BENCH_VENV", "/var/cache/toolhive-test/bench-venvs/peers")
)
PROTOCOL = "2025-06-18"

Call = Callable[[str], Awaitable[str]]


# --------------------------------------------------------------------------- process CPU


def cpu_seconds(pid: int) -> float:
    """CPU time of one process (all its threads) so far, from the scheduler's nanosecond
    counters (``/proc/<pid>/stat`` counts 10 ms ticks: too coarse for idle loops); 0 once gone."""
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def ticks(pid: int) -> tuple[int, int]:
    """User and system clock ticks of one process so far (for the kernel's share)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    return int(fields[11]), int(fields[12])


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Meter:
    """CPU seconds (and the kernel's share of them) of named process groups between two points
    in time."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.start = self._now()
        self.start_ticks = self._ticks()
        self.started = time.perf_counter()

    def _now(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}

    def _ticks(self) -> dict[str, tuple[int, int]]:
        out = {}
        for name, pids in self.groups.items():
            pairs = [ticks(p) for p in pids]
            out[name] = (sum(u for u, _ in pairs), sum(s for _, s in pairs))
        return out

    def stop(self) -> tuple[dict[str, float], dict[str, float], float]:
        """CPU seconds per group, the kernel's share per group, wall seconds."""
        end, end_ticks = self._now(), self._ticks()
        kernel = {}
        for name, (user, system) in end_ticks.items():
            du, ds = user - self.start_ticks[name][0], system - self.start_ticks[name][1]
            kernel[name] = ds / (du + ds) if du + ds else 0.0
        cpu = {k: end[k] - self.start[k] for k in end}
        return cpu, kernel, time.perf_counter() - self.started


# --------------------------------------------------------------------------- clients


@contextlib.asynccontextmanager
async def sdk_http_sessions(url: str, count: int) -> AsyncIterator[list[Call]]:
    from mcp import Client

    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(url)) for _ in range(count)]
        yield [_sdk_echo(c) for c in clients]


@contextlib.asynccontextmanager
async def sdk_stdio_session(count: int) -> AsyncIterator[list[Call]]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=[str(SDK_SERVER), "stdio"])
    async with Client(params) as client:
        yield [_sdk_echo(client)] * count


def _sdk_echo(client: Any) -> Call:
    async def echo(text: str) -> str:
        result = await client.call_tool("echo", {"text": text})
        return str(result.content[0].text)

    return echo


@contextlib.asynccontextmanager
async def httpx_sessions(url: str, count: int) -> AsyncIterator[list[Call]]:
    import httpx

    async with httpx.AsyncClient(timeout=30) as http:
        calls = [await _httpx_session(http, url) for _ in range(count)]
        yield calls


async def _httpx_session(http: Any, url: str) -> Call:
    headers = {"accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "cpu-bench", "version": "1"},
        },
    }
    response = await http.post(url, json=init, headers=headers)
    response.raise_for_status()
    headers = {
        **headers,
        "mcp-session-id": response.headers["mcp-session-id"],
        "mcp-protocol-version": PROTOCOL,
    }
    await http.post(
        url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    ids = iter(range(1, 1 << 62))

    async def echo(text: str) -> str:
        body = {
            "jsonrpc": "2.0",
            "id": next(ids),
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": text}},
        }
        answer = (await http.post(url, json=body, headers=headers)).json()
        return str(answer["result"]["content"][0]["text"])

    return echo


# --------------------------------------------------------------------------- load


@dataclass
class Result:
    calls: int
    seconds: float
    cpu: dict[str, float]
    kernel: dict[str, float]
    client_cpu: float
    wrong: int


async def load(
    calls: list[Call], seconds: float, groups: dict[str, list[int]], rate: float = 0.0
) -> Result:
    """Each session calls in a loop (``rate`` 0), or all together ``rate`` calls a second."""
    done = wrong = 0
    started = time.perf_counter()
    deadline = started + seconds
    period = len(calls) / rate if rate else 0.0

    async def worker(n: int, call: Call) -> None:
        nonlocal done, wrong
        i = 0
        while time.perf_counter() < deadline:
            if period:  # sessions take turns, evenly spread
                due = started + (i + n / len(calls)) * period
                if due > deadline:
                    return
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            text = f"{n}:{i}"
            if await call(text) != text:
                wrong += 1
            done += 1
            i += 1

    meter = Meter(groups)
    client0 = time.process_time()
    await asyncio.gather(*(worker(n, c) for n, c in enumerate(calls)))
    cpu, kernel, elapsed = meter.stop()
    return Result(done, elapsed, cpu, kernel, time.process_time() - client0, wrong)


async def warm(calls: list[Call], count: int = 20) -> None:
    for _ in range(count):
        await asyncio.gather(*(c("warm") for c in calls))


async def idle(groups: dict[str, list[int]], seconds: float) -> dict[str, float]:
    meter = Meter(groups)
    await asyncio.sleep(seconds)
    cpu, _, elapsed = meter.stop()
    return {k: v / elapsed for k, v in cpu.items()}


# --------------------------------------------------------------------------- targets


async def run_direct(args: argparse.Namespace) -> Result:
    if args.client != "sdk":
        raise SystemExit("--client httpx needs an HTTP server; direct runs with the SDK client")
    async with sdk_stdio_session(args.sessions) as calls:
        servers = [
            p for p in tree_pids(os.getpid()) if p != os.getpid() and "echo_server" in cmdline(p)
        ]
        await warm(calls)
        return await load(calls, args.seconds, {"server": servers}, args.rate)


@contextlib.contextmanager
def workload(home: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLHIVE_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[var] = str(home / var.lower())
    name = "bench-cpu"
    subprocess.run(
        [
            *(THV, "run", "--runtime", "process", "--name", name, "--transport", "stdio"),
            *(sys.executable, "--", str(SDK_SERVER), "stdio"),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    try:
        listed = json.loads(
            subprocess.run(
                [THV, "list", "--format", "json"], env=env, check=True, capture_output=True
            ).stdout
        )
        url = next(w["url"] for w in listed if w["name"] == name)
        pid_file = home / "xdg_data_home" / "toolhive" / "pids" / f"toolhive-{name}.pid"
        yield url, int(pid_file.read_text())
    finally:
        subprocess.run([THV, "rm", name], env=env, capture_output=True, check=False)


async def run_toolhive(
    args: argparse.Namespace, home: Path
) -> tuple[Result, dict[str, float], dict[str, float]]:
    with workload(home) as (url, proxy_pid):
        servers = [p for p in tree_pids(proxy_pid) if p != proxy_pid]
        groups = {"proxy": [proxy_pid], "server": servers}
        await asyncio.sleep(1.0)  # let start-up work (client config sync, first ping) settle
        idle_alone = await idle(groups, args.idle)
        sessions = sdk_http_sessions if args.client == "sdk" else httpx_sessions
        async with sessions(url, args.sessions) as calls:
            await warm(calls)
            idle_open = await idle(groups, args.idle)
            profiler = start_profile(proxy_pid, args.seconds, home) if args.profile else None
            result = await load(calls, args.seconds, groups, args.rate)
        if profiler is not None:
            print_profile(profiler, home)
        return result, idle_alone, idle_open


# --------------------------------------------------------------------------- profile


def start_profile(pid: int, seconds: float, home: Path) -> subprocess.Popen[bytes]:
    spy = PEER_VENV / "bin" / "py-spy"
    if not spy.exists():
        raise SystemExit(f"{spy} is missing: run benchmarks/proxy.py once (it installs py-spy)")
    return subprocess.Popen(
        [
            *(str(spy), "record", "--pid", str(pid), "--duration", str(int(seconds))),
            *("--rate", "250", "--format", "raw", "--output", str(home / "profile.txt")),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def print_profile(proc: subprocess.Popen[bytes], home: Path) -> None:
    proc.wait()
    out = home / "profile.txt"
    if not out.exists():
        print("(py-spy produced no profile)")
        return
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.rsplit("/", 1)[-1] for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"\n### where the proxy's time goes under load ({total} samples)\nself time:")
    for frame, n in own.most_common(20):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print("inclusive:")
    for frame, n in inclusive.most_common(40):
        print(f"  {100 * n / total:5.1f}%  {frame}")


# --------------------------------------------------------------------------- the run


def per_call_us(result: Result, group: str) -> float:
    return result.cpu.get(group, 0.0) / result.calls * 1e6 if result.calls else 0.0


async def main_async(args: argparse.Namespace) -> None:
    print(
        f"# CPU per tools/call — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"{args.client} client, {args.sessions} sessions"
        f"{f' at {args.rate:g} calls/s' if args.rate else ''}, {args.rounds} rounds x "
        f"{args.seconds:.0f} s, Python {sys.version.split()[0]}"
    )
    direct: list[Result] = []
    ours: list[Result] = []
    idles: list[tuple[dict[str, float], dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="thv-cpu-") as tmp:
        for _ in range(args.rounds):
            if args.client == "sdk":
                direct.append(await run_direct(args))
            result, alone, opened = await run_toolhive(args, Path(tmp))
            ours.append(result)
            idles.append((alone, opened))
    load1, load5, _ = os.getloadavg()
    print(f"(load average now {load1:.1f} / 5 min {load5:.1f})\n")
    print(
        "| path | calls/s | proxy CPU µs/call | server CPU µs/call | tree µs/call "
        "| client CPU µs/call | proxy / server in kernel | wrong |"
    )
    print("|---|---|---|---|---|---|---|---|")

    def med(results: list[Result], fn: Callable[[Result], float]) -> float:
        return statistics.median(fn(r) for r in results)

    rows = [("direct stdio", direct), ("toolhive", ours)] if direct else [("toolhive", ours)]
    for name, results in rows:
        proxy = med(results, lambda r: per_call_us(r, "proxy"))
        server = med(results, lambda r: per_call_us(r, "server"))
        print(
            f"| {name} | {med(results, lambda r: r.calls / r.seconds):.0f} "
            f"| {proxy:.0f} | {server:.0f} | {proxy + server:.0f} "
            f"| {med(results, lambda r: r.client_cpu / r.calls * 1e6):.0f} "
            f"| {med(results, lambda r: r.kernel.get('proxy', 0.0)):.0%} / "
            f"{med(results, lambda r: r.kernel.get('server', 0.0)):.0%} "
            f"| {sum(r.wrong for r in results)} |"
        )
    alone = statistics.median(a["proxy"] for a, _ in idles) * 1000
    opened = statistics.median(o["proxy"] for _, o in idles) * 1000
    server_idle = statistics.median(o["server"] for _, o in idles) * 1000
    print(
        f"\nidle CPU: proxy {alone:.2f} ms/s with no client, {opened:.2f} ms/s with "
        f"{args.sessions} sessions open; server {server_idle:.2f} ms/s"
    )
    if direct:
        added = med(ours, lambda r: per_call_us(r, "proxy") + per_call_us(r, "server")) - med(
            direct, lambda r: per_call_us(r, "server")
        )
        print(f"the workload tree costs {added:+.0f} µs/call over the server alone")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="load per round")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--client", choices=("sdk", "httpx"), default="sdk")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="calls/s for all sessions together (0: flat out)"
    )
    parser.add_argument("--idle", type=float, default=3.0, help="idle measurement, seconds")
    parser.add_argument("--profile", action="store_true", help="py-spy the proxy under load")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
