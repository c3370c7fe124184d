"""Facts about processes from ``/proc``: is a PID still *our* process, and who is in its group.

A PID alone is not an identity — PIDs are reused. A process is identified by its PID, its start
time (``/proc/<pid>/stat`` field 22, in clock ticks since boot) and the boot it started in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgid: int
    start_ticks: int

    @property
    def alive(self) -> bool:
        """Running or sleeping — not a zombie waiting to be reaped, not dead."""
        return self.state not in ("Z", "X", "x")


def stat(pid: int) -> ProcStat | None:
    """``/proc/<pid>/stat``, or ``None`` if there is no such process."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = text.rsplit(")", 1)[1].split()
    return ProcStat(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        start_ticks=int(fields[19]),
    )


def boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def is_running(pid: int, start_ticks: int, boot: str) -> bool:
    """Whether ``pid`` is still the live process that started at ``start_ticks`` in ``boot``."""
    if boot and boot != boot_id():
        return False
    st = stat(pid)
    return st is not None and st.start_ticks == start_ticks and st.alive


def group_members(pgid: int) -> list[ProcStat]:
    """Live (non-zombie) processes in process group ``pgid``."""
    members = []
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        st = stat(int(entry.name))
        if st is not None and st.pgid == pgid and st.alive:
            members.append(st)
    return members
