"""A stdio server's stdin/stdout through the Kubernetes API's attach, re-attached when its pod is
replaced.

The attach is the API's websocket (``kubernetes.stream``, channel protocol ``v4.channel.k8s.io``:
0 stdin, 1 stdout, 2 stderr, 3 status). The client is synchronous, so one daemon thread per
attach reads frames and hands them to the event loop; writes go through a worker thread.

A StatefulSet's pod can be deleted, evicted or rescheduled at any time; ToolHive keeps reading a
dead stream (stacklok/toolhive#3179). Here the channel notices (the stream ends, or a watchdog sees
another pod under the name) and attaches to the new pod as soon as its container runs. The new
server process has not been initialized, and the proxy initializes a server only once, so the
channel replays the client's ``initialize`` (under an id of its own, its answer swallowed) and
``notifications/initialized`` before any other message: requests after a replacement work again.
A request in flight when the pod went is lost with it (its client times out, as with any crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from toolhive.contracts.pipes import LINE_LIMIT

if TYPE_CHECKING:
    from toolhive_runtime_kubernetes.runtime import KubernetesRuntime

logger = logging.getLogger(__name__)

StderrSink = Callable[[bytes], None]

#: Seconds between the watchdog's looks at which pod holds the name.
WATCH_INTERVAL = 2.0
#: Seconds to wait for a replacement pod's container to run before giving up.
REATTACH_TIMEOUT = 180.0
#: Seconds the replayed ``initialize`` may take on the new server.
REINITIALIZE_TIMEOUT = 30.0

Event = tuple[Literal["out", "err", "closed"], bytes]


def forward_to_stderr(data: bytes) -> None:
    """Default stderr sink: the supervisor's stderr (its log file when detached)."""
    stream = getattr(sys.stderr, "buffer", None)
    if stream is not None:
        stream.write(data)
    else:
        sys.stderr.write(data.decode("utf-8", "replace"))
    sys.stderr.flush()


class WorkloadGone(Exception):
    """The workload was stopped or removed: there is no pod to attach to, nor will there be."""


class WebsocketAttach:
    """Opens attach websockets to a workload's current pod (blocking calls, run in threads)."""

    def __init__(self, runtime: KubernetesRuntime, name: str) -> None:
        self.runtime = runtime
        self.name = name

    def current_pod_uid(self) -> str | None:
        """The uid of the pod whose server runs now; ``None`` while there is none."""
        pod = self.runtime.running_pod(self.name)
        return None if pod is None else str(pod.metadata.uid)

    def open(self, timeout: float) -> tuple[Any, str]:
        """``(websocket, pod uid)`` once the pod's container runs; :class:`WorkloadGone` if the
        workload was stopped or removed, :class:`TimeoutError` if no pod ran in time."""
        from kubernetes import client as k8s
        from kubernetes.stream import stream

        from toolhive_runtime_kubernetes import workload_objects as objects

        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.runtime.workload_gone(self.name):
                    raise WorkloadGone(self.name)
                pod = self.runtime.running_pod(self.name)
            except WorkloadGone:
                raise
            except Exception as exc:  # the API did not answer: try again until the deadline
                logger.debug("%s: cannot look at the pod (%s); retrying", self.name, exc)
                pod = None
            if pod is not None:
                # stream() swaps the client's request method while it runs: give it its own.
                api_client = k8s.ApiClient(self.runtime.api_client.configuration)
                api = k8s.CoreV1Api(api_client)
                try:
                    ws = stream(
                        api.connect_get_namespaced_pod_attach,
                        pod.metadata.name,
                        self.runtime.namespace,
                        container=objects.CONTAINER,
                        stdin=True,
                        stdout=True,
                        stderr=True,
                        tty=False,
                        _preload_content=False,
                        binary=True,
                    )
                except Exception as exc:  # the pod went between the look and the attach
                    logger.debug("%s: attach failed (%s); retrying", self.name, exc)
                else:
                    return ws, str(pod.metadata.uid)
                finally:
                    with contextlib.suppress(Exception):
                        api_client.close()  # type: ignore[no-untyped-call]  # the websocket has its own socket
            if time.monotonic() > deadline:
                msg = f"no running pod of {self.name} within {timeout:.0f}s"
                raise TimeoutError(msg)
            time.sleep(0.5)


def _read_frames(ws: Any, post: Callable[[Event], None]) -> None:
    """The reader thread: stdout and stderr frames until the websocket closes."""
    try:
        while ws.is_open():
            ws.update(timeout=1)
            out = ws.read_stdout(timeout=0)
            if out:
                post(("out", out))
            err = ws.read_stderr(timeout=0)
            if err:
                post(("err", err))
            status = ws.read_channel(3, timeout=0)
            if status:
                logger.debug("attach status: %r", status[:200])
    except Exception as exc:  # closed under us: same as the end of the stream
        logger.debug("attach stream ended: %s", exc)
    finally:
        post(("closed", b""))


class _Session:
    """One websocket to one pod: its reader thread feeds ``events``."""

    def __init__(self, ws: Any, pod_uid: str, loop: asyncio.AbstractEventLoop) -> None:
        self.ws = ws
        self.pod_uid = pod_uid
        self.events: asyncio.Queue[Event] = asyncio.Queue()

        def post(event: Event) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self.events.put_nowait, event)

        self.thread = threading.Thread(
            target=_read_frames, args=(ws, post), name=f"k8s-attach-{pod_uid[:8]}", daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        # close() skips the socket when the peer already closed the websocket.
        with contextlib.suppress(Exception):
            self.ws.sock.shutdown()


class ReattachingChannel:
    """The attached stdin/stdout of a workload's pod, whichever pod that currently is.

    A pump task owns the stream: it moves stdout into the line buffer, stderr to the sink, and
    re-attaches when the stream ends, whoever noticed (the pump itself, a failed write, the
    watchdog), so neither readers nor writers drive the re-attach.
    """

    def __init__(
        self, attach: WebsocketAttach, *, name: str = "", on_stderr: StderrSink | None = None
    ) -> None:
        self._attach = attach
        self._name = name or attach.name
        self._on_stderr = on_stderr or forward_to_stderr
        self._session: _Session | None = None
        self._buffer = bytearray()
        self._data = asyncio.Event()
        self._skipping = False
        self._eof = False
        self._closed = False
        #: Set while a stream is ready for writes (cleared during a re-attach).
        self._attached = asyncio.Event()
        self._read_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        #: The client's ``initialize`` and ``notifications/initialized``: what a replacement
        #: server is told before anything else.
        self._initialize: dict[str, Any] | None = None
        self._initialized_line: bytes | None = None
        self._reattach_count = 0
        #: Pod uids attached so far, in order (the tests read it).
        self.attached_pods: list[str] = []

    @classmethod
    async def open(
        cls, attach: WebsocketAttach, *, name: str = "", on_stderr: StderrSink | None = None
    ) -> ReattachingChannel:
        """Attach to the workload's running pod (waiting for it to run, like a fresh deploy)."""
        from toolhive.contracts import WorkloadStateError

        channel = cls(attach, name=name, on_stderr=on_stderr)
        try:
            await channel._connect(timeout=REATTACH_TIMEOUT)
        except WorkloadGone:
            msg = f"{channel._name} is stopped (scaled to zero) or removed; nothing to attach to"
            raise WorkloadStateError(msg) from None
        except TimeoutError as exc:
            raise WorkloadStateError(f"cannot attach to {channel._name}: {exc}") from None
        channel._attached.set()
        channel._tasks = [
            asyncio.create_task(channel._pump(), name=f"k8s-attach-pump-{channel._name}"),
            asyncio.create_task(channel._watch(), name=f"k8s-attach-watch-{channel._name}"),
        ]
        return channel

    async def _connect(self, timeout: float) -> None:
        ws, uid = await asyncio.to_thread(self._attach.open, timeout)
        if self._closed:
            with contextlib.suppress(Exception):
                ws.close()
            return
        self._session = _Session(ws, uid, asyncio.get_running_loop())
        self.attached_pods.append(uid)
        logger.info("%s: attached to pod %s", self._name, uid)

    # -- writing ------------------------------------------------------------------------------

    async def send(self, line: bytes) -> None:
        """Write ``line`` to the server's stdin (waiting out a re-attach)."""
        self._remember(line)
        async with self._write_lock:
            for _attempt in range(2):
                await self._attached.wait()
                session = self._session
                if self._eof or session is None:
                    return  # the workload is gone; readline says so
                try:
                    await asyncio.to_thread(session.ws.write_stdin, line)
                    return
                except Exception as exc:  # the stream died: the pump re-attaches
                    logger.debug("%s: write failed (%s); waiting for a re-attach", self._name, exc)
                    if session is self._session:
                        self._attached.clear()
                    await asyncio.to_thread(session.close)

    def _remember(self, line: bytes) -> None:
        if b'"initialize"' not in line and b'"notifications/initialized"' not in line:
            return
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict):
                if message.get("method") == "initialize" and "id" in message:
                    self._initialize = message
                elif message.get("method") == "notifications/initialized":
                    self._initialized_line = line

    # -- reading ------------------------------------------------------------------------------

    async def readline(self) -> bytes:
        """The next stdout line with its ``\\n``; ``b""`` once the workload is stopped or gone.

        A line longer than :data:`~toolhive.contracts.pipes.LINE_LIMIT` is dropped (logged)
        and returned as ``b"\\n"``, as :class:`~toolhive.contracts.pipes.PipeChannel` does.
        """
        async with self._read_lock:
            while True:
                line = self._take_line()
                if line is not None:
                    return line
                if self._eof:
                    rest = bytes(self._buffer)
                    self._buffer.clear()
                    return b"" if self._skipping else rest
                self._data.clear()
                await self._data.wait()

    def _take_line(self) -> bytes | None:
        end = self._buffer.find(b"\n")
        if end >= 0:
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False
                return b"\n"
            return line
        if len(self._buffer) > LINE_LIMIT:
            if not self._skipping:
                logger.warning(
                    "%s: dropping a stdout line longer than %d bytes", self._name, LINE_LIMIT
                )
            self._skipping = True
            self._buffer.clear()
        return None

    def _stderr(self, data: bytes) -> None:
        try:
            self._on_stderr(data)
        except Exception:  # a broken sink must not break the channel
            logger.exception("%s: stderr sink failed", self._name)

    async def _pump(self) -> None:
        try:
            while not self._closed and self._session is not None:
                session = self._session
                kind, data = await session.events.get()
                if kind == "out":
                    self._buffer += data
                    self._data.set()
                elif kind == "err":
                    self._stderr(data)
                elif not self._closed:
                    await self._reattach(session)
        finally:
            self._eof = True
            self._data.set()
            self._attached.set()  # writers see the end instead of waiting for ever

    async def _reattach(self, old: _Session) -> None:
        """The stream ended: attach to the pod that runs now (or end if the workload is gone)."""
        self._attached.clear()
        await asyncio.to_thread(old.close)
        # Whole lines of the old server are still answers; a partial one would corrupt the
        # new server's first line.
        cut = self._buffer.rfind(b"\n")
        del self._buffer[cut + 1 :]
        logger.warning("%s: the attach to pod %s ended; re-attaching", self._name, old.pod_uid)
        try:
            await self._connect(timeout=REATTACH_TIMEOUT)
            await self._reinitialize()
        except WorkloadGone:
            logger.info("%s: the workload was stopped or removed", self._name)
            self._session = None
        except Exception as exc:  # the API, the new pod or its server failed us
            logger.error("%s: cannot re-attach: %s", self._name, exc)
            self._session = None
        else:
            self._attached.set()

    async def _reinitialize(self) -> None:
        """Replay the handshake to the new server; its answer to our ``initialize`` is ours."""
        session = self._session
        if session is None or self._initialize is None:
            return
        self._reattach_count += 1
        request_id = f"thv-k8s-reattach-{self._reattach_count}"
        message = {**self._initialize, "id": request_id}
        await asyncio.to_thread(session.ws.write_stdin, json.dumps(message).encode() + b"\n")
        pending = bytearray()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REINITIALIZE_TIMEOUT
        while True:
            end = pending.find(b"\n")
            if end >= 0:
                line = bytes(pending[: end + 1])
                del pending[: end + 1]
                with contextlib.suppress(ValueError):
                    answer = json.loads(line)
                    if isinstance(answer, dict) and answer.get("id") == request_id:
                        if "error" in answer:
                            logger.error(
                                "%s: the new server refused initialize: %s",
                                self._name,
                                answer["error"],
                            )
                        break
                logger.debug("%s: dropping %r before the initialize answer", self._name, line[:100])
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                msg = f"the replacement server of {self._name} did not answer initialize"
                raise TimeoutError(msg)
            kind, data = await asyncio.wait_for(session.events.get(), remaining)
            if kind == "out":
                pending += data
            elif kind == "err":
                self._stderr(data)
            else:
                msg = f"the replacement pod of {self._name} went away during initialize"
                raise TimeoutError(msg)
        if pending:
            self._buffer += pending
            self._data.set()
        if self._initialized_line is not None:
            await asyncio.to_thread(session.ws.write_stdin, self._initialized_line)
        logger.info("%s: re-initialized the server in pod %s", self._name, session.pod_uid)

    # -- watching -----------------------------------------------------------------------------

    async def _watch(self) -> None:
        """End the current stream when another pod (or none) holds the name: a replaced pod's
        stream does not always end by itself (a lost node keeps it half-open)."""
        while not self._closed and not self._eof:
            await asyncio.sleep(WATCH_INTERVAL)
            session = self._session
            if session is None or not self._attached.is_set():
                continue
            try:
                uid = await asyncio.to_thread(self._attach.current_pod_uid)
            except Exception as exc:  # the API is unreachable: keep the stream we have
                logger.debug("%s: watchdog cannot look at the pod: %s", self._name, exc)
                continue
            if uid != session.pod_uid and session is self._session and self._attached.is_set():
                logger.info(
                    "%s: pod %s is no longer the server's; closing its stream",
                    self._name,
                    session.pod_uid,
                )
                self._attached.clear()
                await asyncio.to_thread(session.close)

    async def aclose(self) -> None:
        """Close the stream; the container's stdin stays open for the next attach."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self._session is not None:
            await asyncio.to_thread(self._session.close)
        self._eof = True
        self._data.set()
        self._attached.set()
