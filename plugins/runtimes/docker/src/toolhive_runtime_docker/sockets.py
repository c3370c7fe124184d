"""Finding a Docker-API engine socket: candidate paths, ``GET /_ping``, and the detection result.

Standard library only: detection runs for ``thv runtime check`` and runtime auto-detection, which
must not import the Docker SDK. The Podman and Colima plugins reuse this module with their own
:class:`SocketSearch` (candidate paths, override variable, start hint).

Search order for one engine (as ToolHive does it): the override variable if set (no fallback: an
explicit choice that does not answer is reported, not silently replaced), otherwise each candidate
that exists, in order; the first one answering ``/_ping`` wins. ``DOCKER_HOST`` is not consulted.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from toolhive.contracts import RuntimeDetection

#: Seconds to wait for one candidate's ``/_ping``.
PING_TIMEOUT = 2.0

UNIX_SCHEME = "unix://"


@dataclass(frozen=True)
class PingResult:
    """What ``GET /_ping`` on one socket said."""

    path: str
    ok: bool
    #: The ``Server`` header, e.g. ``Docker/20.10.24 (linux)`` or ``Libpod/4.3.1 (linux)``.
    server: str = ""
    api_version: str = ""
    error: str = ""

    @property
    def is_podman(self) -> bool:
        return self.server.lower().startswith("libpod")

    def describe(self) -> str:
        """One phrase for ``thv runtime check``: who answered, or why not."""
        if not self.ok:
            return f"{self.path}: {self.error}"
        who = self.server or "engine"
        api = f", API {self.api_version}" if self.api_version else ""
        return f"{who}{api} at {UNIX_SCHEME}{self.path}"


def socket_path(endpoint: str) -> str:
    """``unix:///run/x.sock`` or ``/run/x.sock`` → ``/run/x.sock``; other schemes are refused."""
    if endpoint.startswith(UNIX_SCHEME):
        return endpoint[len(UNIX_SCHEME) :]
    if "://" in endpoint:
        msg = f"unsupported engine endpoint {endpoint!r}: only unix:// sockets are supported"
        raise ValueError(msg)
    return endpoint


def ping_socket(path: str, timeout: float = PING_TIMEOUT) -> PingResult:
    """``GET /_ping`` on the unix socket ``path``; never raises."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return PingResult(path, ok=False, error="no such socket")
    except OSError as exc:
        return PingResult(path, ok=False, error=exc.strerror or str(exc))
    if not stat.S_ISSOCK(mode):
        return PingResult(path, ok=False, error="not a socket")
    # http.client brings ssl and email: imported only when an engine is really pinged, not by
    # every `thv` command that loads this plugin's entry point.
    import http.client

    from toolhive_runtime_docker.unix_http import UnixHTTPConnection

    conn = UnixHTTPConnection(path, timeout)
    try:
        conn.request("GET", "/_ping")
        with conn.getresponse() as response:
            body = response.read(256)
            status = response.status
            server = response.getheader("Server", "") or ""
            api = response.getheader("Api-Version", "") or ""
    except PermissionError:
        return PingResult(
            path, ok=False, error="permission denied (are you in the engine's group?)"
        )
    except TimeoutError:
        return PingResult(path, ok=False, error=f"no answer within {timeout:g}s")
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return PingResult(path, ok=False, error=reason)
    finally:
        conn.close()
    if status != 200:
        detail = body.decode("utf-8", "replace").strip()
        return PingResult(path, False, server, api, f"HTTP {status} {detail}".strip())
    return PingResult(path, ok=True, server=server, api_version=api)


def _expand(path: str, environ: Mapping[str, str]) -> str:
    """Expand ``~`` with ``environ["HOME"]`` (so tests can point it elsewhere)."""
    if path.startswith("~"):
        home = environ.get("HOME") or os.path.expanduser("~")
        return home + path[1:]
    return path


@dataclass(frozen=True)
class SocketSearch:
    """How to find one engine: its override variable, candidate paths and how to start it."""

    #: The runtime name (``docker``, ``podman``, ``colima``).
    runtime: str
    #: The engine as people call it, for messages (``Docker``, ``Podman``, ``Colima``).
    engine: str
    #: Environment variable naming the socket explicitly (``TOOLHIVE_DOCKER_SOCKET``).
    override_env: str
    #: Candidate socket paths for an environment, in search order (may contain ``~`` and globs).
    candidates: Callable[[Mapping[str, str]], list[str]]
    #: How to start the engine, shown when nothing answers.
    start_hint: str
    #: Say so when the socket turns out to be Podman's service (e.g. ``podman-docker`` links
    #: ``/var/run/docker.sock`` to it): the ``podman`` runtime knows Podman's quirks.
    warn_if_podman: bool = False

    def candidate_paths(self, environ: Mapping[str, str]) -> list[str]:
        """The candidates with ``~`` and globs expanded, duplicates (also via symlinks) removed."""
        out: list[str] = []
        seen: set[str] = set()
        for raw in self.candidates(environ):
            path = _expand(raw, environ)
            matches = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
            for match in matches:
                key = os.path.realpath(match)
                if key not in seen:
                    seen.add(key)
                    out.append(match)
        return out

    def detect(self, environ: Mapping[str, str]) -> RuntimeDetection:
        """Find the first answering socket; never raises."""
        override = environ.get(self.override_env, "").strip()
        if override:
            try:
                path = socket_path(override)
            except ValueError as exc:
                return self._unavailable(f"{self.override_env}: {exc}")
            result = ping_socket(path)
            if result.ok:
                return self._available(result, f" (from {self.override_env})")
            return self._unavailable(
                f"{self.override_env}={override} does not answer: {result.error}"
            )
        tried: list[str] = []
        for path in self.candidate_paths(environ):
            result = ping_socket(path)
            if result.ok:
                return self._available(result, "")
            if result.error != "no such socket":
                tried.append(result.describe())
        where = f" ({'; '.join(tried)})" if tried else ""
        return self._unavailable(f"no {self.engine} engine answered{where}; {self.start_hint}")

    def _available(self, result: PingResult, suffix: str) -> RuntimeDetection:
        if self.warn_if_podman and result.is_podman:
            suffix += "; this is Podman's Docker-compatible service: prefer --runtime podman"
        return RuntimeDetection(
            name=self.runtime,
            available=True,
            endpoint=UNIX_SCHEME + result.path,
            detail=result.describe() + suffix,
        )

    def _unavailable(self, detail: str) -> RuntimeDetection:
        return RuntimeDetection(name=self.runtime, available=False, detail=detail)


def _docker_candidates(environ: Mapping[str, str]) -> list[str]:
    return [
        "/var/run/docker.sock",
        "~/.docker/run/docker.sock",
        "~/.docker/desktop/docker.sock",
        "~/.rd/docker.sock",
        "~/.orbstack/run/docker.sock",
    ]


DOCKER_SEARCH = SocketSearch(
    runtime="docker",
    engine="Docker",
    override_env="TOOLHIVE_DOCKER_SOCKET",
    candidates=_docker_candidates,
    start_hint=(
        "start Docker (`sudo systemctl start docker`, or `dockerd &`, or Docker Desktop) "
        "or set TOOLHIVE_DOCKER_SOCKET to its socket"
    ),
    warn_if_podman=True,
)
