"""`uvx://` and `npx://` on real engines: build from the locally built bases (the host CA bundle
trusted through --ca-cert, so PyPI/npm are reachable inside the build), run through `thv run`,
call a tool through the proxy with the official `mcp` client, and run again to reuse the image.

Each built container must have the engine's init as PID 1 and end promptly on `thv stop`.

Each test sets a unique build env value, so its first run is a fresh build (about 45-60 s) whose
image the second run must reuse; the images are removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from toolhive_runtime_docker.testing import run_to_completion

from tests import engine_checks
from tests.conftest import ENGINE_SOCKETS, Thv, engine_available, require_or_skip
from tests.engine_checks import INIT_PATH, KILL_TIMEOUT_S, timed_stop
from tests.mcp_client import call_tool

pytestmark = pytest.mark.engine

HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
PYTHON_BASE = "localhost/toolhive-test/python-base:bookworm"
NODE_BASE = "localhost/toolhive-test/node-base:bookworm"
SENTINEL = "thv-build-sentinel"


@dataclass(frozen=True)
class Case:
    engine: str
    ref: str
    base: str
    tool: str
    arguments: dict[str, str]
    expect: str


CASES = [
    Case("podman", "uvx://mcp-server-time", PYTHON_BASE, "get_current_time", {"timezone": "UTC"}, '"timezone": "UTC"'),
    Case("podman", "npx://@modelcontextprotocol/server-everything", NODE_BASE, "echo", {"message": "hi there"}, "hi there"),
    Case("docker", "uvx://mcp-server-time", PYTHON_BASE, "get_current_time", {"timezone": "UTC"}, '"timezone": "UTC"'),
]  # fmt: skip


@pytest.fixture
def engine_client(request: pytest.FixtureRequest) -> Iterator[object]:
    case: Case = request.param
    with engine_checks.engine_client(case.engine, (case.base,)) as client:
        yield client


def _run(thv: Thv, case: Case, name: str) -> tuple[str, float]:
    start = time.monotonic()
    proc = thv(
        "run", "--name", name, "--runtime", case.engine, "--ca-cert", HOST_CA, case.ref, timeout=600
    )
    return proc.stderr, time.monotonic() - start


def _image_of(thv: Thv, name: str) -> str:
    return str(json.loads(thv("status", name, "--format", "json").stdout)["package"])


@pytest.mark.parametrize(
    ("case", "engine_client"),
    [(c, c) for c in CASES],
    ids=[f"{c.engine}-{c.ref.split('://')[0]}" for c in CASES],
    indirect=["engine_client"],
)
def test_build_run_and_reuse(
    case: Case, engine_client, thv: Thv, thv_env: dict[str, str], capsys: pytest.CaptureFixture
) -> None:
    import docker

    client: docker.DockerClient = engine_client  # type: ignore[assignment]
    if case.engine == "podman":
        thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    scheme = case.ref.split("://")[0]
    thv("config", "set-runtime-config", scheme, "--builder-image", case.base, "--runtime-image", case.base)  # fmt: skip
    # A fresh input hash for this test run; build env and auth files exist in the builder only.
    thv("config", "set-build-env", "THV_TEST_NONCE", uuid.uuid4().hex)
    thv("config", "set-build-auth-file", "npmrc", f"//registry.invalid/:_authToken={SENTINEL}")
    thv("config", "set-build-auth-file", "netrc", f"machine m.invalid login u password {SENTINEL}")
    prefix = f"bldtest-{case.engine}-{scheme}"
    image = ""
    try:
        out, first_s = _run(thv, case, f"{prefix}-1")
        assert "building toolhivelocal/" in out and "reusing image" not in out, out
        image = _image_of(thv, f"{prefix}-1")
        assert image.startswith(f"toolhivelocal/{scheme}-"), image
        wl = json.loads(thv("status", f"{prefix}-1", "--format", "json").stdout)
        assert case.expect in call_tool(wl["url"], case.tool, case.arguments)

        out, second_s = _run(thv, case, f"{prefix}-2")
        assert "reusing image" in out and "building" not in out, out
        assert _image_of(thv, f"{prefix}-2") == image
        wl = json.loads(thv("status", f"{prefix}-2", "--format", "json").stdout)
        assert case.expect in call_tool(wl["url"], case.tool, case.arguments)

        # The engine's init is PID 1, so the server (Python/Node ignore SIGTERM as PID 1) ends
        # on `thv stop` instead of being killed after the timeout.
        code, cmdline = client.containers.get(f"{prefix}-2").exec_run(["cat", "/proc/1/cmdline"])
        assert code == 0 and cmdline.split(b"\0")[0].decode() == INIT_PATH[case.engine], cmdline
        ended_s, stop_s = timed_stop(thv, client, f"{prefix}-2")
        assert ended_s < KILL_TIMEOUT_S, ended_s
        with capsys.disabled():
            print(
                f"\n[{case.engine} {case.ref}] build+run {first_s:.1f}s, reuse+run {second_s:.1f}s, "
                f"thv stop {stop_s:.1f}s (container ended after {ended_s:.1f}s)"
            )

        # The image: a non-root user; no CA copy, auth file or build env inside it.
        attrs = client.images.get(image).attrs
        assert attrs["Config"]["User"] == "10001:10001"
        assert not any("THV_TEST_NONCE" in e for e in attrs["Config"].get("Env") or [])
        script = (
            "find / -xdev \\( -name .npmrc -o -name .netrc -o -name 'toolhive-ca*' "
            "-o -name ca-cert.crt -o -name .toolhive-build \\) "
            "-not -path '*/node_modules/npm/*' 2>/dev/null; "
            f"grep -rl {SENTINEL} /root /home /app /tmp /opt /etc 2>/dev/null; id -u"
        )
        found = run_to_completion(
            client, image, ["sh", "-c", script], f"thv-buildcheck-{os.getpid()}"
        )
        assert found.decode().split() == ["10001"], found
    finally:
        thv("rm", "--all", check=False)
        if image:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image, force=True)


def test_missing_base_image_is_one_clear_error(thv: Thv, thv_env: dict[str, str]) -> None:
    if not engine_available("podman"):
        require_or_skip("podman engine with the test images")
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    thv("config", "set-runtime-config", "uvx", "--builder-image", PYTHON_BASE)
    proc = thv(
        "run", "--name", "bldtest-nobase", "--runtime", "podman",
        "--runtime-image", "localhost/thv-buildtest/missing:1", "uvx://mcp-server-time@2026.10.19",
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    error = proc.stderr.strip().splitlines()[-1]
    assert "localhost/thv-buildtest/missing:1" in error and "set-runtime-config" in error, error
    assert "bldtest-nobase" not in thv("list", "--all").stdout
