"""`go://` on real engines, offline: `thv run go://./tests/fixtures/go_mcp_server/cmd/echo` builds the
fixture (a standard-library-only MCP stdio server) with Debian's Go in the locally built go-base
image, runs it on busybox, calls its tools through the proxy with the official `mcp` client, and
runs it again to reuse the image.

Also the init: containers run with the engine's init as PID 1 (catatonit on Podman, docker-init on
Docker), so the server is not PID 1, orphans are reaped and `thv stop` is prompt. On Podman a
negative control (`plugins.runtimes.podman.init: false`, same image) shows what the checks catch:
the server is PID 1 and an orphan stays a zombie.

A remote `go://module@version` cannot be fetched here (no module proxy): that must fail with the Go
error and a hint, leaving no workload behind.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests import engine_checks
from tests.conftest import ENGINE_SOCKETS, REPO, Thv
from tests.engine_checks import INIT_PATH, KILL_TIMEOUT_S, timed_stop
from tests.mcp_client import call_tool, list_tools

pytestmark = pytest.mark.engine

GO_BASE = "localhost/toolhive-test/go-base:bookworm"
BUSYBOX = "localhost/toolhive-test/busybox:latest"
REF = "go://./tests/fixtures/go_mcp_server/cmd/echo"
IMAGE_PREFIX = "toolhivelocal/go-tests-fixtures-go_mcp_server-cmd-echo:"


@pytest.fixture
def engine_client(request: pytest.FixtureRequest) -> Iterator[object]:
    with engine_checks.engine_client(request.param, (GO_BASE, BUSYBOX)) as client:
        yield client


def _thv_in_repo(thv: Thv, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`thv` run from the repository root, so that `go://./tests/...` resolves (Thv has no cwd)."""
    proc = subprocess.run(
        [thv.exe, *args], env=thv.env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"thv {' '.join(args)} exited {proc.returncode}\n{proc.stderr}")
    return proc


def _status(thv: Thv, name: str) -> dict[str, object]:
    return dict(json.loads(thv("status", name, "--format", "json").stdout))


def _configure(thv: Thv, thv_env: dict[str, str], engine: str) -> None:
    if engine == "podman":
        thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    thv(
        "config", "set-runtime-config", "go", "--builder-image", GO_BASE, "--runtime-image", BUSYBOX
    )
    # A fresh input hash per test run: the first run must build.
    thv("config", "set-build-env", "THV_TEST_NONCE", uuid.uuid4().hex)


def _set_engine_init(thv_env: dict[str, str], engine: str, init: bool) -> None:
    path = Path(thv_env["XDG_CONFIG_HOME"]) / "toolhive" / "config.yaml"
    data = yaml.safe_load(path.read_text()) or {}
    data.setdefault("plugins", {}).setdefault("runtimes", {}).setdefault(engine, {})["init"] = init
    path.write_text(yaml.safe_dump(data))


def _negative_control(thv: Thv, thv_env: dict[str, str], client: object) -> None:
    """What the init checks catch: with ``init: false`` the server is PID 1 and an orphan stays a
    zombie (same image, reused)."""
    _set_engine_init(thv_env, "podman", False)
    name = "thvgo-podman-noinit"
    out = _thv_in_repo(thv, "run", "--name", name, "--runtime", "podman", REF).stderr
    assert "reusing image" in out, out
    url = str(_status(thv, name)["url"])
    assert call_tool(url, "pid", {}).startswith("pid=1 ")
    assert call_tool(url, "orphan", {}) == "zombie"
    container = client.containers.get(name)  # type: ignore[attr-defined]
    assert not container.attrs["HostConfig"].get("Init")
    ended_s, stop_s = timed_stop(thv, client, name)
    print(
        f"\n[podman {REF}] thv stop: container ended after {ended_s:.1f}s, "
        f"command {stop_s:.1f}s (no init)"
    )


@pytest.mark.parametrize(
    ("engine", "engine_client"), [("podman", "podman"), ("docker", "docker")],
    ids=["podman", "docker"], indirect=["engine_client"],
)  # fmt: skip
def test_go_local_build_run_reuse_and_init(
    engine: str,
    engine_client,
    thv: Thv,
    thv_env: dict[str, str],
    capsys: pytest.CaptureFixture,
) -> None:
    import docker

    client: docker.DockerClient = engine_client  # type: ignore[assignment]
    _configure(thv, thv_env, engine)
    first, second = f"thvgo-{engine}-1", f"thvgo-{engine}-2"
    image = ""
    try:
        start = time.monotonic()
        out = _thv_in_repo(thv, "run", "--name", first, "--runtime", engine, REF).stderr
        build_s = time.monotonic() - start
        assert f"building {IMAGE_PREFIX}" in out and "reusing image" not in out, out
        wl = _status(thv, first)
        image = str(wl["package"])
        assert image.startswith(IMAGE_PREFIX), image
        url = str(wl["url"])
        assert list_tools(url) == ["echo", "pid", "orphan"]
        assert call_tool(url, "echo", {"text": "hello from go"}) == "hello from go"

        # The engine's init is PID 1; the server is its child; an orphan gets reaped.
        pid_line = call_tool(url, "pid", {})
        assert pid_line.endswith(" ppid=1") and not pid_line.startswith("pid=1 "), pid_line
        assert call_tool(url, "orphan", {}) == "reaped"
        container = client.containers.get(first)
        assert container.attrs["HostConfig"]["Init"] is True
        code, cmdline = container.exec_run(["cat", "/proc/1/cmdline"])
        assert code == 0 and cmdline.split(b"\0")[0].decode() == INIT_PATH[engine], cmdline

        # The image: non-root, the fixture's module under /app, none of our build files.
        attrs = client.images.get(image).attrs
        assert attrs["Config"]["User"] == "10001:10001"
        assert attrs["Config"]["Entrypoint"] == ["/app/mcp-server"]
        assert not any("THV_TEST_NONCE" in e for e in attrs["Config"].get("Env") or [])
        code, found = container.exec_run(
            ["sh", "-c", "find / -xdev -name .toolhive-build; ls /app/go.mod /app/cmd/echo"]
        )
        assert found.decode().split() == ["/app/go.mod", "/app/cmd/echo:", "main.go"], found

        start = time.monotonic()
        out = _thv_in_repo(thv, "run", "--name", second, "--runtime", engine, REF).stderr
        reuse_s = time.monotonic() - start
        assert "reusing image" in out and "building" not in out, out
        wl = _status(thv, second)
        assert wl["package"] == image
        assert call_tool(str(wl["url"]), "echo", {"text": "again"}) == "again"

        ended_s, stop_s = timed_stop(thv, client, second)
        assert ended_s < KILL_TIMEOUT_S, ended_s
        with capsys.disabled():
            print(
                f"\n[{engine} {REF}] build+run {build_s:.1f}s, reuse+run {reuse_s:.1f}s, "
                f"thv stop: container ended after {ended_s:.1f}s, command {stop_s:.1f}s (init)"
            )
            if engine == "podman":
                _negative_control(thv, thv_env, client)
    finally:
        thv("rm", "--all", check=False)
        if image:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image, force=True)


@pytest.mark.parametrize("engine_client", ["podman"], indirect=True)
def test_remote_module_offline_fails_with_the_go_error(
    engine_client, thv: Thv, thv_env: dict[str, str]
) -> None:
    _configure(thv, thv_env, "podman")
    name = "thvgo-remote"
    ref = "go://example.com/thvgo/missing@v1.0.0"
    proc = thv("run", "--name", name, "--runtime", "podman", ref, check=False)
    assert proc.returncode != 0
    assert "module lookup disabled by GOPROXY=off" in proc.stderr, proc.stderr
    assert "set-build-env GOPROXY" in proc.stderr.strip().splitlines()[-1], proc.stderr
    assert name not in thv("list", "--all").stdout
