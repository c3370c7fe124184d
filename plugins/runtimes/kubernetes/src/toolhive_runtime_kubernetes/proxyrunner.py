"""``thv-proxyrunner``: ToolHive's proxy in a pod, its MCP server deployed through this runtime.

``thv-proxyrunner run [IMAGE] [--from-config PATH] [--k8s-pod-patch JSON]`` reads a RunConfig
(ToolHive's places: ``/etc/runconfig/runconfig.json``, the operator's ConfigMap mount, then
``/etc/toolhive/runconfig.json`` and ``./runconfig.json``), sets what running in a pod means —
the ``kubernetes`` runtime, the proxy listening on ``0.0.0.0`` (port 8080 unless the RunConfig
names one) — and replaces itself with ``thv run --foreground --from-config``: the very supervisor
of local mode (middleware chain, transports, health), not a copy of it. ``IMAGE`` replaces the
RunConfig's image, as in ToolHive; ``--k8s-pod-patch`` is merged into the MCP server's pod
template (passed to the runtime as ``TOOLHIVE_KUBERNETES_POD_PATCH``; default the RunConfig's
``k8s_pod_template_patch``). The StatefulSet outlives the proxy (``TOOLHIVE_KUBERNETES_KEEP_WORKLOAD``):
an unchanged server is not restarted by a new proxy, nor scaled away by one that exits.

Standard library only: it runs before anything else in the proxy pod.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: ToolHive's RunConfig locations, in the order ``thv-proxyrunner`` looks.
CONFIG_PATHS = (
    Path("/etc/runconfig/runconfig.json"),
    Path("/etc/toolhive/runconfig.json"),
    Path("runconfig.json"),
)
#: The proxy's port in a pod when the RunConfig leaves it to chance (ToolHive's default).
DEFAULT_PROXY_PORT = 8080
POD_PATCH_ENV = "TOOLHIVE_KUBERNETES_POD_PATCH"
KEEP_WORKLOAD_ENV = "TOOLHIVE_KUBERNETES_KEEP_WORKLOAD"
#: ToolHive's RunConfig field holding the pod template patch (a JSON string).
POD_PATCH_FIELD = "k8s_pod_template_patch"


class ProxyRunnerError(Exception):
    """A problem with the proxy runner's inputs, said in one line."""


def find_config(explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            msg = f"--from-config {explicit}: no such file"
            raise ProxyRunnerError(msg)
        return path
    for path in CONFIG_PATHS:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in CONFIG_PATHS)
    msg = f"no RunConfig found (tried {tried}); mount one or pass --from-config PATH"
    raise ProxyRunnerError(msg)


def pod_run_config(raw: dict[str, Any], image: str | None = None) -> dict[str, Any]:
    """The RunConfig as it runs in a pod: kubernetes runtime, proxy on every interface."""
    config = dict(raw)
    if image:
        config["image"] = image
    config["runtime"] = "kubernetes"
    config["host"] = "0.0.0.0"  # the pod's Service reaches the proxy on the pod IP
    if not config.get("port"):
        config["port"] = DEFAULT_PROXY_PORT
    return config


def thv_command() -> list[str]:
    """``thv`` from the same environment as this script (else this interpreter's module)."""
    here = Path(sys.argv[0]).resolve().parent / "thv"
    if here.is_file() and os.access(here, os.X_OK):
        return [str(here)]
    found = shutil.which("thv")
    return [found] if found else [sys.executable, "-m", "toolhive"]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="thv-proxyrunner",
        description="Run ToolHive's proxy for one MCP server in a Kubernetes pod.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="Run the proxy and deploy its MCP server.")
    run.add_argument("image", nargs="?", help="MCP server image (default: the RunConfig's).")
    run.add_argument("--from-config", metavar="PATH", help="RunConfig JSON file.")
    run.add_argument(
        "--k8s-pod-patch", metavar="JSON", help="Pod template patch for the MCP server's pod."
    )
    run.add_argument("--debug", action="store_true", help="Debug logs.")
    return parser.parse_args(list(argv))


def prepare(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The ``thv`` command line and environment to exec (writes the pod's RunConfig)."""
    path = find_config(args.from_config)
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"cannot read the RunConfig {path}: {exc}"
        raise ProxyRunnerError(msg) from None
    if not isinstance(raw, dict):
        msg = f"the RunConfig {path} is not a JSON object"
        raise ProxyRunnerError(msg)
    config = pod_run_config(raw, args.image)
    env = dict(os.environ)
    env["TOOLHIVE_RUNTIME"] = "kubernetes"
    # The StatefulSet outlives this proxy (a rollout starts the next proxy before this one
    # ends): no restart of an unchanged server, no scaling it away on exit.
    env[KEEP_WORKLOAD_ENV] = "1"
    patch = args.k8s_pod_patch or config.get(POD_PATCH_FIELD) or ""
    if isinstance(patch, dict):
        patch = json.dumps(patch)
    if patch:
        try:
            parsed = json.loads(patch)
        except (TypeError, ValueError) as exc:
            msg = f"the pod template patch is not JSON: {exc}"
            raise ProxyRunnerError(msg) from None
        if not isinstance(parsed, dict):
            msg = "the pod template patch must be a JSON object"
            raise ProxyRunnerError(msg)
        env[POD_PATCH_ENV] = patch
    # Each run's workload records (ToolHive's state and data directories) are private to it:
    # the proxy owns one workload, and a restarted proxy container must not find its
    # predecessor's record and refuse to start ("already exists").
    private = Path(tempfile.mkdtemp(prefix="thv-proxyrunner-"))
    env["XDG_STATE_HOME"] = str(private / "state")
    env["XDG_DATA_HOME"] = str(private / "data")
    # The mounted file is read-only (a ConfigMap): the adjusted copy goes to the private folder.
    out = str(private / "runconfig.json")
    with open(out, "w") as handle:
        json.dump(config, handle)
    command = [*thv_command()]
    if args.debug:
        command.append("--debug")
    command += ["run", "--foreground", "--from-config", out]
    return command, env


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        command, env = prepare(args)
    except ProxyRunnerError as exc:
        print(f"thv-proxyrunner: {exc}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(command[0], command, env)  # the supervisor replaces this process
    return 0  # pragma: no cover - exec does not return
