"""Process records: what was started, so any ``thv`` process can inspect, stop or remove it.

One JSON file per server under ``<data>/toolhive/processes/<name>.json``, written atomically. The
supervisor that started the server writes it; ``thv stop`` in another process reads it.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from toolhive.contracts import InvalidInputError, storage
from toolhive.contracts.storage import locked, write_atomic

_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,100}$")


class ProcessRecord(BaseModel):
    """One started server process."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = 1
    name: str
    image: str
    #: The server's own command line (what the sandbox runs).
    command: list[str]
    #: What was executed: ``command`` wrapped in ``bwrap …``, or ``command`` itself.
    argv: list[str]
    pid: int
    pgid: int
    start_ticks: int
    boot_id: str
    #: PID of the ``bwrap`` monitor; signals for the server go to the rest of the group.
    sandboxed: bool
    transport: str = "stdio"
    target_port: int | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: str
    #: PID of the process that started (and can reap) the server.
    owner_pid: int
    exit_code: int | None = None
    finished_at: str | None = None
    #: What the sandbox's network is (:func:`toolhive_runtime_process.network.describe`).
    network: str = ""
    #: The host-side egress proxy of an isolated sandbox, and its socket directory.
    egress_pid: int | None = None
    egress_start_ticks: int = 0
    net_dir: str | None = None
    #: Paths hidden by ``.thvignore`` patterns (sandbox paths).
    hidden: list[str] = Field(default_factory=list)


def check_name(name: str) -> str:
    if not _NAME.match(name) or name in (".", ".."):
        msg = f"invalid workload name {name!r}: use letters, digits, '.', '_' and '-' (≤100)"
        raise InvalidInputError(msg)
    return name


class RecordStore:
    """The process records directory."""

    def __init__(self, root: Path | None = None) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root if self._root is not None else storage.data_dir() / "processes"

    def path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.json"

    def read(self, name: str) -> ProcessRecord | None:
        try:
            return ProcessRecord.model_validate_json(self.path(name).read_bytes())
        except (OSError, ValidationError):
            return None

    def write(self, record: ProcessRecord) -> None:
        path = self.path(record.name)
        with locked(path):
            write_atomic(path, record.model_dump_json(indent=2))

    def update(self, name: str, pid: int, **changes: Any) -> ProcessRecord | None:
        """Change fields of the record of ``name`` if it still describes process ``pid``."""
        path = self.path(name)
        with locked(path):
            current = self.read(name)
            if current is None or current.pid != pid:
                return current
            updated = current.model_copy(update=changes)
            write_atomic(path, updated.model_dump_json(indent=2))
            return updated

    def delete(self, name: str) -> None:
        path = self.path(name)
        with locked(path), contextlib.suppress(FileNotFoundError):
            path.unlink()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json") if _NAME.match(p.stem))
