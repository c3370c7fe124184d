""".thvignore: gitignore-style patterns hide files inside a workload's bind mounts.

The patterns alone (toolhive.contracts.thvignore), then a real server that cannot read what they
hide: in the process runtime's bubblewrap sandbox, through the real ``thv`` with
``--print-resolved-overlays``, and in Podman and Docker containers.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest
from toolhive.contracts import thvignore
from toolhive.contracts.runtime import DeployRequest, PermissionProfile

# ------------------------------------------------------------------------------ the patterns


def make_tree(root: Path) -> Path:
    """A mounted folder: a secret, keys at two depths, a private directory, ordinary files."""
    for rel, text in {
        "secret.txt": "s3cret",
        "readme.md": "hello",
        "tls/server.pem": "KEY",
        "nested/deeper/client.pem": "KEY2",
        "nested/notes.txt": "notes",
        "private/token": "tok",
        "build/out.bin": "bin",
        "src/build/keep.txt": "keep",
        "keep.pem": "public",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / ".thvignore").write_text(
        "# secrets\nsecret.txt\n*.pem\n!keep.pem\nprivate/\n/build\n\n"
    )
    return root


def rels(found: list[thvignore.HiddenPath]) -> dict[str, bool]:
    return {str(h.relative): h.is_dir for h in found}


def test_patterns_hide_names_at_any_depth_anchored_paths_and_directories(tmp_path: Path) -> None:
    found = rels(thvignore.hidden_paths(make_tree(tmp_path / "src"), None))
    assert found == {
        "secret.txt": False,
        "tls/server.pem": False,
        "nested/deeper/client.pem": False,
        "private": True,
        "build": True,
    }
    # "/build" is anchored: src/build stays; "!keep.pem" shows keep.pem again.


def test_global_patterns_apply_unless_disabled_and_local_lines_win(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "src")
    global_file = tmp_path / "config" / "toolhive" / "thvignore"
    global_file.parent.mkdir(parents=True)
    global_file.write_text("notes.txt\nreadme.md\n")
    (folder / ".thvignore").write_text("!readme.md\n")
    assert rels(thvignore.hidden_paths(folder, global_file)) == {"nested/notes.txt": False}
    assert thvignore.hidden_paths(folder, None) == []
    assert thvignore.global_file({"XDG_CONFIG_HOME": str(tmp_path / "config")}) == global_file


def test_double_star_and_character_classes(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "src")
    (folder / ".thvignore").write_text("nested/**/*.pem\ntls/server.[p]em\n")
    assert set(rels(thvignore.hidden_paths(folder, None))) == {
        "nested/deeper/client.pem",
        "tls/server.pem",
    }


def test_a_file_mount_or_a_folder_without_patterns_hides_nothing(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    assert thvignore.hidden_paths(tmp_path / "f.txt", None) == []
    assert thvignore.hidden_paths(tmp_path, None) == []


def test_overlays_map_hidden_paths_into_each_mount_target(tmp_path: Path) -> None:
    folder = make_tree(tmp_path / "src")
    found = thvignore.overlays([(folder, "/data")], global_file=None)
    targets = {str(o.target): o.is_dir for o in found}
    assert targets["/data/secret.txt"] is False
    assert targets["/data/private"] is True
    assert all(o.source == folder / PurePosixPath(o.target).relative_to("/data") for o in found)
    assert any("pattern '*.pem'" in line for line in thvignore.describe(found))


# ------------------------------------------------------------------------------ process runtime

READER = textwrap.dedent(
    """
    import json, os, sys
    root, out = sys.argv[1], sys.argv[2]
    def read(rel):
        try:
            with open(os.path.join(root, rel)) as fh:
                return fh.read()
        except OSError as exc:
            return f"error: {exc.strerror}"
    result = {rel: read(rel) for rel in (
        "secret.txt", "tls/server.pem", "nested/deeper/client.pem", "private/token",
        "readme.md", "nested/notes.txt", "keep.pem", "src/build/keep.txt", "build/out.bin")}
    result["ls private"] = sorted(os.listdir(os.path.join(root, "private")))
    result["ls tls"] = sorted(os.listdir(os.path.join(root, "tls")))
    for rel in ("private/x", "secret.txt"):
        try:
            open(os.path.join(root, rel), "w").write("written")
            result["write " + rel] = "written"
        except OSError as exc:
            result["write " + rel] = f"error: {exc.strerror}"
    json.dump(result, open(out, "w"))
    """
)

HIDDEN = ("secret.txt", "tls/server.pem", "nested/deeper/client.pem")
VISIBLE = {
    "readme.md": "hello",
    "nested/notes.txt": "notes",
    "keep.pem": "public",
    "src/build/keep.txt": "keep",
}


def check_reader_result(result: dict[str, object]) -> None:
    for rel in HIDDEN:
        assert result[rel] == "", (rel, result)  # an empty file stands in for it
    assert str(result["private/token"]).startswith("error"), result
    assert str(result["build/out.bin"]).startswith("error"), result
    assert result["ls private"] == [], result
    assert result["ls tls"] == ["server.pem"], result
    for rel, text in VISIBLE.items():
        assert result[rel] == text, (rel, result)


@pytest.fixture
def process_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    pytest.importorskip("toolhive_runtime_process")
    from toolhive_runtime_process.runtime import ProcessRuntime

    bwrap = shutil.which("bwrap")
    if bwrap is None:
        pytest.skip("bubblewrap is not installed")
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    runtime = ProcessRuntime(bwrap=bwrap)
    yield runtime
    for info in runtime.list_workloads():
        runtime.remove(info.name)


@pytest.mark.parametrize("target", ["same", "/tmp/data"], ids=["at-its-host-path", "remapped"])
def test_process_sandbox_cannot_read_what_thvignore_hides(
    process_runtime: object, tmp_path: Path, target: str
) -> None:
    from toolhive_runtime_process.runtime import ProcessRuntime

    assert isinstance(process_runtime, ProcessRuntime)
    folder = make_tree(Path("/var/tmp") / f"thvignore-{os.getpid()}-{time.monotonic_ns()}")
    out = tmp_path / "out"
    out.mkdir()
    inside = str(folder) if target == "same" else target
    try:
        profile = PermissionProfile(read=[f"{folder}:{inside}"], write=[str(out)])
        request = DeployRequest(
            name="reader",
            image=sys.executable,
            command=["-c", READER, inside, str(out / "result.json")],
            permission_profile=profile,
        )
        process_runtime.deploy(request)
        assert process_runtime.wait("reader") == 0, b"".join(process_runtime.logs("reader"))
        result = json.loads((out / "result.json").read_text())
        check_reader_result(result)
        assert result["write private/x"].startswith("error"), result
        if target != "same":
            # The sandbox sees the host read-only: the folder's own path hides the same files.
            request = request.model_copy(
                update={"command": ["-c", READER, str(folder), str(out / "host.json")]}
            )
            process_runtime.deploy(request)
            assert process_runtime.wait("reader") == 0
            check_reader_result(json.loads((out / "host.json").read_text()))
    finally:
        shutil.rmtree(folder)


# ------------------------------------------------------------------------------ thv run


def test_thv_run_prints_resolved_overlays_and_the_sandbox_reports_them(tmp_path: Path) -> None:
    from toolhive.testing.workloads import ECHO_STDIO, thv_console

    folder = make_tree(Path("/var/tmp") / f"thvignore-cli-{os.getpid()}-{time.monotonic_ns()}")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
    }
    global_file = home / "config" / "toolhive" / "thvignore"
    global_file.parent.mkdir(parents=True)
    global_file.write_text("readme.md\n")
    try:
        with thv_console(env) as thv:
            base = ("run", "--runtime", "process", "--volume", f"{folder}:{folder}:ro")
            target, *rest = ECHO_STDIO
            result = thv.run(*base, "--name", "ign", "--print-resolved-overlays", target, *rest)
            assert result.returncode == 0, result.stderr
            printed = result.stderr
            assert "Resolved .thvignore overlays: 6" in printed, printed
            for rel in (*HIDDEN, "private/", "build/", "readme.md"):
                assert f"{folder}/{rel} (hides" in printed, (rel, printed)
            logs = thv("logs", "ign")
            assert "[thv-sandbox] .thvignore hides 6 path(s)" in logs, logs
            local_only = thv.run(
                *base, "--name", "ign2", "--ignore-globally=false", "--print-resolved-overlays",
                target, *rest,
            )  # fmt: skip
            assert "Resolved .thvignore overlays: 5" in local_only.stderr, local_only.stderr
            assert "readme.md" not in local_only.stderr
            config = json.loads(thv("export", "ign2", "-"))
            assert config["ignore_config"]["LoadGlobal"] is False
            assert "[thv-sandbox] .thvignore hides 5 path(s)" in thv("logs", "ign2")
    finally:
        shutil.rmtree(folder)


# ------------------------------------------------------------------------------ Podman and Docker

ENGINES = {"podman": "/run/podman/podman.sock", "docker": "/var/run/docker.sock"}
MCP_IMAGE = "localhost/toolhive-test/mcp-servers:latest"


@pytest.fixture(params=sorted(ENGINES))
def engine_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    from tests.conftest import engine_available, require_or_skip

    name = request.param
    if not engine_available(name):
        require_or_skip(f"{name} engine with {MCP_IMAGE}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        if name == "podman":
            from toolhive_runtime_podman.runtime import PodmanRuntime

            yield PodmanRuntime(ENGINES[name])
        else:
            from toolhive_runtime_docker.runtime import DockerRuntime

            yield DockerRuntime(ENGINES[name])


@pytest.mark.engine
def test_container_cannot_read_what_thvignore_hides(engine_runtime: object, tmp_path: Path) -> None:
    from toolhive.contracts.runtime import Mount
    from toolhive_runtime_docker.runtime import DockerRuntime

    assert isinstance(engine_runtime, DockerRuntime)
    folder = make_tree(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)  # the image runs as uid 1000
    name = f"thvignore-{engine_runtime.name}-{os.getpid()}"
    request = DeployRequest(
        name=name,
        image=MCP_IMAGE,
        command=["python3", "-c", READER, "/data", "/out/result.json"],
        mounts=[
            Mount(source=str(folder), target="/data", read_only=True),
            Mount(source=str(out), target="/out", read_only=False),
        ],
        permission_profile=PermissionProfile(name="none"),
    )
    try:
        engine_runtime.deploy(request)
        assert engine_runtime.wait(name) == 0, b"".join(engine_runtime.logs(name))
        result = json.loads((out / "result.json").read_text())
    finally:
        engine_runtime.remove(name)
    check_reader_result(result)
    assert result["write private/x"].startswith("error"), result
