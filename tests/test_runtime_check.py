"""`thv runtime check`: every runtime probed in detection order, the selected one named."""

from __future__ import annotations

import json

from tests.conftest import ENGINE_SOCKETS, Thv, engine_available


def check(thv: Thv) -> tuple[int, dict]:
    proc = thv("runtime", "check", "--format", "json", check=False)
    return proc.returncode, json.loads(proc.stdout)


def test_detection_order_and_selection(thv: Thv, thv_env):
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    code, report = check(thv)
    order = [r["name"] for r in report["runtimes"]]
    # Kubernetes comes last: a kubeconfig on a laptop never wins over a local runtime.
    assert order == ["podman", "colima", "docker", "process", "kubernetes"]
    available = {r["name"]: r["available"] for r in report["runtimes"]}
    expected = next((name for name in order if available[name]), None)
    assert report["selected"] == expected and code == (0 if expected else 1)
    if engine_available("podman"):
        assert report["selected"] == "podman"


def test_forced_runtime_and_missing_sockets(thv: Thv, thv_env, tmp_path):
    missing = str(tmp_path / "none.sock")
    for var in ("TOOLHIVE_PODMAN_SOCKET", "TOOLHIVE_COLIMA_SOCKET", "TOOLHIVE_DOCKER_SOCKET"):
        thv_env[var] = missing
    _, report = check(thv)
    engines = [r for r in report["runtimes"] if r["container"]]
    assert engines and not any(r["available"] for r in engines)
    assert all(missing in r["detail"] or r["endpoint"] in (None, missing) for r in engines)
    assert report["selected"] in ("process", None)
    thv_env["TOOLHIVE_RUNTIME"] = "docker"
    code, report = check(thv)
    assert code == 1 and report["selected"] is None
    text = thv("runtime", "check", check=False).stdout
    assert text.splitlines()[0].split() == ["RUNTIME", "AVAILABLE", "ENDPOINT", "DETAIL"]
