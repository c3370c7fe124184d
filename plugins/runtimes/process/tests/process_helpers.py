"""Helpers shared by the process runtime's tests (a uniquely named module, importable as is)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from toolhive.contracts.runtime import DeployRequest, PermissionProfile, builtin_profile
from toolhive_runtime_process.runtime import ProcessRuntime

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
ECHO_SERVER = REPO / "tests" / "fixtures" / "echo_server.py"
LAUNCHER = HERE / "launcher.py"


def profile(name: str) -> PermissionProfile:
    found = builtin_profile(name)
    assert found is not None
    return found


def python_request(
    name: str, code: str, prof: PermissionProfile | None = None, **kwargs: object
) -> DeployRequest:
    """A server that is a Python snippet run by the test's own interpreter."""
    return DeployRequest(
        name=name,
        image=sys.executable,
        command=["-c", code],
        permission_profile=prof or profile("none"),
        **kwargs,  # type: ignore[arg-type]
    )


def run_snippet(
    rt: ProcessRuntime, name: str, code: str, prof: PermissionProfile | None = None
) -> tuple[int, str]:
    """Run ``code`` to completion in the sandbox; return its exit status and its stderr.

    The snippet first idles briefly: deploy() reports a server that fails within its first
    moments as a failed start, and these snippets are meant to finish.
    """
    rt.deploy(python_request(name, "import time; time.sleep(0.3)\n" + code, prof))
    status = rt.wait(name)
    return status, b"".join(rt.logs(name)).decode()


def launch_elsewhere(env: dict[str, str], spec: dict[str, object]) -> subprocess.Popen[str]:
    """Deploy a server from another Python process (launcher.py); it prints 'ready <pid>'."""
    proc = subprocess.Popen(
        [sys.executable, str(LAUNCHER), json.dumps(spec)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"launcher failed: {line!r} {err}")
    return proc
