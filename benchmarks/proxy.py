"""How fast the stdio bridge is, next to calling the server directly and next to its peers.

The same stdio MCP server is reached, in one run, on 127.0.0.1:

    direct        over its own stdin/stdout (the floor; concurrent "sessions" share the one pipe)
    toolhive      through our bridge: a real `thv run --runtime process --transport stdio` workload
    toolhive+chain  the same with every protection on: --oidc-* (a real issuer, RS256 tokens),
                  --authz-config (Cedar), --audit-config (to a file), Prometheus telemetry
    supergateway  npm supergateway 4.0.0, stdio → streamable HTTP, --stateful
    mcp-proxy     PyPI mcp-proxy 0.13.0 (installed into its own venv, not the workspace)

for two servers: `sdk` (tests/fixtures/echo_server.py, the official SDK: realistic) and `raw` (a
newline-delimited JSON-RPC echo loop in this file, stdlib only: shows the bridge's own cost). A lean
asyncio HTTP/1.1 keep-alive client measures p50/p99 of sequential calls, calls/s with 8 and 32
concurrent sessions, with 32 B and 64 KiB payloads; every call carries unique text, so an answer
delivered to the wrong session is counted ("wrong"). The bridge process's RSS is sampled (idle,
peak). Medians over interleaved rounds. Then the issue's targets, and — for a missed target — a
py-spy profile of the bridge under load.

    uv run python benchmarks/proxy.py [--rounds 2] [--seconds 3] [--servers sdk,raw]
                                      [--targets direct,toolhive,toolhive+chain,supergateway,mcp-proxy]

Needs scripts/install-node.sh (Node, supergateway), bubblewrap + uv (process runtime). A
benchmark, not a test: it prints figures and asserts nothing. Load stays on loopback and stops.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SDK_SERVER = REPO / "tests" / "fixtures" / "echo_server.py"
LOOPBACK_JS = REPO / "tests" / "conformance" / "loopback.cjs"
THV = str(Path(sys.executable).with_name("thv"))
PEER_VENV = Path(
    os.environ.get("TOOLHIVE_BENCH_VENV", "/var/cache/toolhive-test/bench-venvs/peers")
)
MCP_PROXY_VERSION = "0.13.0"
PROTOCOL = "2025-06-18"
TARGETS = {
    "p50_added_ms": 0.5,
    "p50_vs_peer": 0.5,
    "throughput_vs_peer": 1.5,
    "rss_mib": 40.0,
    "chain_p50_added_ms": 0.3,
    "chain_throughput_ratio": 0.8,
}
SIZES = {"32B": 32, "64KiB": 65536}
CONCURRENCY = (8, 32)


# --------------------------------------------------------------------------- raw echo server


def raw_echo_server() -> None:
    """Newline-delimited JSON-RPC over stdio: initialize, tools/list, tools/call echo, ping."""
    out = sys.stdout.buffer
    tool = {
        "name": "echo",
        "description": "Return the given text unchanged.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    }
    for line in sys.stdin.buffer:
        msg = json.loads(line)
        if "id" not in msg or "method" not in msg:
            continue
        method, params = msg["method"], msg.get("params") or {}
        reply: dict[str, object] = {"jsonrpc": "2.0", "id": msg["id"]}
        if method == "initialize":
            reply["result"] = {
                "protocolVersion": params.get("protocolVersion", PROTOCOL),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "raw-echo", "version": "1.0.0"},
            }
        elif method == "tools/list":
            reply["result"] = {"tools": [tool]}
        elif method == "tools/call":
            text = params["arguments"]["text"]
            reply["result"] = {"content": [{"type": "text", "text": text}], "isError": False}
        elif method == "ping":
            reply["result"] = {}
        else:
            reply["error"] = {"code": -32601, "message": f"Method not found: {method}"}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


def server_command(server: str) -> list[str]:
    if server == "sdk":
        return [sys.executable, str(SDK_SERVER), "stdio"]
    return [sys.executable, str(Path(__file__).resolve()), "--raw-echo-server"]


# --------------------------------------------------------------------------- load clients

INIT_PARAMS = {
    "protocolVersion": PROTOCOL,
    "capabilities": {},
    "clientInfo": {"name": "toolhive-bench", "version": "1.0.0"},
}


class CallError(Exception):
    pass


class HttpSession:
    """One MCP session over one keep-alive HTTP/1.1 connection; JSON or SSE answers."""

    def __init__(self, host: str, port: int, path: str, extra: tuple[str, ...] = ()) -> None:
        self.host, self.port, self.path = host, port, path
        self.extra = extra  # header lines sent on every request (Authorization)
        self.session_id: str | None = None
        self.protocol: str | None = None
        self.next_id = 0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        result = await self.rpc("initialize", INIT_PARAMS)
        self.protocol = result.get("protocolVersion", PROTOCOL)
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.session_id:
                await self.send("DELETE", b"")
            self.writer.close()
            await self.writer.wait_closed()

    async def send(self, method: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        head = [
            f"{method} {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            "Accept: application/json, text/event-stream",
            f"Content-Length: {len(body)}",
            *self.extra,
        ]
        if self.session_id:
            head.append(f"Mcp-Session-Id: {self.session_id}")
        if self.protocol:
            head.append(f"MCP-Protocol-Version: {self.protocol}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line, *lines = (await self.reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
        headers = {}
        for line in lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append((await self.reader.readexactly(size + 2))[:-2])
            data = b"".join(parts)
        else:
            data = b""
        return status, headers, data

    async def post(self, message: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
        return await self.send("POST", json.dumps(message).encode())

    async def rpc(self, method: str, params: dict[str, object]) -> dict[str, object]:
        self.next_id += 1
        status, headers, data = await self.post(
            {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        )
        if status != 200:
            raise CallError(f"HTTP {status}: {data[:200]!r}")
        if "mcp-session-id" in headers:
            self.session_id = headers["mcp-session-id"]
        if headers.get("content-type", "").startswith("text/event-stream"):
            for event in data.split(b"\n\n"):
                payload = b"\n".join(
                    line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")
                )
                if payload:
                    message = json.loads(payload)
                    if message.get("id") == self.next_id:
                        break
            else:
                raise CallError("no response in the SSE stream")
        else:
            message = json.loads(data)
        if "error" in message:
            raise CallError(str(message["error"]))
        return message["result"]

    async def echo(self, text: str) -> str:
        result = await self.rpc("tools/call", {"name": "echo", "arguments": {"text": text}})
        return result["content"][0]["text"]  # type: ignore[index]


class StdioServer:
    """The server as a direct child: requests pipelined on its stdin, answers matched by id."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.pending: dict[int, asyncio.Future[dict[str, object]]] = {}
        self.next_id = 0

    async def open(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            limit=1 << 24,
        )
        self.reader_task = asyncio.create_task(self._read())
        await self.rpc("initialize", INIT_PARAMS)
        self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _write(self, message: dict[str, object]) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")

    async def _read(self) -> None:
        assert self.proc.stdout
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            future = self.pending.pop(message.get("id"), None)
            if future and not future.done():
                future.set_result(message)

    async def rpc(self, method: str, params: dict[str, object]) -> dict[str, object]:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        self._write({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        assert self.proc.stdin
        await self.proc.stdin.drain()
        message = await future
        if "error" in message:
            raise CallError(str(message["error"]))
        return message["result"]  # type: ignore[return-value]

    async def echo(self, text: str) -> str:
        result = await self.rpc("tools/call", {"name": "echo", "arguments": {"text": text}})
        return result["content"][0]["text"]  # type: ignore[index]

    async def close(self) -> None:
        self.reader_task.cancel()
        self.proc.terminate()
        await self.proc.wait()


# --------------------------------------------------------------------------- measurements


@dataclass
class Load:
    calls: int = 0
    errors: int = 0
    wrong: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def payload(tag: str, size: int) -> str:
    return (tag + "-" + "x" * size)[: max(size, len(tag))]


async def worker(
    session: object, tag: str, size: int, load: Load, stop: Callable[[], bool]
) -> None:
    i = 0
    while not stop():
        text = payload(f"{tag}:{i}", size)
        started = time.perf_counter_ns()
        try:
            answer = await session.echo(text)  # type: ignore[attr-defined]
        except Exception:
            load.errors += 1
            if load.errors > 1000:
                return
            continue
        load.latencies_ns.append(time.perf_counter_ns() - started)
        load.calls += 1
        if answer != text:
            load.wrong += 1
        i += 1


class Target:
    """A way to reach the echo server; `session()` gives a connected client session."""

    name = ""
    pid: int | None = None  # the bridge process whose RSS counts
    ready_ms = 0.0

    async def session(self) -> HttpSession | StdioServer:
        raise NotImplementedError


class HttpTarget(Target):
    def __init__(
        self, name: str, url: str, pid: int | None, ready_ms: float, extra: tuple[str, ...] = ()
    ) -> None:
        self.name, self.pid, self.ready_ms = name, pid, ready_ms
        self.extra = extra
        rest = url.split("://", 1)[1]
        hostport, _, path = rest.partition("/")
        host, _, port = hostport.partition(":")
        self.host, self.port, self.path = host, int(port), "/" + path

    async def session(self) -> HttpSession:
        session = HttpSession(self.host, self.port, self.path, self.extra)
        await session.open()
        return session


async def run_load(
    target: Target, sessions: int, size: int, seconds: float, direct: StdioServer | None
) -> Load:
    opened: list[HttpSession | StdioServer] = []
    if direct is not None:
        opened = [direct] * sessions
    else:
        opened = list(await asyncio.gather(*(target.session() for _ in range(sessions))))
    load = Load()
    deadline = time.perf_counter() + seconds
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(
        *(
            worker(s, f"{target.name}/{n}", size, load, lambda: time.perf_counter() > deadline)
            for n, s in enumerate(opened)
        )
    )
    load.seconds = time.perf_counter() - t0
    load.client_cpu_s = time.process_time() - cpu0
    if direct is None:
        await asyncio.gather(*(s.close() for s in opened))  # type: ignore[union-attr]
    return load


async def sequential(target: Target, size: int, count: int, direct: StdioServer | None) -> Load:
    session = direct if direct is not None else await target.session()
    warm = Load()
    done = iter(range(count // 10 + 20))
    await worker(session, f"{target.name}/warm", size, warm, lambda: next(done, None) is None)
    load = Load()
    left = iter(range(count))
    cpu0, t0 = time.process_time(), time.perf_counter()
    await worker(session, f"{target.name}/seq", size, load, lambda: next(left, None) is None)
    load.seconds = time.perf_counter() - t0
    load.client_cpu_s = time.process_time() - cpu0
    if direct is None:
        await session.close()  # type: ignore[union-attr]
    return load


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_pids(root: int) -> list[int]:
    children = collections.defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class RssSampler:
    """Samples the bridge process's RSS (and its process tree's) in a thread."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.peak = 0
        self.tree_peak = 0
        self.tree_procs = 0
        self._stop = threading.Event()

    def __enter__(self) -> RssSampler:
        if self.pid:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        assert self.pid
        n = 0
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_kib(self.pid))
            n += 1
            if n % 10 == 0:
                pids = tree_pids(self.pid)
                self.tree_peak = max(self.tree_peak, sum(rss_kib(p) for p in pids))
                self.tree_procs = max(self.tree_procs, len(pids))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


# --------------------------------------------------------------------------- targets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_ready(
    url: str,
    started: float,
    proc: subprocess.Popen[bytes] | None = None,
    extra: tuple[str, ...] = (),
) -> float:
    target = HttpTarget("probe", url, None, 0, extra)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the bridge exited with {proc.returncode}")
        try:
            session = await target.session()
            await session.close()
            return (time.monotonic() - started) * 1000
        except (OSError, CallError, asyncio.IncompleteReadError, ValueError):
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{url} not ready after 60 s")


@contextlib.contextmanager
def spawned(
    command: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def node_tools() -> Path:
    for candidate in (os.environ.get("TOOLHIVE_NODE_TOOLS"), "/var/cache/toolhive-test/node-tools"):
        if candidate and (Path(candidate) / "node_modules" / "supergateway").exists():
            return Path(candidate)
    subprocess.run(["bash", str(REPO / "scripts" / "install-node.sh")], check=True)
    return Path("/var/cache/toolhive-test/node-tools")


def peer_venv() -> Path:
    """mcp-proxy (PyPI) and py-spy in a venv of their own, never the workspace's."""
    exe = PEER_VENV / "bin" / "mcp-proxy"
    if not exe.exists() or not (PEER_VENV / "bin" / "py-spy").exists():
        subprocess.run(["uv", "venv", "--quiet", str(PEER_VENV)], check=True)
        subprocess.run(
            [
                *("uv", "pip", "install", "--quiet", "--python", str(PEER_VENV / "bin" / "python")),
                f"mcp-proxy=={MCP_PROXY_VERSION}",
                "py-spy",
            ],
            check=True,
        )
    return PEER_VENV


#: The issue-10 chain: OIDC auth (a real issuer, RS256), Cedar authz, audit, telemetry.
CHAIN_AUTHZ = {
    "version": "1.0",
    "type": "cedarv1",
    "cedar": {
        "policies": ['permit(principal, action == Action::"call_tool", resource == Tool::"echo");'],
        "entities_json": "[]",
    },
}


@contextlib.contextmanager
def chain_flags(home: Path, on: bool) -> Iterator[tuple[list[str], tuple[str, ...]]]:
    """`thv run` flags turning every protection on, and the header a client then needs."""
    if not on:
        yield [], ()
        return
    from toolhive.testing.oidc import OIDCIssuer

    authz = home / "authz.json"
    authz.write_text(json.dumps(CHAIN_AUTHZ))
    audit = home / "audit.json"
    audit.write_text(json.dumps({"logFile": str(home / "audit.log")}))
    with OIDCIssuer(audience="bench") as issuer:
        token = issuer.token(sub="bench", lifetime=3600)
        flags = [
            *("--oidc-issuer", issuer.url, "--oidc-audience", "bench"),
            *("--oidc-insecure-allow-http", "--jwks-allow-private-ip"),
            *("--authz-config", str(authz), "--audit-config", str(audit)),
            "--otel-enable-prometheus-metrics-path",
        ]
        yield flags, (f"Authorization: Bearer {token}",)


@contextlib.asynccontextmanager
async def start_toolhive(
    name: str, server: str, home: Path, flags: list[str], extra: tuple[str, ...]
):
    """A real `thv run --runtime process` workload (with ``flags``) in front of the server."""
    command = server_command(server)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLHIVE_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[var] = str(home / var.lower())
    workload = f"bench-{name.replace('+', '-')}-{server}"
    started = time.monotonic()
    subprocess.run(
        [
            *(THV, "run", "--runtime", "process", "--name", workload, "--transport", "stdio"),
            *flags,
            command[0],
            "--",
            *command[1:],
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
        url = next(w["url"] for w in listed if w["name"] == workload)
        ready = await wait_ready(url, started, None, extra)
        pid_file = home / "xdg_data_home" / "toolhive" / "pids" / f"toolhive-{workload}.pid"
        yield HttpTarget(name, url, int(pid_file.read_text()), ready, extra)
    finally:
        subprocess.run([THV, "rm", workload], env=env, capture_output=True, check=False)


@contextlib.asynccontextmanager
async def start_target(name: str, server: str, home: Path):
    command = server_command(server)
    if name in ("toolhive", "toolhive+chain"):
        with chain_flags(home, name == "toolhive+chain") as (flags, extra):
            async with start_toolhive(name, server, home, flags, extra) as target:
                yield target
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    if name == "supergateway":
        tools = node_tools()
        argv = [
            str(tools / "bin" / "node"),
            "--require",
            str(LOOPBACK_JS),
            str(tools / "node_modules" / "supergateway" / "dist" / "index.js"),
            "--stdio",
            " ".join(command),
            "--outputTransport",
            "streamableHttp",
            "--stateful",
            "--port",
            str(port),
            "--logLevel",
            "none",
        ]
    else:  # mcp-proxy
        venv = peer_venv()
        argv = [str(venv / "bin" / "mcp-proxy"), "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--pass-environment", "--log-level", "WARNING", "--", *command]
    started = time.monotonic()
    with spawned(argv) as proc:
        ready = await wait_ready(url, started, proc)
        yield HttpTarget(name, url, proc.pid, ready)


# --------------------------------------------------------------------------- the run


@dataclass
class Figures:
    p50_ms: dict[str, float] = field(default_factory=dict)
    p99_ms: dict[str, float] = field(default_factory=dict)
    rate: dict[str, float] = field(default_factory=dict)
    wrong: int = 0
    errors: int = 0
    idle_rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    tree_peak_mib: float = 0.0
    tree_procs: int = 0
    ready_ms: float = 0.0
    client_cpu_us: float = 0.0


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


async def measure(target: Target, direct: StdioServer | None, args: argparse.Namespace) -> Figures:
    fig = Figures(ready_ms=target.ready_ms)
    await asyncio.sleep(0.3)
    fig.idle_rss_mib = rss_kib(target.pid) / 1024 if target.pid else 0.0
    cpu_calls, cpu_s = 0, 0.0
    with RssSampler(target.pid) as sampler:
        for label, size in SIZES.items():
            count = args.calls if size < 1024 else max(args.calls // 5, 100)
            seq = await sequential(target, size, count, direct)
            fig.p50_ms[label], fig.p99_ms[label] = (
                pct(seq.latencies_ns, 0.5),
                pct(seq.latencies_ns, 0.99),
            )
            fig.wrong += seq.wrong
            fig.errors += seq.errors
            for sessions in CONCURRENCY:
                load = await run_load(target, sessions, size, args.seconds, direct)
                fig.rate[f"{label}/{sessions}"] = load.rate
                fig.wrong += load.wrong
                fig.errors += load.errors
                if size < 1024:
                    cpu_calls += load.calls
                    cpu_s += load.client_cpu_s
    fig.peak_rss_mib = sampler.peak / 1024
    fig.tree_peak_mib = sampler.tree_peak / 1024
    fig.tree_procs = sampler.tree_procs
    fig.client_cpu_us = cpu_s / cpu_calls * 1e6 if cpu_calls else 0.0
    return fig


async def one_round(
    server: str, names: list[str], args: argparse.Namespace, home: Path
) -> dict[str, Figures]:
    out: dict[str, Figures] = {}
    for name in names:
        if name == "direct":
            started = time.monotonic()
            direct = StdioServer(server_command(server))
            await direct.open()
            target = Target()
            target.name, target.pid = "direct", direct.proc.pid
            target.ready_ms = (time.monotonic() - started) * 1000
            try:
                out[name] = await measure(target, direct, args)
            finally:
                await direct.close()
            continue
        async with start_target(name, server, home) as target:
            out[name] = await measure(target, None, args)
    return out


def median_figures(rounds: list[Figures]) -> Figures:
    med = Figures()
    for key in ("p50_ms", "p99_ms", "rate"):
        for sub in getattr(rounds[0], key):
            getattr(med, key)[sub] = statistics.median(getattr(r, key)[sub] for r in rounds)
    for key in ("idle_rss_mib", "ready_ms", "client_cpu_us"):
        setattr(med, key, statistics.median(getattr(r, key) for r in rounds))
    for key in ("peak_rss_mib", "tree_peak_mib", "tree_procs"):
        setattr(med, key, max(getattr(r, key) for r in rounds))
    med.wrong = sum(r.wrong for r in rounds)
    med.errors = sum(r.errors for r in rounds)
    return med


def print_table(server: str, figs: dict[str, Figures]) -> list[str]:
    """The table; returns the targets missed (for profiling)."""
    load1, load5, _ = os.getloadavg()
    print(f"\n## server: {server}  (medians; +p50 = added over direct stdio)")
    print(f"(load average now {load1:.1f} / 5 min {load5:.1f} on {os.cpu_count()} cores)\n")
    print(
        "| path | p50 32B | +p50 32B | p99 32B | p50 64KiB | +p50 64KiB | calls/s 8 | calls/s 32 "
        "| 64KiB calls/s 8/32 | idle/peak RSS MiB | tree peak MiB (procs) | ready ms | wrong | errors "
        "| client CPU µs/call |"
    )
    print("|" + "---|" * 15)
    base = figs.get("direct")
    for name, f in figs.items():
        add32 = f.p50_ms["32B"] - base.p50_ms["32B"] if base and name != "direct" else 0.0
        add64 = f.p50_ms["64KiB"] - base.p50_ms["64KiB"] if base and name != "direct" else 0.0
        print(
            f"| {name} | {f.p50_ms['32B']:.3f} | {add32:+.3f} | {f.p99_ms['32B']:.3f} "
            f"| {f.p50_ms['64KiB']:.3f} | {add64:+.3f} | {f.rate['32B/8']:.0f} | {f.rate['32B/32']:.0f} "
            f"| {f.rate['64KiB/8']:.0f}/{f.rate['64KiB/32']:.0f} "
            f"| {f.idle_rss_mib:.1f}/{f.peak_rss_mib:.1f} | {f.tree_peak_mib:.1f} ({f.tree_procs}) "
            f"| {f.ready_ms:.0f} | {f.wrong} | {f.errors} | {f.client_cpu_us:.0f} |"
        )
    ours = figs.get("toolhive")
    peers = {n: f for n, f in figs.items() if n not in ("direct", "toolhive", "toolhive+chain")}
    if not ours or not base:
        return []
    missed: list[str] = []

    def verdict(ok: bool, text: str) -> None:
        print(f"- {'OK  ' if ok else 'MISS'} {text}")
        if not ok:
            missed.append(text)

    print("\nTargets (issue 3):")
    for label in SIZES:
        added = ours.p50_ms[label] - base.p50_ms[label]
        verdict(added <= TARGETS["p50_added_ms"], f"{label}: added p50 {added:.3f} ms ≤ 0.5 ms")
        if peers:
            best_name, best = min(
                ((n, f.p50_ms[label] - base.p50_ms[label]) for n, f in peers.items()),
                key=lambda x: x[1],
            )
            verdict(
                added <= TARGETS["p50_vs_peer"] * best,
                f"{label}: added p50 {added:.3f} ms ≤ half of best peer's ({best_name} {best:.3f} ms)"
                f" → ratio {added / best if best > 0 else float('inf'):.2f}",
            )
    for key in ("32B/8", "32B/32", "64KiB/8", "64KiB/32"):
        if peers:
            best_name, best = max(((n, f.rate[key]) for n, f in peers.items()), key=lambda x: x[1])
            ratio = ours.rate[key] / best if best else float("inf")
            verdict(
                ratio >= TARGETS["throughput_vs_peer"],
                f"{key} sessions: {ours.rate[key]:.0f} calls/s ≥ 1.5x best peer ({best_name} "
                f"{best:.0f}) → {ratio:.2f}x",
            )
    verdict(
        ours.peak_rss_mib <= TARGETS["rss_mib"],
        f"bridge RSS idle {ours.idle_rss_mib:.1f} / peak {ours.peak_rss_mib:.1f} MiB ≤ 40 MiB",
    )
    verdict(
        ours.wrong == 0 and ours.errors == 0,
        f"bridge wrong answers {ours.wrong}, errors {ours.errors}",
    )
    chain = figs.get("toolhive+chain")
    if chain:
        bridge_missed = list(missed)
        print("\nTargets (issue 10: auth + authz + audit + telemetry, over the bare bridge):")
        added = chain.p50_ms["32B"] - ours.p50_ms["32B"]
        verdict(
            added <= TARGETS["chain_p50_added_ms"], f"32B: chain adds p50 {added:.3f} ms ≤ 0.3 ms"
        )
        for key in ("32B/8", "32B/32"):
            ratio = chain.rate[key] / ours.rate[key] if ours.rate[key] else 0.0
            verdict(
                ratio >= TARGETS["chain_throughput_ratio"],
                f"{key} sessions: {chain.rate[key]:.0f} calls/s ≥ 0.8x the bare bridge "
                f"({ours.rate[key]:.0f}) → {ratio:.2f}x",
            )
        verdict(
            chain.wrong == 0 and chain.errors == 0,
            f"chain wrong answers {chain.wrong}, errors {chain.errors}",
        )
        return bridge_missed  # profiles are of the bare bridge
    return missed


async def profile(
    server: str, home: Path, seconds: float, sessions: int = 32, size: int = 32
) -> None:
    """py-spy the bridge under `sessions` sessions of `size`-byte calls; print where its time goes."""
    spy = peer_venv() / "bin" / "py-spy"
    async with start_target("toolhive", server, home) as target:
        assert target.pid
        out = home / f"profile-{server}-{sessions}-{size}.txt"
        spy_proc = subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(target.pid),
                "--duration",
                str(int(seconds)),
                *("--rate", "250", "--format", "raw", "--output", str(out), "--nonblocking"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        await asyncio.sleep(0.5)
        load = await run_load(target, sessions, size, seconds, None)
        await asyncio.to_thread(spy_proc.wait)
    if not out.exists():
        print(
            f"(py-spy produced no profile: {spy_proc.stderr.read().decode()[-300:] if spy_proc.stderr else ''})"
        )
        return
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        n = int(count)
        total += n
        self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(
        f"\n### profile of the bridge ({server} server, {sessions} sessions x {size} B, "
        f"{load.rate:.0f} calls/s, "
        f"{total} samples)\nself time:"
    )
    for frame, n in self_time.most_common(15):
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print("inclusive time (selected):")
    for frame, n in inclusive.most_common(40)[:25]:
        print(f"  {100 * n / total:5.1f}%  {frame}")


async def main_async(args: argparse.Namespace) -> None:
    if args.profile_only:
        server, sessions, size = args.profile_only.split(":")
        with tempfile.TemporaryDirectory(prefix="thv-bench-") as tmp:
            await profile(server, Path(tmp), args.seconds + 2, int(sessions), int(size))
        return
    names = args.targets.split(",")
    servers = args.servers.split(",")
    print(
        f"# proxy benchmark — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
        f"{args.rounds} rounds x {args.seconds:.0f} s per load point, Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="thv-bench-") as tmp:
        home = Path(tmp)
        if "mcp-proxy" in names:
            peer_venv()
        if "supergateway" in names:
            node_tools()
        all_missed: dict[str, list[str]] = {}
        for server in servers:
            rounds: dict[str, list[Figures]] = collections.defaultdict(list)
            for r in range(args.rounds):
                order = names if r % 2 == 0 else [names[0], *reversed(names[1:])]
                for name, fig in (await one_round(server, order, args, home)).items():
                    rounds[name].append(fig)
            figs = {name: median_figures(rounds[name]) for name in names}
            all_missed[server] = print_table(server, figs)
        if args.profile and any(all_missed.values()):
            for server, missed in all_missed.items():
                if missed:
                    await profile(server, home, args.seconds + 2)
                    if any("64KiB" in m for m in missed):
                        await profile(server, home, args.seconds + 2, sessions=1, size=65536)


def main() -> None:
    if "--raw-echo-server" in sys.argv:
        raw_echo_server()
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput point")
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls (32 B)")
    parser.add_argument("--servers", default="sdk,raw")
    parser.add_argument(
        "--targets", default="direct,toolhive,toolhive+chain,supergateway,mcp-proxy"
    )
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument(
        "--profile-only",
        metavar="SERVER:SESSIONS:SIZE",
        help="only profile the bridge, e.g. raw:1:65536",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
