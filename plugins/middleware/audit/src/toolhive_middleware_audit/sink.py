"""Where audit events go: one ``write(2)`` per event line, no flush or fsync per event.

Standard output by default (ToolHive's default; a detached supervisor's stdout is the workload's
proxy log). ``logFile`` is opened ``O_APPEND`` and created ``0600``: each line is one write at the
end of the file, so lines from concurrent requests (or another process appending) never interleave.
"""

from __future__ import annotations

import logging
import os
import weakref
from pathlib import Path

from toolhive.contracts import InvalidInputError

log = logging.getLogger(__name__)

STDOUT = 1


class Sink:
    """An open file descriptor that takes whole NDJSON lines."""

    def __init__(self, fd: int, name: str, *, owned: bool) -> None:
        self.fd = fd
        self.name = name
        self._warned = False
        if owned:
            # Closed when the middleware (one per workload start) is collected.
            weakref.finalize(self, os.close, fd)

    def write(self, line: bytes) -> None:
        """Append one line; a failed write is logged once and never fails the request."""
        try:
            view = memoryview(line)
            while view:  # a pipe may take a long line in parts
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.error("cannot write audit events to %s: %s", self.name, exc)


def open_sink(log_file: str) -> Sink:
    """The sink for ``logFile`` (standard output when empty), created ``0600`` if missing."""
    if not log_file:
        return Sink(STDOUT, "standard output", owned=False)
    path = Path(log_file)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        msg = f"cannot open the audit log file {log_file}: {exc.strerror or exc}"
        raise InvalidInputError(msg) from None
    return Sink(fd, str(path), owned=True)
