"""After the quick start, the README's next command works in the same shell.

``scripts/quickstart.sh`` ends by running ``scripts/install-commands.sh`` with the caller's PATH.
These tests run that script for a new user (a temporary ``$HOME`` whose ``~/.local/bin`` is on PATH
but does not exist yet, as on a fresh Debian login) and then call ``thv`` and ``uv`` by name in a
shell with that same PATH, as the README does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "install-commands.sh"
THV = REPO / ".venv" / "bin" / "thv"

pytestmark = pytest.mark.skipif(not THV.exists(), reason="the workspace has no .venv/bin/thv")


def user(tmp_path: Path, *, local_bin_on_path: bool = True) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    path = "/usr/bin:/bin"
    if local_bin_on_path:
        path = f"{home}/.local/bin:{path}"
    return {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8"}


def install_commands(
    env: dict[str, str], uv: str | None = None
) -> subprocess.CompletedProcess[str]:
    extra = {"UV": uv} if uv else {}
    return subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def shell(env: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pip_user_uv(tmp_path: Path) -> str:
    """Stands for the uv that ``pip install --user`` put in a folder that is not on PATH."""
    uv = tmp_path / "user-base" / "bin" / "uv"
    uv.parent.mkdir(parents=True)
    uv.write_text("#!/bin/sh\necho uv 0.0.0-user-base\n")
    uv.chmod(0o755)
    return str(uv)


def test_a_new_user_can_call_thv_and_uv_by_name_right_after(tmp_path: Path) -> None:
    env = user(tmp_path)
    assert shell(env, "command -v thv uv").stdout == ""

    proc = install_commands(env, uv=pip_user_uv(tmp_path))
    assert proc.returncode == 0, proc.stderr
    local_bin = Path(env["HOME"]) / ".local" / "bin"
    assert (local_bin / "thv").resolve() == THV.resolve()

    called = shell(env, "thv --version && uv --version")
    assert called.returncode == 0, called.stderr
    assert called.stdout.startswith("thv, version ")
    assert called.stdout.endswith("\nuv 0.0.0-user-base\n")


def test_running_it_again_changes_nothing(tmp_path: Path) -> None:
    env = user(tmp_path)
    assert install_commands(env).returncode == 0
    again = install_commands(env)
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""
    assert shell(env, "thv --version").returncode == 0


def test_a_thv_it_did_not_make_is_left_alone(tmp_path: Path) -> None:
    env = user(tmp_path)
    local_bin = Path(env["HOME"]) / ".local" / "bin"
    local_bin.mkdir(parents=True)
    other = local_bin / "thv"
    other.write_text("#!/bin/sh\necho the Go thv\n")
    other.chmod(0o755)

    proc = install_commands(env)
    assert proc.returncode == 0
    assert "is not a link this script made: left alone (use: uv run thv)" in proc.stderr
    assert other.read_text() == "#!/bin/sh\necho the Go thv\n"


def test_without_a_writable_folder_on_path_it_says_what_to_export(tmp_path: Path) -> None:
    env = user(tmp_path, local_bin_on_path=False)
    proc = install_commands(env)
    assert proc.returncode == 0
    assert f'export PATH="{REPO}/.venv/bin:$PATH"' in proc.stderr
    assert not (Path(env["HOME"]) / ".local").exists()
