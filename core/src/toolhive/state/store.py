"""The workload state files: RunConfigs, status files (under a lock) and PID files.

Readers get one :class:`WorkloadRecord` per workload and read: its RunConfig and its status file,
whose ``process_id`` names the supervisor (ToolHive's layout). PID files are still written, for
ToolHive and for people, but nothing here reads them back to answer a query.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from toolhive.errors import InvalidInputError, NotFoundError
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import paths
from toolhive.state.atomic import locked, write_atomic


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- RunConfigs ------------------------------------------------------------------------------


def save_runconfig(config: RunConfig) -> None:
    write_atomic(paths.runconfig_path(config.base_name), config.to_json())


def load_runconfig(base_name: str) -> RunConfig:
    path = paths.runconfig_path(base_name)
    try:
        text = path.read_text()
    except FileNotFoundError:
        msg = f"workload {base_name!r} not found (see `thv list --all`)"
        raise NotFoundError(msg) from None
    return RunConfig.from_json(text, source=str(path))


def runconfig_exists(base_name: str) -> bool:
    return paths.runconfig_path(base_name).is_file()


def list_runconfig_names() -> list[str]:
    folder = paths.runconfig_path("x").parent
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith("."))


def delete_runconfig(base_name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        paths.runconfig_path(base_name).unlink()


# --- Status files ----------------------------------------------------------------------------


class StatusRecord(BaseModel):
    """ToolHive's status file: ``{status, status_context, created_at, updated_at, process_id}``."""

    status: WorkloadStatus = WorkloadStatus.UNKNOWN
    status_context: str = ""
    created_at: str = ""
    updated_at: str = ""
    process_id: int = 0


def read_status(base_name: str) -> StatusRecord | None:
    path = paths.status_path(base_name)
    try:
        return StatusRecord.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except ValidationError:
        # A file we cannot read is reported, never silently replaced.
        return StatusRecord(status=WorkloadStatus.UNKNOWN, status_context=f"unreadable {path}")


def set_status(
    base_name: str,
    status: WorkloadStatus,
    context: str = "",
    *,
    process_id: int | None = None,
) -> StatusRecord:
    """Update the status file under its lock, keeping ``created_at``."""
    path = paths.status_path(base_name)
    with locked(path):
        current = read_status(base_name)
        now = now_rfc3339()
        record = StatusRecord(
            status=status,
            status_context=context,
            created_at=current.created_at if current and current.created_at else now,
            updated_at=now,
            process_id=(
                process_id if process_id is not None else (current.process_id if current else 0)
            ),
        )
        write_atomic(path, record.model_dump_json(indent=2) + "\n")
    return record


def record_pid(base_name: str, pid: int) -> None:
    """Put the supervisor's PID in the status file as soon as it is spawned, unless the
    supervisor got there first (it writes its own PID with its first status)."""
    path = paths.status_path(base_name)
    with locked(path):
        current = read_status(base_name)
        if current is None or current.process_id == pid:
            return
        updated = current.model_copy(update={"process_id": pid})
        write_atomic(path, updated.model_dump_json(indent=2) + "\n")


def delete_status(base_name: str) -> None:
    path = paths.status_path(base_name)
    for p in (path, path.with_name(path.name + ".lock")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


# --- PID files -------------------------------------------------------------------------------


def write_pid(base_name: str, pid: int) -> None:
    write_atomic(paths.pid_path(base_name), f"{pid}\n")


def read_pid(base_name: str) -> int | None:
    try:
        return int(paths.pid_path(base_name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def delete_pid(base_name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        paths.pid_path(base_name).unlink()


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` names a live process (zombies count as dead)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError, IndexError):
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


# --- One workload, read once -----------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadRecord:
    """A workload as the state files hold it: RunConfig, status file (``None`` before the first
    status is written) and, through it, the supervisor's PID."""

    config: RunConfig
    status: StatusRecord | None

    @property
    def base_name(self) -> str:
        return self.config.base_name

    @property
    def pid(self) -> int:
        return self.status.process_id if self.status is not None else 0


def read_workload(base_name: str) -> WorkloadRecord:
    """The workload's record (two file reads); :class:`NotFoundError` if it does not exist."""
    config = load_runconfig(base_name)
    return WorkloadRecord(config, read_status(config.base_name))


def read_workloads() -> Iterator[WorkloadRecord]:
    """Every workload's record, by name. One removed while listing, or whose RunConfig cannot be
    read, is skipped (``thv status NAME`` says what is wrong with it)."""
    for name in list_runconfig_names():
        try:
            yield read_workload(name)
        except (NotFoundError, InvalidInputError):
            continue
