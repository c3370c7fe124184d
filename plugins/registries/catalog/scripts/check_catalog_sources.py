#!/usr/bin/env python3
"""Check the built-in catalog against the live package registries (and, with ``--run``, the servers).

Needs the network, so it is a tool to run by hand, not a test::

    uv run python plugins/registries/catalog/scripts/check_catalog_sources.py
    uv run python plugins/registries/catalog/scripts/check_catalog_sources.py --run [--only time,git]

For every ``npm`` / ``pypi`` package of every entry it asks the registry whether the pinned version
exists, is not yanked or deprecated, and whether a newer release is out. OCI images are listed as
not checked: no container registry is reachable from the machines this project is built on.

``--run`` starts each npm/pypi package the way ``thv`` would (``uvx pkg@ver`` / ``npx -y pkg@ver``)
with placeholder values for its required environment variables, asks ``tools/list`` through the
official ``mcp`` client and compares the answer with the entry's ``tools``. A tool the server offers
that the catalog lacks is a mismatch; a catalog tool the server did not offer is a note (some tools
appear only with credentials or client capabilities).

Exit status: 0 when nothing is wrong, 1 when a mismatch was found, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "src/toolhive_registry_catalog/data/registry.json"
META = "io.modelcontextprotocol.registry/publisher-provided"
NAMESPACE = "io.github.stacklok"
PYPI = "https://pypi.org/pypi"
NPM = "https://registry.npmjs.org"
#: Extra environment some servers need before they list every tool (placeholders, never real).
RUN_ENV: dict[str, dict[str, str]] = {
    "atlassian": {
        "JIRA_URL": "https://example.atlassian.net",
        "JIRA_USERNAME": "someone@example.com",
        "JIRA_API_TOKEN": "placeholder",
        "CONFLUENCE_URL": "https://example.atlassian.net/wiki",
        "CONFLUENCE_USERNAME": "someone@example.com",
        "CONFLUENCE_API_TOKEN": "placeholder",
    },
    "aws-pricing": {"AWS_REGION": "us-east-1"},
}
#: Arguments that replace an entry's own for the run (``/projects`` exists only in a container).
RUN_ARGS: dict[str, list[str]] = {"filesystem": ["{tmp}"]}


@dataclass
class Finding:
    entry: str
    subject: str
    problem: bool
    text: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)

    def add(self, entry: str, subject: str, text: str, *, problem: bool = True) -> None:
        self.findings.append(Finding(entry, subject, problem, text))

    @property
    def failed(self) -> bool:
        return any(f.problem for f in self.findings)


def load_catalog(path: Path = DATA) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["data"]["servers"]


def extension(server: dict[str, Any]) -> dict[str, Any]:
    blocks = (server.get("_meta") or {}).get(META, {}).get(NAMESPACE, {})
    return next(iter(blocks.values()), {})


def short(server: dict[str, Any]) -> str:
    return str(server["name"]).rsplit("/", 1)[-1]


# --- registry metadata (pure functions: tested offline with canned documents) ---------------------


def check_pypi(doc: dict[str, Any] | None, version: str) -> list[tuple[bool, str]]:
    """(is_problem, text) for a pinned PyPI release, from the project's JSON document."""
    if doc is None:
        return [(True, "no such project on PyPI")]
    releases = doc.get("releases") or {}
    files = releases.get(version)
    if files is None:
        return [(True, f"version {version} does not exist on PyPI")]
    out: list[tuple[bool, str]] = []
    if not files:
        out.append((True, f"version {version} has no files"))
    elif all(f.get("yanked") for f in files):
        reason = next((f.get("yanked_reason") for f in files if f.get("yanked_reason")), "")
        out.append((True, f"version {version} is yanked" + (f" ({reason})" if reason else "")))
    latest = (doc.get("info") or {}).get("version")
    if latest and latest != version:
        out.append((False, f"newer release {latest} is out (pinned {version})"))
    return out or [(False, f"{version} is the latest release")]


def check_npm(doc: dict[str, Any] | None, version: str) -> list[tuple[bool, str]]:
    """(is_problem, text) for a pinned npm version, from the package's registry document."""
    if doc is None:
        return [(True, "no such package on npm")]
    info = (doc.get("versions") or {}).get(version)
    if info is None:
        return [(True, f"version {version} does not exist on npm")]
    out: list[tuple[bool, str]] = []
    if info.get("deprecated"):
        out.append((True, f"version {version} is deprecated: {info['deprecated']}"))
    latest = (doc.get("dist-tags") or {}).get("latest")
    if latest and latest != version:
        out.append((False, f"newer release {latest} is out (pinned {version})"))
    return out or [(False, f"{version} is the latest release")]


def compare_tools(listed: list[str], live: list[str]) -> list[tuple[bool, str]]:
    """A live tool missing from the catalog is a problem; the reverse is only noted."""
    out: list[tuple[bool, str]] = []
    missing = [t for t in live if t not in listed]
    extra = [t for t in listed if t not in live]
    if missing:
        out.append((True, f"server offers tools the catalog lacks: {', '.join(missing)}"))
    if extra:
        out.append((False, f"catalog tools the server did not offer now: {', '.join(extra)}"))
    return out or [(False, f"{len(live)} tools match")]


# --- network ---------------------------------------------------------------------------------------


def fetch_json(url: str, timeout: float = 30) -> dict[str, Any] | None:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def registry_doc(kind: str, identifier: str) -> dict[str, Any] | None:
    if kind == "pypi":
        return fetch_json(f"{PYPI}/{identifier}/json")
    return fetch_json(f"{NPM}/{urllib.parse.quote(identifier, safe='@')}")


def check_registries(servers: list[dict[str, Any]], report: Report) -> None:
    for server in servers:
        for package in server.get("packages") or []:
            kind, ident = package["registryType"], package["identifier"]
            if kind in {"oci", "docker"}:
                report.add(short(server), ident, "image not checked (no container registry here)",
                           problem=False)  # fmt: skip
                continue
            version = package.get("version", "")
            try:
                doc = registry_doc(kind, ident)
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                report.add(short(server), f"{kind}:{ident}", f"registry unreachable: {exc}")
                continue
            check = check_pypi if kind == "pypi" else check_npm
            for problem, text in check(doc, version):
                report.add(short(server), f"{kind}:{ident}@{version}", text, problem=problem)


# --- live tools/list -------------------------------------------------------------------------------


def launch_command(
    package: dict[str, Any], python: str | None, args: list[str] | None = None
) -> list[str]:
    ident, version = package["identifier"], package["version"]
    if args is None:
        args = [a["value"] for a in package.get("packageArguments") or [] if a.get("value")]
    if package["registryType"] == "pypi":
        extra = ["--python", python] if python else []
        return ["uvx", *extra, "--from", f"{ident}=={version}", ident, *args]
    return ["npx", "-y", f"{ident}@{version}", *args]


def placeholder_env(server: dict[str, Any], package: dict[str, Any]) -> dict[str, str]:
    env = {v["name"]: "placeholder" for v in package.get("environmentVariables") or []
           if v.get("isRequired")}  # fmt: skip
    env.update(RUN_ENV.get(short(server), {}))
    return env


async def _list_tools(command: list[str], env: dict[str, str], timeout: float) -> list[str]:
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=command[0], args=command[1:], env={**os.environ, **env})
    with anyio.fail_after(timeout):
        async with Client(params) as client:
            return [t.name for t in (await client.list_tools()).tools]


def run_servers(
    servers: list[dict[str, Any]], report: Report, pythons: dict[str, str], timeout: float
) -> None:
    import anyio

    for server in servers:
        package = next((p for p in server.get("packages") or []
                        if p["registryType"] in {"npm", "pypi"}), None)  # fmt: skip
        if package is None:
            report.add(short(server), "tools", "image only: not run here", problem=False)
            continue
        args = [a.replace("{tmp}", tempfile.gettempdir()) for a in RUN_ARGS.get(short(server), [])]
        command = launch_command(package, pythons.get(package["identifier"]), args or None)
        try:
            live = anyio.run(_list_tools, command, placeholder_env(server, package), timeout)
        except Exception as exc:  # any failure of a third-party server is a finding
            report.add(short(server), "tools", f"could not list tools ({' '.join(command)}): {exc}")
            continue
        for problem, text in compare_tools(extension(server).get("tools") or [], live):
            report.add(short(server), "tools", text, problem=problem)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", action="store_true", help="also start each package and list its tools"
    )
    parser.add_argument("--only", default="", help="comma-separated short names to check")
    parser.add_argument("--python-for", action="append", default=[], metavar="PKG=PYTHON",
                        help="interpreter uvx uses for a PyPI package (e.g. one that needs 3.13)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=240, help="seconds per server for --run")
    parser.add_argument("--catalog", type=Path, default=DATA, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    servers = load_catalog(opts.catalog)
    if opts.only:
        wanted = set(opts.only.split(","))
        servers = [s for s in servers if short(s) in wanted]
    pythons = dict(item.split("=", 1) for item in opts.python_for if "=" in item)
    report = Report()
    check_registries(servers, report)
    if opts.run:
        run_servers(servers, report, pythons, opts.timeout)
    for f in report.findings:
        mark = "MISMATCH" if f.problem else "ok      "
        print(f"{mark} {f.entry:<20} {f.subject:<58} {f.text}")
    problems = sum(f.problem for f in report.findings)
    print(f"{len(servers)} entries, {len(report.findings)} findings, {problems} mismatches")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
