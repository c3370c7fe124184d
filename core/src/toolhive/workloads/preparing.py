"""A new workload listed as ``starting`` while its image is made present.

Pulling an image, building a ``uvx://``/``npx://``/``go://`` package or installing one for the
process runtime happens before the supervisor is spawned and can take minutes. Without this, the
workload would exist only once that work ends, and nothing — ``thv list``, the REST API's event
stream, the web UI — could say what is going on. With it, :func:`toolhive.workloads.prepare.prepare`
calls :meth:`PreparingStatus.show` once the workload is placed (ports and runtime chosen, the
request checked), which saves its RunConfig and a ``starting`` status; each progress line becomes
the status context — written at most every :data:`THROTTLE_S` (an image pull reports every layer's
bytes), the latest line flushed by a background thread. The file is also rewritten every
:data:`HEARTBEAT_S` when the tool is silent:
no supervisor PID is recorded yet (the one preparing is not a supervisor; stopping it must not
kill this process), so a status older than ``SPAWN_GRACE_S`` would read as a supervisor that died.
If the preparation fails, the workload is removed again: a run that fails leaves nothing behind.

The caller holds the workload's lock throughout, so a concurrent stop or remove waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import store
from toolhive.workloads.status import SPAWN_GRACE_S

#: Seconds between rewrites of the status file while preparing (well inside the spawn grace).
HEARTBEAT_S = SPAWN_GRACE_S / 2.5
#: At most one status write per this many seconds; a newer line waits at most this long.
THROTTLE_S = 0.25
#: A progress line longer than this is cut (a status context is one line of a list).
MAX_CONTEXT = 200


class PreparingStatus:
    """Context manager: ``show`` and ``progress`` for :func:`~toolhive.workloads.prepare.prepare`;
    on exit the heartbeat stops and, after a failure, the saved state is removed."""

    def __init__(
        self, base_name: str, report: Callable[[str], None], *, keep_on_failure: bool = False
    ) -> None:
        self.base_name = base_name
        self._report = report
        #: A restart's sign-in: the workload existed before, a failure must not remove it.
        self._keep = keep_on_failure
        self._context = ""
        self._shown = False
        self._dirty = False  # a line not written yet
        self._written = 0.0  # time.monotonic() of the last write
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._beat: threading.Thread | None = None

    def show(self, config: RunConfig) -> None:
        """Save the placed workload as ``starting`` (again after a runtime fallback)."""
        store.save_runconfig(config)
        with self._lock:
            if not self._shown:
                self._context = f"preparing {config.image or config.remote_url}"
            self._shown = True
            self._write()
        if self._beat is None:
            self._beat = threading.Thread(
                target=self._heartbeat, name=f"thv-preparing-{self.base_name}", daemon=True
            )
            self._beat.start()

    def progress(self, line: str) -> None:
        """Report ``line`` as before, and make its last line the status context."""
        self._report(line)
        text = line.strip().splitlines()[-1].strip() if line.strip() else ""
        if not text:
            return
        with self._lock:
            self._context = text[:MAX_CONTEXT]
            self._dirty = self._shown
            if self._shown and time.monotonic() - self._written >= THROTTLE_S:
                self._write()

    def context(self, text: str) -> None:
        """Make ``text`` the status context without reporting it (a shorter line than the
        one the user was shown)."""
        with self._lock:
            self._context = text[:MAX_CONTEXT]
            self._dirty = self._shown

    def _write(self) -> None:
        store.set_status(self.base_name, WorkloadStatus.STARTING, self._context, process_id=0)
        self._written = time.monotonic()
        self._dirty = False

    def _heartbeat(self) -> None:
        while not self._done.wait(THROTTLE_S):
            with self._lock:
                if self._done.is_set():
                    return
                if self._dirty or time.monotonic() - self._written >= HEARTBEAT_S:
                    self._write()

    def __enter__(self) -> PreparingStatus:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._beat is not None:
            self._beat.join()
        if exc_type is not None and self._shown and not self._keep:
            store.delete_runconfig(self.base_name)
            store.delete_status(self.base_name)
