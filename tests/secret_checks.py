"""Helpers for tests about secrets: answering hidden prompts on a real pseudo-terminal, and proving
a value reached no output, no file under the test home and no process command line."""

from __future__ import annotations

import os
import pty
import select
import time
from pathlib import Path

from tests.conftest import Thv


def run_in_terminal(argv: list[str], env: dict[str, str], answers: list[tuple[str, str]]) -> str:
    """Run ``argv`` on a new pseudo-terminal (its controlling tty, so ``getpass`` uses it); answer
    the prompts in order — each ``(text, answer)`` when a prompt containing ``text`` and ending in
    ``:`` appears — and return everything it printed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec, never return into pytest
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    output, pending, answered = b"", list(answers), 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break  # the child closed the terminal
                if not chunk:
                    break
                output += chunk
                tail = output[answered:].decode(errors="replace").rstrip()
                if pending and pending[0][0] in tail and tail.endswith(":"):
                    os.write(fd, pending.pop(0)[1].encode() + b"\n")
                    answered = len(output)
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return output.decode(errors="replace")


def home_files(thv: Thv) -> list[Path]:
    """Every file under the test's ToolHive home (config, state, logs, secrets)."""
    home = Path(thv.env["XDG_DATA_HOME"]).parent
    return [p for p in home.rglob("*") if p.is_file()]


def assert_nowhere(thv: Thv, value: str, outputs: list[str]) -> None:
    """``value`` is in none of ``outputs``, no file of the test home, no process command line."""
    for text in outputs:
        assert value not in text, text
    files = home_files(thv)
    assert any(p.name.endswith(".log") for p in files)  # the logs exist and were searched
    for path in files:
        assert value.encode() not in path.read_bytes(), path
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            assert value.encode() not in cmdline.read_bytes(), cmdline
        except OSError:
            continue
