"""Runs the official MCP conformance suite (``@modelcontextprotocol/conformance``) and reads its
per-scenario results; finds the Node tools that ``scripts/install-node.sh`` installed.

A scenario *passes* when it produced at least one SUCCESS check and no FAILURE — the rule the
suite itself applies in ``conformance tier-check``. (Its plain summary also ticks a scenario that
checked nothing, e.g. ``server-sse-polling`` against a server that answers with JSON; that is
counted here as not passing, so a vacuous run cannot look green.) WARNINGs (SHOULD-level) are kept
and reported but do not fail a scenario.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIXTURE = HERE / "fixture_server.py"
LOOPBACK_JS = HERE / "loopback.cjs"
EXPECTED_FAILURES = HERE / "expected_failures.toml"
INSTALL_SCRIPT = REPO / "scripts" / "install-node.sh"

_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclass(frozen=True)
class NodeTools:
    """Node ≥ 22 and the npm packages from ``scripts/install-node.sh``."""

    root: Path

    @property
    def node(self) -> Path:
        return self.root / "bin" / "node"

    @property
    def conformance(self) -> Path:
        return (
            self.root
            / "node_modules"
            / "@modelcontextprotocol"
            / "conformance"
            / "dist"
            / "index.js"
        )

    @property
    def everything(self) -> Path:
        return (
            self.root
            / "node_modules"
            / "@modelcontextprotocol"
            / "server-everything"
            / "dist"
            / "index.js"
        )

    @property
    def supergateway(self) -> Path:
        return self.root / "node_modules" / "supergateway" / "dist" / "index.js"

    def ok(self) -> bool:
        return all(p.exists() for p in (self.node, self.conformance, self.everything))


def find_node_tools() -> NodeTools | None:
    """Where install-node.sh put things ($TOOLHIVE_NODE_TOOLS, else its two default folders)."""
    candidates = [os.environ.get("TOOLHIVE_NODE_TOOLS", "")]
    candidates.append("/var/cache/toolhive-test/node-tools")
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    candidates.append(f"{cache}/toolhive-test/node-tools")
    for candidate in filter(None, candidates):
        tools = NodeTools(Path(candidate))
        if tools.ok():
            return tools
    return None


@dataclass
class ScenarioResult:
    name: str
    ran: bool = False
    successes: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.successes > 0 and not self.failures


@dataclass
class SuiteRun:
    url: str
    results: dict[str, ScenarioResult]
    seconds: float
    output: str

    @property
    def passed(self) -> set[str]:
        return {name for name, r in self.results.items() if r.passed}

    @property
    def failed(self) -> set[str]:
        return set(self.results) - self.passed

    def report(self, title: str) -> str:
        lines = [
            f"{title}: {len(self.passed)}/{len(self.results)} scenarios pass ({self.seconds:.1f} s)"
        ]
        for name in sorted(self.results):
            r = self.results[name]
            if not r.passed:
                why = "; ".join(r.failures) or "no SUCCESS check (nothing was verified)"
                lines.append(f"  FAIL {name}: {why}")
            for warning in r.warnings:
                lines.append(f"  warn {name}: {warning}")
        return "\n".join(lines)


@functools.cache
def server_scenarios(tools: NodeTools) -> list[str]:
    """Every server scenario of the installed suite (``conformance list --server``)."""
    out = subprocess.run(
        [str(tools.node), str(tools.conformance), "list", "--server"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return re.findall(r"^\s+- (\S+)", out, flags=re.MULTILINE)


def run_suite(tools: NodeTools, url: str, out_dir: Path, timeout: float = 300) -> SuiteRun:
    """``conformance server --suite all --url URL -o out_dir`` and its per-scenario checks.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    command = [str(tools.node), str(tools.conformance), "server", "--suite", "all"]
    proc = subprocess.run(
        [*command, "--url", url, "-o", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=out_dir,
    )
    seconds = time.monotonic() - started
    results = read_results(out_dir, server_scenarios(tools))
    return SuiteRun(url, results, seconds, proc.stdout + proc.stderr)


def read_results(out_dir: Path, scenarios: list[str]) -> dict[str, ScenarioResult]:
    """Per-scenario verdicts from the suite's ``server-<scenario>-<timestamp>/checks.json`` files."""
    results = {name: ScenarioResult(name) for name in scenarios}
    for checks_file in sorted(out_dir.glob("*/checks.json")):
        match = _RESULT_DIR.match(checks_file.parent.name)
        if not match:
            continue
        result = results.setdefault(match["scenario"], ScenarioResult(match["scenario"]))
        result.ran = True
        for check in json.loads(checks_file.read_text()):
            message = f"{check.get('id')}: {check.get('errorMessage') or check.get('description')}"
            if check["status"] == "SUCCESS":
                result.successes += 1
            elif check["status"] == "FAILURE":
                result.failures.append(message)
            elif check["status"] == "WARNING":
                result.warnings.append(message)
    for result in results.values():
        if not result.ran:
            result.failures.append("scenario did not run (no checks.json)")
    return results


def expected_failures(path_name: str) -> dict[str, str]:
    """``{scenario: reason}`` for one path from expected_failures.toml; every entry has a reason."""
    table = tomllib.loads(EXPECTED_FAILURES.read_text()).get(path_name, {})
    for scenario, reason in table.items():
        if not isinstance(reason, str) or len(reason.strip()) < 20:
            raise ValueError(f"{EXPECTED_FAILURES.name} [{path_name}] {scenario}: write a reason")
    return table


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")
