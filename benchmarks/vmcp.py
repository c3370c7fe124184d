"""What a virtual MCP gateway costs, next to calling its backends directly and next to ContextForge.

The same backends — ``--backends`` (10) streamable-HTTP servers on the official ``mcp`` SDK, each
with ``--tools`` (20) tools: ``echo`` (answers ``<backend>:<text>``) and generated ones — are
reached, in one run, on 127.0.0.1:

    direct                 the load client talks to the backends itself (the floor)
    toolhive               our gateway: ``thv vmcp serve --config FILE --port P`` over a vMCP YAML
                           config with static ``backends`` (prefix conflict resolution: ``b0_echo``)
    toolhive-group         the backends as real ``thv run`` workloads (remote URLs) in a group,
                           ``thv vmcp serve --group G``
    contextforge           IBM ContextForge 1.0.7 (PyPI ``mcp-contextforge-gateway``, its own venv,
                           scripts/install-contextforge.sh), sqlite, JWT auth, every backend
                           registered as a gateway, a virtual server of all their tools, the load
                           client on ``/servers/<id>/mcp``; its defaults (stateless, JSON answers)
    contextforge-stateful  the same with ``USE_STATEFUL_SESSIONS=true``

Calls go to ``b0``'s and ``b1``'s ``echo`` in turn (two backends, as in the issue's figures); every
call carries unique text and the answer must be the right backend's name and that text, so an answer
from the wrong backend or for another session is counted ("misrouted"). With the lean asyncio
HTTP/1.1 keep-alive client of ``benchmarks/proxy.py`` (one connection per MCP session; for
``direct`` a session is one connection per backend): p50/p99 of sequential calls after a warm-up,
each followed by the same call made direct (the added p50 compares calls made in the same moments
of a shared machine); calls/s with 8 and 32 concurrent sessions (sessions opened and warm), each
right after the same load direct (the ratio's floor); the gateway's CPU per call; p50 of a
``tools/list`` through the gateway of every backend's tools (``direct``: the backends listed
concurrently); the gateway process's RSS (idle before load, peak sampled every 20 ms) and its process
tree's. Medians over interleaved rounds (the order of the gateways is reversed every other round),
then the issue's targets (OK/MISS) for each gateway: added p50 ≤ 0.5 ms, calls/s ≥ 0.8x direct at 8
and 32 sessions, 0 misrouted answers, RSS ≤ 60 MiB; failed calls are listed by message.

    uv run python benchmarks/vmcp.py [--rounds 2] [--seconds 3] [--calls 500] [--lists 30]
        [--backends 10] [--tools 20] [--contextforge-env NAME=VALUE ...]
        [--targets direct,toolhive,contextforge,contextforge-stateful[,toolhive-group]]

A gateway that is not available (no ``thv vmcp``, ContextForge not installable) is skipped with the
reason printed. A benchmark, not a test: it prints figures, asserts nothing, stays on loopback and
stops every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cpu_per_call import cpu_seconds  # benchmarks/, beside this script
from proxy import (
    CallError,
    HttpSession,
    Load,
    RssSampler,
    free_port,
    payload,
    pct,
    rss_kib,
    worker,
)

REPO = Path(__file__).resolve().parents[1]
THV = str(Path(sys.executable).with_name("thv"))
CONTEXTFORGE_VENV = Path(
    os.environ.get("TOOLHIVE_BENCH_VENV", "/var/cache/toolhive-test/bench-venvs/contextforge")
)
CONTEXTFORGE_VERSION = "1.0.7"  # as scripts/install-contextforge.sh installs it
CALL_BACKENDS = 2  # calls alternate between b0 and b1
CONCURRENCY = (8, 32)
SIZE = 32
TARGETS = {"p50_added_ms": 0.5, "throughput_ratio": 0.8, "rss_mib": 60.0}
DEFAULT_TARGETS = "direct,toolhive,contextforge,contextforge-stateful"
CONTEXTFORGE_ENV: dict[str, str] = {}  # --contextforge-env, for experiments
#: Failed calls by target and message, printed after the figures.
ERRORS: collections.defaultdict[str, collections.Counter[str]] = collections.defaultdict(
    collections.Counter
)


class Skipped(Exception):
    """A gateway that cannot be measured here (the reason is printed)."""


# --------------------------------------------------------------------------- backend server


def backend_server(name: str, port: int, tools: int) -> None:
    """A streamable-HTTP MCP server on the official SDK (its defaults: stateful, SSE answers)."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    server = MCPServer(name=f"bench-{name}", version="1.0.0")

    def echo(text: str) -> str:
        """Return the text, prefixed with this backend's name."""
        return f"{name}:{text}"

    server.add_tool(echo, name="echo")

    def generated(i: int):  # type: ignore[no-untyped-def]
        def tool(query: str, limit: int = 10) -> str:
            return f"{name}:tool_{i:02d}:{query}:{limit}"

        return tool

    for i in range(1, tools):
        server.add_tool(
            generated(i),
            name=f"tool_{i:02d}",
            description=f"Generated tool {i} of backend {name}: looks things up by query.",
        )
    server.run(
        "streamable-http",
        host="127.0.0.1",
        port=port,
        streamable_http_path="/mcp",
        # Off as in tests/fixtures/echo_server.py: requests arrive through gateways.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


@dataclass
class Backend:
    name: str
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


# --------------------------------------------------------------------------- processes


@contextlib.contextmanager
def spawned(
    command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child in a process group of its own, its output in ``cwd/<name>.log`` (or dropped);
    the whole group is stopped on exit (TERM, then KILL after 10 s)."""
    log = open(cwd / "output.log", "wb") if cwd else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
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
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if cwd:
            log.close()  # type: ignore[union-attr]


def log_tail(folder: Path, chars: int = 600) -> str:
    with contextlib.suppress(OSError):
        return (folder / "output.log").read_text(errors="replace")[-chars:].strip()
    return ""


def clean_env(home: Path) -> dict[str, str]:
    """The environment for a child: no TOOLHIVE_* of the caller's, XDG folders of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLHIVE_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(home / var.lower())
    return env


async def first_session(url: str, extra: tuple[str, ...] = ()) -> HttpSession:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    session = HttpSession(host, int(port), "/" + path, extra)
    await session.open()
    return session


async def wait_mcp(
    url: str, proc: subprocess.Popen[bytes] | None, extra: tuple[str, ...] = (), limit: float = 90
) -> None:
    """Until an MCP session can be initialized at ``url`` (or the process has exited)."""
    deadline = time.monotonic() + limit
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise Skipped(f"exited with {proc.returncode} before serving {url}")
        try:
            session = await first_session(url, extra)
            await session.close()
            return
        except (OSError, CallError, asyncio.IncompleteReadError, ValueError) as exc:
            last = exc
            await asyncio.sleep(0.1)
    raise Skipped(f"{url} not serving MCP after {limit:.0f} s ({last})")


async def list_all(session: HttpSession) -> list[dict[str, object]]:
    """Every page of ``tools/list``."""
    tools: list[dict[str, object]] = []
    cursor: object = None
    while True:
        result = await session.rpc("tools/list", {"cursor": cursor} if cursor else {})
        tools += result["tools"]  # type: ignore[arg-type]
        cursor = result.get("nextCursor")
        if not cursor:
            return tools


# --------------------------------------------------------------------------- targets


class RoutedSession:
    """One client session calling ``b0``'s and ``b1``'s echo in turn. ``echo`` gives back the text
    sent only when the answer came from the right backend for this call."""

    def __init__(
        self, target: str, conns: list[HttpSession], tools: list[str], backends: list[str]
    ) -> None:
        self.target, self.conns, self.tools, self.backends = target, conns, tools, backends
        self.n = 0

    async def echo(self, text: str) -> str:
        k = self.n % len(self.tools)
        self.n += 1
        try:
            result = await self.conns[k].rpc(
                "tools/call", {"name": self.tools[k], "arguments": {"text": text}}
            )
            if result.get("isError"):
                raise CallError(f"isError: {str(result.get('content'))[:150]}")
        except Exception as exc:
            ERRORS[self.target][f"{type(exc).__name__}: {str(exc)[:150]}"] += 1
            raise
        answer = result["content"][0]["text"]  # type: ignore[index]
        return text if answer == f"{self.backends[k]}:{text}" else f"misrouted: {answer}"

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in set(self.conns)))


@dataclass
class Gateway:
    """A way to reach the backends: a gateway URL, or (``url`` None) the backends themselves."""

    name: str
    backends: list[Backend]
    url: str | None = None
    pid: int | None = None  # the gateway process whose RSS and CPU count
    extra: tuple[str, ...] = ()  # header lines on every request (Authorization)
    echo_tools: list[str] = field(default_factory=list)
    ready_ms: float = 0.0
    setup_ms: float = 0.0  # registration through an admin API, after ready

    async def session(self) -> RoutedSession:
        calls = self.backends[:CALL_BACKENDS]
        if self.url is None:
            conns = list(await asyncio.gather(*(first_session(b.url) for b in calls)))
            return RoutedSession(self.name, conns, ["echo"] * len(calls), [b.name for b in calls])
        conn = await first_session(self.url, self.extra)
        return RoutedSession(
            self.name, [conn] * len(calls), self.echo_tools, [b.name for b in calls]
        )

    async def resolve_echo_tools(self) -> None:
        """The gateway's names of the call backends' echo tools (prefix formats differ)."""
        assert self.url
        session = await first_session(self.url, self.extra)
        try:
            names = [str(t["name"]) for t in await list_all(session)]
        finally:
            await session.close()
        self.echo_tools = []
        for backend in self.backends[:CALL_BACKENDS]:
            b = backend.name
            exact = [f"{b}{sep}echo" for sep in ("_", "-", ".", "__", "--")]
            found = [n for n in names if n in exact] or [
                n for n in names if n.endswith("echo") and n.startswith(b)
            ]
            if len(found) != 1:
                raise Skipped(f"cannot tell {b}'s echo tool among {len(names)} tools: {found}")
            self.echo_tools.append(found[0])


@contextlib.asynccontextmanager
async def start_backends(count: int, tools: int, home: Path) -> AsyncIterator[list[Backend]]:
    with contextlib.ExitStack() as stack:
        backends = []
        for i in range(count):
            port = free_port()
            folder = home / f"backend-b{i}"
            folder.mkdir()
            proc = stack.enter_context(
                spawned(
                    [sys.executable, __file__, "--backend-server", f"b{i}", str(port), str(tools)],
                    cwd=folder,
                )
            )
            backends.append(Backend(f"b{i}", port, proc.pid))
        for backend in backends:
            await wait_mcp(backend.url, None)
        yield backends


# ContextForge ---------------------------------------------------------------------------------


def contextforge_venv() -> Path:
    """ContextForge's own venv (installed by scripts/install-contextforge.sh when missing)."""
    # The script's stamp of the pinned version (it pins 1.0.7 and is a no-op when it is there).
    if not (CONTEXTFORGE_VENV / f".contextforge-{CONTEXTFORGE_VERSION}").exists():
        done = subprocess.run(
            ["bash", str(REPO / "scripts" / "install-contextforge.sh")],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise Skipped(f"scripts/install-contextforge.sh failed: {done.stderr.strip()[-300:]}")
    return CONTEXTFORGE_VENV


def admin_call(port: int, method: str, path: str, token: str, body: object = None) -> object:
    """One request to ContextForge's REST API (registration only; not timed as load)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise Skipped(
            f"ContextForge {method} {path}: HTTP {exc.code} {exc.read()[:300]!r}"
        ) from None


async def wait_health(port: int, proc: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Skipped(f"ContextForge exited with {proc.returncode}: {log_tail(folder)}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            status = (await reader.readline()).split()
            writer.close()
            if len(status) > 1 and status[1] == b"200":
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise Skipped(f"ContextForge not healthy after 120 s: {log_tail(folder)}")


@contextlib.asynccontextmanager
async def start_contextforge(
    name: str, backends: list[Backend], home: Path, stateful: bool
) -> AsyncIterator[Gateway]:
    venv = contextforge_venv()
    folder = home / name
    folder.mkdir()  # its cwd: no stray .env of the caller's is read, the sqlite file lives here
    env = clean_env(folder)
    env.update(
        {
            # Secrets it requires (it refuses to start without them); fresh for every start.
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "AUTH_ENCRYPTION_SECRET": secrets.token_urlsafe(48),
            "PLATFORM_ADMIN_EMAIL": "admin@example.com",
            "PLATFORM_ADMIN_PASSWORD": secrets.token_urlsafe(24) + "Aa1!",
            "DATABASE_URL": f"sqlite:///{folder}/mcp.db",
            # Its SSRF guard refuses loopback backends by default.
            "SSRF_ALLOW_LOCALHOST": "true",
            # Its per-user rate limiter (100 MCP requests a minute, then a 15-minute lockout)
            # would measure the limit, not the gateway.
            "RATE_LIMITING_ENABLED": "false",
            "MCPGATEWAY_UI_ENABLED": "false",
            "MCPGATEWAY_ADMIN_API_ENABLED": "false",
            "LOG_LEVEL": "ERROR",
            "USE_STATEFUL_SESSIONS": "true" if stateful else "false",
        }
    )
    env.update(CONTEXTFORGE_ENV)
    port = free_port()
    started = time.monotonic()
    argv = [str(venv / "bin" / "mcpgateway"), "--host", "127.0.0.1", "--port", str(port)]
    with spawned(argv, env, folder) as proc:
        await wait_health(port, proc, folder)
        ready_ms = (time.monotonic() - started) * 1000
        setup = time.monotonic()
        # A token from its own utility, signed with JWT_SECRET_KEY from the environment (not argv).
        token = subprocess.run(
            [
                *(str(venv / "bin" / "python"), "-m", "mcpgateway.utils.create_jwt_token"),
                *("--username", "admin@example.com", "--exp", "240"),
            ],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for backend in backends:
            await asyncio.to_thread(
                admin_call,
                port,
                "POST",
                "/gateways",
                token,
                {"name": backend.name, "url": backend.url, "transport": "STREAMABLEHTTP"},
            )
        tools = await asyncio.to_thread(admin_call, port, "GET", "/tools?limit=0", token)
        assert isinstance(tools, list)
        server = await asyncio.to_thread(
            admin_call,
            port,
            "POST",
            "/servers",
            token,
            {
                "server": {"name": "bench", "associated_tools": [t["id"] for t in tools]},
                "visibility": "public",
            },
        )
        assert isinstance(server, dict)
        gateway = Gateway(
            name,
            backends,
            url=f"http://127.0.0.1:{port}/servers/{server['id']}/mcp",
            pid=proc.pid,
            extra=(f"Authorization: Bearer {token}",),
            ready_ms=ready_ms,
        )
        await wait_mcp(gateway.url, proc, gateway.extra)  # type: ignore[arg-type]
        await gateway.resolve_echo_tools()
        gateway.setup_ms = (time.monotonic() - setup) * 1000
        yield gateway


# ToolHive -------------------------------------------------------------------------------------


def vmcp_available(env: dict[str, str]) -> None:
    done = subprocess.run(
        [THV, "vmcp", "serve", "--help"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        raise Skipped(f"`thv vmcp serve` is not available: {reason[0]}")


def vmcp_config(name: str, backends: list[Backend]) -> dict[str, object]:
    """ToolHive's vMCP config with static backends, anonymous clients, prefixed tool names."""
    return {
        "name": name,
        "groupRef": name,
        "backends": [
            {"name": b.name, "url": b.url, "transport": "streamable-http"} for b in backends
        ],
        "incomingAuth": {"type": "anonymous"},
        "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
        "aggregation": {
            "conflictResolution": "prefix",
            "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
        },
    }


@contextlib.asynccontextmanager
async def start_toolhive(name: str, backends: list[Backend], home: Path) -> AsyncIterator[Gateway]:
    folder = home / name
    folder.mkdir()
    env = clean_env(folder)
    vmcp_available(env)
    config = folder / "vmcp.yaml"
    config.write_text(json.dumps(vmcp_config("bench", backends), indent=2))  # JSON is YAML
    port = free_port()
    started = time.monotonic()
    argv = [THV, "vmcp", "serve", "--config", str(config), "--host", "127.0.0.1"]
    with spawned([*argv, "--port", str(port)], env, folder) as proc:
        gateway = Gateway(name, backends, url=f"http://127.0.0.1:{port}/mcp", pid=proc.pid)
        try:
            await wait_mcp(gateway.url, proc)  # type: ignore[arg-type]
        except Skipped as exc:
            raise Skipped(f"thv vmcp serve: {exc}: {log_tail(folder, 300)}") from None
        gateway.ready_ms = (time.monotonic() - started) * 1000
        await gateway.resolve_echo_tools()
        yield gateway


@contextlib.asynccontextmanager
async def start_toolhive_group(
    name: str, backends: list[Backend], home: Path
) -> AsyncIterator[Gateway]:
    """The backends as ``thv run <URL>`` workloads (remote MCP servers) in a group of their own,
    and ``thv vmcp serve --group`` in front: the gateway discovers them as ToolHive workloads."""
    folder = home / name
    folder.mkdir()
    env = clean_env(folder)
    vmcp_available(env)
    group = "bench-vmcp"

    def thv(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([THV, *args], env=env, capture_output=True, text=True, check=False)

    done = thv("group", "create", group)
    if done.returncode != 0:
        raise Skipped(f"thv group create: {done.stderr.strip()[-300:]}")
    workloads = [b.name for b in backends]
    try:

        async def run(backend: Backend) -> None:
            proc = await asyncio.create_subprocess_exec(
                *(THV, "run", "--name", backend.name, "--group", group, backend.url),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            _, err = await proc.communicate()
            if proc.returncode != 0:
                raise Skipped(f"thv run {backend.url}: {err.decode().strip()[-300:]}")

        # thv run takes seconds each: all at once; every start ends before a failure is raised
        for failed in await asyncio.gather(*(run(b) for b in backends), return_exceptions=True):
            if isinstance(failed, BaseException):
                raise failed
        port = free_port()
        started = time.monotonic()
        argv = [THV, "vmcp", "serve", "--group", group, "--host", "127.0.0.1"]
        with spawned([*argv, "--port", str(port)], env, folder) as proc:
            gateway = Gateway(name, backends, url=f"http://127.0.0.1:{port}/mcp", pid=proc.pid)
            try:
                await wait_mcp(gateway.url, proc)  # type: ignore[arg-type]
            except Skipped as exc:
                raise Skipped(f"thv vmcp serve --group: {exc}: {log_tail(folder, 300)}") from None
            gateway.ready_ms = (time.monotonic() - started) * 1000
            await gateway.resolve_echo_tools()
            yield gateway
    finally:
        await asyncio.gather(*(asyncio.to_thread(thv, "rm", w) for w in workloads))
        thv("group", "rm", group)


@contextlib.asynccontextmanager
async def start_target(name: str, backends: list[Backend], home: Path) -> AsyncIterator[Gateway]:
    if name == "direct":
        yield Gateway(name, backends)
    elif name in ("contextforge", "contextforge-stateful"):
        async with start_contextforge(name, backends, home, name.endswith("stateful")) as gw:
            yield gw
    elif name == "toolhive":
        async with start_toolhive(name, backends, home) as gw:
            yield gw
    elif name == "toolhive-group":
        async with start_toolhive_group(name, backends, home) as gw:
            yield gw
    else:
        raise SystemExit(f"unknown target {name!r}")


# --------------------------------------------------------------------------- measurements


@dataclass
class Figures:
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    paired_direct_p50_ms: float = 0.0  # direct calls made in turn with this gateway's
    rate: dict[int, float] = field(default_factory=dict)
    paired_rate: dict[int, float] = field(default_factory=dict)  # direct's, right before
    paired_cpu_ms: dict[int, float] = field(default_factory=dict)  # its client + backends CPU
    cpu_ms: dict[int, float] = field(default_factory=dict)  # the gateway's per call, by sessions
    client_cpu_ms: dict[int, float] = field(default_factory=dict)  # the load client's
    backends_cpu_ms: dict[int, float] = field(default_factory=dict)  # b0's and b1's together
    list_ms: float = 0.0
    listed: int = 0
    calls: int = 0
    wrong: int = 0
    errors: int = 0
    idle_rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    tree_peak_mib: float = 0.0
    tree_procs: int = 0
    ready_ms: float = 0.0
    setup_ms: float = 0.0


async def call_once(session: RoutedSession, text: str, load: Load) -> None:
    """One call timed into ``load`` (as proxy.worker does it, for calls in turn)."""
    started = time.perf_counter_ns()
    try:
        answer = await session.echo(text)
    except Exception:
        load.errors += 1
        return
    load.latencies_ns.append(time.perf_counter_ns() - started)
    load.calls += 1
    load.wrong += answer != text


async def sequential(
    target: Gateway, direct: Gateway | None, count: int, seconds: float
) -> tuple[Load, Load, float]:
    """``count`` calls one after the other on one session (at most ``seconds``), after a warm-up,
    each followed by the same call direct to the backends (``direct``) so that both see the same
    moments of a shared machine; the gateway's CPU seconds in the timed part."""
    session = await target.session()
    base = await direct.session() if direct is not None else None
    try:
        warm, load, paired = Load(), Load(), Load()
        for i in range(max(count // 20, 10)):
            await call_once(session, payload(f"{target.name}/warm:{i}", SIZE), warm)
            if base:
                await call_once(base, payload(f"{target.name}/warm-direct:{i}", SIZE), paired)
        paired = Load()
        deadline = time.perf_counter() + seconds
        cpu0 = gateway_cpu(target)
        for i in range(count):
            if time.perf_counter() > deadline:
                break
            await call_once(session, payload(f"{target.name}/seq:{i}", SIZE), load)
            if base:
                await call_once(base, payload(f"{target.name}/seq-direct:{i}", SIZE), paired)
        load.wrong += warm.wrong
        load.errors += warm.errors
        return load, paired, gateway_cpu(target) - cpu0
    finally:
        await session.close()
        if base:
            await base.close()


async def concurrent(
    target: Gateway, sessions: int, seconds: float
) -> tuple[Load, tuple[float, float, float]]:
    """Calls/s of ``sessions`` sessions calling at once, and the CPU seconds the client, the
    gateway and the two called backends spent in that time. The sessions are opened and have
    called every backend once before: a gateway that connects upstream on a session's first call
    (ContextForge) is measured in its steady state."""
    opened = list(await asyncio.gather(*(target.session() for _ in range(sessions))))
    try:
        load = Load()

        async def warm(n: int, session: RoutedSession) -> None:  # one call at a time per session
            for k in range(CALL_BACKENDS):
                await call_once(session, payload(f"{target.name}/{n}/warm:{k}", SIZE), load)

        await asyncio.gather(*(warm(n, s) for n, s in enumerate(opened)))
        load.calls, load.latencies_ns = 0, []  # the warm-up's wrong answers and errors count
        deadline = time.perf_counter() + seconds
        cpu0 = time.process_time(), gateway_cpu(target), backends_cpu(target)
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                worker(s, f"{target.name}/{n}", SIZE, load, lambda: time.perf_counter() > deadline)
                for n, s in enumerate(opened)
            )
        )
        load.seconds = time.perf_counter() - t0
        cpu1 = time.process_time(), gateway_cpu(target), backends_cpu(target)
        return load, (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2])
    finally:
        await asyncio.gather(*(s.close() for s in opened))


def gateway_cpu(target: Gateway) -> float:
    return cpu_seconds(target.pid) if target.pid else 0.0


def backends_cpu(target: Gateway) -> float:
    return sum(cpu_seconds(b.pid) for b in target.backends[:CALL_BACKENDS])


async def list_latency(target: Gateway, count: int, seconds: float) -> tuple[float, int]:
    """p50 of ``tools/list`` (every page) and how many tools it gave."""
    if target.url is None:  # the backends listed concurrently: what fanning out costs at least
        conns = list(await asyncio.gather(*(first_session(b.url) for b in target.backends)))

        async def one() -> int:
            pages = await asyncio.gather(*(list_all(c) for c in conns))
            return sum(len(p) for p in pages)

    else:
        conn = await first_session(target.url, target.extra)
        conns = [conn]

        async def one() -> int:
            return len(await list_all(conn))

    try:
        for _ in range(3):
            listed = await one()
        latencies: list[int] = []
        deadline = time.perf_counter() + seconds
        while len(latencies) < count and (len(latencies) < 5 or time.perf_counter() < deadline):
            t0 = time.perf_counter_ns()
            listed = await one()
            latencies.append(time.perf_counter_ns() - t0)
        return pct(latencies, 0.5), listed
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def measure(target: Gateway, args: argparse.Namespace) -> Figures:
    fig = Figures(ready_ms=target.ready_ms, setup_ms=target.setup_ms)
    await asyncio.sleep(0.3)
    fig.idle_rss_mib = rss_kib(target.pid) / 1024 if target.pid else 0.0
    direct = Gateway("direct", target.backends) if target.url else None
    with RssSampler(target.pid) as sampler:
        seq, paired, cpu_s = await sequential(target, direct, args.calls, 2 * args.seconds)
        fig.p50_ms, fig.p99_ms = pct(seq.latencies_ns, 0.5), pct(seq.latencies_ns, 0.99)
        if paired.latencies_ns:
            fig.paired_direct_p50_ms = pct(paired.latencies_ns, 0.5)
        fig.wrong, fig.errors, fig.calls = seq.wrong, seq.errors, seq.calls
        fig.cpu_ms[1] = cpu_s / seq.calls * 1000 if seq.calls else 0.0
        for sessions in CONCURRENCY:
            if direct is not None:  # the floor right before, on the machine as it is now
                floor, (client_s, _, backends_s) = await concurrent(direct, sessions, args.seconds)
                fig.paired_rate[sessions] = floor.rate
                if floor.calls:
                    fig.paired_cpu_ms[sessions] = (client_s + backends_s) * 1000 / floor.calls
            load, (client_s, cpu_s, backends_s) = await concurrent(target, sessions, args.seconds)
            fig.rate[sessions] = load.rate
            per_call = 1000 / load.calls if load.calls else 0.0
            fig.cpu_ms[sessions] = cpu_s * per_call
            fig.client_cpu_ms[sessions] = client_s * per_call
            fig.backends_cpu_ms[sessions] = backends_s * per_call
            fig.wrong += load.wrong
            fig.errors += load.errors
            fig.calls += load.calls
        fig.list_ms, fig.listed = await list_latency(target, args.lists, args.seconds)
    fig.peak_rss_mib = sampler.peak / 1024
    fig.tree_peak_mib = sampler.tree_peak / 1024
    fig.tree_procs = sampler.tree_procs
    return fig


def median_figures(rounds: list[Figures]) -> Figures:
    med = Figures()
    for key in ("p50_ms", "p99_ms", "paired_direct_p50_ms", "list_ms", "idle_rss_mib"):
        setattr(med, key, statistics.median(getattr(r, key) for r in rounds))
    for key in ("ready_ms", "setup_ms"):
        setattr(med, key, statistics.median(getattr(r, key) for r in rounds))
    for sessions in rounds[0].rate:
        med.rate[sessions] = statistics.median(r.rate[sessions] for r in rounds)
    for sessions in rounds[0].paired_rate:
        med.paired_rate[sessions] = statistics.median(r.paired_rate[sessions] for r in rounds)
    for key in ("cpu_ms", "client_cpu_ms", "backends_cpu_ms", "paired_cpu_ms"):
        for sessions in getattr(rounds[0], key):
            getattr(med, key)[sessions] = statistics.median(
                getattr(r, key)[sessions] for r in rounds
            )
    for key in ("peak_rss_mib", "tree_peak_mib", "tree_procs"):
        setattr(med, key, max(getattr(r, key) for r in rounds))
    med.listed = min(r.listed for r in rounds)
    for key in ("calls", "wrong", "errors"):
        setattr(med, key, sum(getattr(r, key) for r in rounds))
    return med


def print_table(figs: dict[str, Figures], expected_tools: int) -> None:
    load1, load5, _ = os.getloadavg()
    print(
        "\n(medians; +p50 = the gateway's p50 less that of the same calls made direct in turn with"
        f" it; load average now {load1:.1f} / 5 min {load5:.1f})\n"
    )
    print(
        "| path | p50 ms | direct p50 in turn | +p50 ms | p99 ms | calls/s 8 | calls/s 32 "
        "| direct calls/s right before | x direct 8/32 "
        f"| tools/list ms ({expected_tools} tools) | gateway CPU ms/call 1/8/32 | idle/peak RSS MiB "
        "| tree peak MiB (procs) | ready ms | setup ms | calls | misrouted | errors "
        "| CPU ms/call at 8 / 32 sessions: client + gateway + backends |"
    )
    print("|" + "---|" * 19)
    base = figs.get("direct")

    def ratio(f: Figures, sessions: int) -> tuple[float, float]:
        """calls/s over direct's measured right before (else the direct row's) and that floor."""
        floor = f.paired_rate.get(sessions) or (base.rate[sessions] if base else 0.0)
        return (f.rate[sessions] / floor if floor else 0.0), floor

    def added(f: Figures) -> float:
        if f.paired_direct_p50_ms:
            return f.p50_ms - f.paired_direct_p50_ms
        return f.p50_ms - base.p50_ms if base else 0.0

    for name, f in figs.items():
        paired = f"{f.paired_direct_p50_ms:.3f}" if f.paired_direct_p50_ms else "-"
        ratios = "/".join(f"{ratio(f, n)[0]:.2f}" for n in CONCURRENCY)
        floors = "/".join(f"{f.paired_rate[n]:.0f}" for n in CONCURRENCY) if f.paired_rate else "-"
        listed = f"{f.list_ms:.2f}" + ("" if f.listed == expected_tools else f" ({f.listed}!)")
        rss = f"{f.idle_rss_mib:.1f}/{f.peak_rss_mib:.1f}" if name != "direct" else "-"
        tree = f"{f.tree_peak_mib:.1f} ({f.tree_procs})" if name != "direct" else "-"
        cpu = "/".join(f"{f.cpu_ms[s]:.2f}" for s in (1, *CONCURRENCY)) if name != "direct" else "-"
        split = " / ".join(
            f"{f.client_cpu_ms[n]:.2f} + {f.cpu_ms[n] if name != 'direct' else 0:.2f} + "
            f"{f.backends_cpu_ms[n]:.2f}"
            for n in CONCURRENCY
        )
        print(
            f"| {name} | {f.p50_ms:.3f} | {paired} | {added(f):+.3f} | {f.p99_ms:.3f} | {f.rate[8]:.0f} "
            f"| {f.rate[32]:.0f} | {floors} | {ratios} | {listed} | {cpu} | {rss} | {tree} "
            f"| {f.ready_ms:.0f} | {f.setup_ms:.0f} | {f.calls} | {f.wrong} | {f.errors} "
            f"| {split} |"
        )
    if not base:
        return
    for name, f in figs.items():
        if name == "direct":
            continue
        print(f"\nTargets (issue 14) for {name}:")

        def verdict(ok: bool, text: str) -> None:
            print(f"- {'OK  ' if ok else 'MISS'} {text}")

        verdict(added(f) <= TARGETS["p50_added_ms"], f"added p50 {added(f):+.3f} ms ≤ 0.5 ms")
        for n in CONCURRENCY:
            times, floor = ratio(f, n)
            verdict(
                times >= TARGETS["throughput_ratio"],
                f"{n} sessions: {f.rate[n]:.0f} calls/s ≥ 0.8x direct ({floor:.0f}) → {times:.2f}x",
            )
        for n in CONCURRENCY:
            if f.paired_cpu_ms.get(n):
                total = f.client_cpu_ms[n] + f.cpu_ms[n] + f.backends_cpu_ms[n]
                print(
                    f"  ({n} sessions by CPU per call: direct {f.paired_cpu_ms[n]:.2f} ms / "
                    f"through it {total:.2f} ms = {f.paired_cpu_ms[n] / total:.2f}x: the ratio "
                    "once the cores are the limit)"
                )
        verdict(f.wrong == 0, f"misrouted answers {f.wrong} of {f.calls} (errors {f.errors})")
        verdict(
            f.peak_rss_mib <= TARGETS["rss_mib"],
            f"gateway RSS idle {f.idle_rss_mib:.1f} / peak {f.peak_rss_mib:.1f} MiB ≤ 60 MiB",
        )
        verdict(f.listed == expected_tools, f"tools/list gave {f.listed} of {expected_tools} tools")


async def main_async(args: argparse.Namespace) -> None:
    names = args.targets.split(",")
    print(
        f"# vMCP gateway benchmark — {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} cores, "
        f"{args.backends} backends x {args.tools} tools (calls to b0/b1), {args.rounds} rounds x "
        f"{args.seconds:g} s per load point, Python {sys.version.split()[0]}"
    )
    skipped: dict[str, str] = {}
    rounds: dict[str, list[Figures]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="thv-bench-vmcp-") as tmp:
        home = Path(tmp)
        async with start_backends(args.backends, args.tools, home) as backends:
            for r in range(args.rounds):
                order = names if r % 2 == 0 else [names[0], *reversed(names[1:])]
                for name in order:
                    if name in skipped:
                        continue
                    run_home = home / f"round{r}"
                    run_home.mkdir(exist_ok=True)
                    try:
                        async with start_target(name, backends, run_home) as target:
                            rounds[name].append(await measure(target, args))
                    except Skipped as exc:
                        skipped[name] = str(exc)
                        print(f"(skipped {name}: {exc})", flush=True)
                    else:
                        f = rounds[name][-1]
                        print(
                            f"(round {r + 1}: {name} p50 {f.p50_ms:.3f} ms, "
                            f"{f.rate[8]:.0f}/{f.rate[32]:.0f} calls/s, list {f.list_ms:.2f} ms)",
                            flush=True,
                        )
    figs = {n: median_figures(rounds[n]) for n in names if rounds.get(n)}
    print_table(figs, args.backends * args.tools)
    for name, reason in skipped.items():
        print(f"\nskipped {name}: {reason}")
    for name, errors in ERRORS.items():
        print(f"\nfailed calls of {name}:")
        for message, count in errors.most_common(5):
            print(f"- {count} x {message}")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--backend-server":
        backend_server(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="per throughput point")
    parser.add_argument(
        "--calls", type=int, default=500, help="sequential calls (at most 2x --seconds)"
    )
    parser.add_argument(
        "--lists", type=int, default=30, help="tools/list calls (at most --seconds)"
    )
    parser.add_argument("--backends", type=int, default=10)
    parser.add_argument("--tools", type=int, default=20, help="tools per backend")
    parser.add_argument("--targets", default=DEFAULT_TARGETS)
    parser.add_argument(
        "--contextforge-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="more settings for both ContextForge targets, for experiments (e.g. CACHE_TYPE=memory)",
    )
    args = parser.parse_args()
    CONTEXTFORGE_ENV.update(item.split("=", 1) for item in args.contextforge_env)
    if args.backends < CALL_BACKENDS:
        parser.error(f"--backends must be at least {CALL_BACKENDS}")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
