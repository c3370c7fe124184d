"""The plugin as ToolHive sees it (no cluster): hook, entry points, detection, lazy imports,
namespace choice and ``thv-proxyrunner``'s preparation of the RunConfig."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import toolhive_runtime_kubernetes
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive_runtime_kubernetes import KubernetesConfig, proxyrunner
from toolhive_runtime_kubernetes.detection import detect


def test_hook_declares_the_kubernetes_runtime_after_the_local_ones() -> None:
    (spec,) = toolhive_runtime_kubernetes.thv_runtimes()
    assert spec.name == "kubernetes"
    assert spec.is_container
    assert spec.config_model is KubernetesConfig
    # After Podman (10), Colima (20), Docker (30) and the process sandbox (1000), and after any
    # other runtime installed here (in a plugin's isolated run there may be none).
    assert spec.priority > 1000, "a kubeconfig must not win auto-detection"
    pm = build_plugin_manager(autoload=True)
    others = [s.priority for n, s in Hooks(pm).runtimes().items() if n != "kubernetes"]
    assert all(spec.priority > other for other in others)


def test_entry_point_and_console_scripts() -> None:
    (ep,) = [e for e in metadata.entry_points(group="toolhive") if e.name == "runtime-kubernetes"]
    assert ep.value == "toolhive_runtime_kubernetes"
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    assert scripts["thv-proxyrunner"] == "toolhive_runtime_kubernetes.proxyrunner:main"
    assert scripts["thv-operator"] == "toolhive_runtime_kubernetes.operator.main:main"


def test_detection_reads_kubeconfig_without_importing_the_client(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    code = (
        "import sys, toolhive_runtime_kubernetes as p\n"
        "spec, = p.thv_runtimes()\n"
        "d = spec.detect({'HOME': sys.argv[1], 'KUBECONFIG': sys.argv[2]})\n"
        "assert d.available and d.endpoint == sys.argv[2], d\n"
        "d = spec.detect({'HOME': sys.argv[1]})\n"
        "assert not d.available and 'KUBECONFIG' in d.detail, d\n"
        "heavy = {'kubernetes', 'urllib3', 'yaml'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "home"), str(kubeconfig)],
        check=True,
        timeout=60,
    )


def test_kubeconfig_is_a_path_list(tmp_path: Path) -> None:
    second = tmp_path / "b"
    second.write_text("")
    found = detect({"KUBECONFIG": f"{tmp_path / 'a'}:{second}", "HOME": str(tmp_path)})
    assert found.available and found.endpoint == str(second)


def test_outside_a_pod_the_service_host_alone_is_not_enough(tmp_path: Path) -> None:
    # KUBERNETES_SERVICE_HOST without a mounted token (this machine) is not "in a cluster".
    found = detect({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOME": str(tmp_path)})
    assert not found.available


def test_namespace_choice(tmp_path: Path) -> None:
    from toolhive_runtime_kubernetes.runtime import resolve_namespace

    assert resolve_namespace(KubernetesConfig(namespace="a"), {}, "b") == "a"
    env = {"TOOLHIVE_KUBERNETES_NAMESPACE": "c"}
    assert resolve_namespace(KubernetesConfig(), env, "b") == "c"
    assert resolve_namespace(KubernetesConfig(), {}, "b") == "b"
    assert resolve_namespace(KubernetesConfig(), {}, None) == "default"


def test_load_with_a_broken_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    from toolhive.contracts import RuntimeDetection, RuntimeUnavailableError
    from toolhive_runtime_kubernetes.runtime import KubernetesRuntime

    bad = tmp_path / "config"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    detection = RuntimeDetection(name="kubernetes", available=True, endpoint=str(bad))
    with pytest.raises(RuntimeUnavailableError, match="Kubernetes configuration"):
        KubernetesRuntime.from_detection(detection, KubernetesConfig())


# -- thv-proxyrunner ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The proxy runner's private folders go under this test's tmp_path."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_proxyrunner_sets_runtime_host_and_port(tmp_path: Path) -> None:
    path = tmp_path / "runconfig.json"
    path.write_text(json.dumps({"name": "fetch", "image": "old:1", "host": "127.0.0.1"}))
    args = proxyrunner.parse_args(["run", "new:2", "--from-config", str(path)])
    command, env = proxyrunner.prepare(args)
    assert command[-4:-1] == ["run", "--foreground", "--from-config"]
    written = json.loads(Path(command[-1]).read_text())
    assert written == {
        "name": "fetch",
        "image": "new:2",
        "host": "0.0.0.0",
        "runtime": "kubernetes",
        "port": 8080,
    }
    assert env["TOOLHIVE_RUNTIME"] == "kubernetes"
    assert env[proxyrunner.KEEP_WORKLOAD_ENV] == "1", "the StatefulSet outlives the proxy"
    assert Path(env["XDG_STATE_HOME"]).parent == Path(command[-1]).parent, "private state"
    assert proxyrunner.POD_PATCH_ENV not in env


def test_proxyrunner_takes_the_pod_patch_from_the_runconfig(tmp_path: Path) -> None:
    path = tmp_path / "runconfig.json"
    patch = '{"spec": {"serviceAccountName": "x-sa"}}'
    path.write_text(json.dumps({"name": "x", "image": "i", "k8s_pod_template_patch": patch}))
    _command, env = proxyrunner.prepare(proxyrunner.parse_args(["run", "--from-config", str(path)]))
    assert env[proxyrunner.POD_PATCH_ENV] == patch
    path.write_text(json.dumps({"name": "x", "image": "i", "k8s_pod_template_patch": "[1]"}))
    with pytest.raises(proxyrunner.ProxyRunnerError, match="JSON object"):
        proxyrunner.prepare(proxyrunner.parse_args(["run", "--from-config", str(path)]))


def test_proxyrunner_keeps_a_given_port_and_passes_the_pod_patch(tmp_path: Path) -> None:
    path = tmp_path / "runconfig.json"
    path.write_text(json.dumps({"name": "x", "image": "i", "port": 9000}))
    patch = '{"spec": {"containers": [{"name": "mcp", "resources": {}}]}}'
    args = proxyrunner.parse_args(["run", "--from-config", str(path), "--k8s-pod-patch", patch])
    command, env = proxyrunner.prepare(args)
    written = json.loads(Path(command[-1]).read_text())
    assert written["port"] == 9000 and written["image"] == "i"
    assert env[proxyrunner.POD_PATCH_ENV] == patch


def test_proxyrunner_without_a_config_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(proxyrunner, "CONFIG_PATHS", (tmp_path / "nope.json",))
    assert proxyrunner.main(["run"]) == 2
    assert "no RunConfig found" in capsys.readouterr().err
    assert proxyrunner.main(["run", "--from-config", str(tmp_path / "x.json")]) == 2
    (tmp_path / "bad.json").write_text("[1]")
    assert proxyrunner.main(["run", "--from-config", str(tmp_path / "bad.json")]) == 2
    assert "not a JSON object" in capsys.readouterr().err


def test_proxyrunner_runs_core_thv() -> None:
    command = proxyrunner.thv_command()
    assert Path(command[0]).name in ("thv", Path(sys.executable).name)
