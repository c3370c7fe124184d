"""The runtime contract: what a runtime plugin implements and the values that cross it.

Runtimes are synchronous (the engines' client libraries are); the supervisor calls them from a
worker thread where it must not block its event loop. Only :meth:`Runtime.attach_stdio` is async,
because the channel it returns is read and written by the proxy's event loop.

Also here, for runtime plugins: the permission profile a :class:`DeployRequest` carries,
:class:`BuildError` (what :meth:`ImageBuilder.build_image` raises) and :func:`parse_ref`, core's
parser of ``uvx://``/``npx://``/``go://`` references. A :class:`StdioChannel` over a child
process's pipes is :class:`toolhive.contracts.pipes.PipeChannel`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from toolhive.builds import BuildError
from toolhive.builds.schemes import PackageRef, parse_ref
from toolhive.models.permissions import (
    InboundNetwork,
    NetworkPermissions,
    OutboundNetwork,
    PermissionProfile,
    builtin_profile,
)

__all__ = [
    "LABEL_BASENAME",
    "LABEL_GROUP",
    "LABEL_NAME",
    "LABEL_PORT",
    "LABEL_TOOLHIVE",
    "LABEL_TRANSPORT",
    "BuildError",
    "ContainerInfo",
    "ContainerState",
    "DeployRequest",
    "Deployment",
    "ImageBuilder",
    "InboundNetwork",
    "Mount",
    "NetworkPermissions",
    "OutboundNetwork",
    "PackageRef",
    "PermissionProfile",
    "ProgressCallback",
    "Runtime",
    "StdioChannel",
    "builtin_profile",
    "parse_ref",
]

#: Labels put on every MCP container (ToolHive's names, so both tools see each other's workloads).
LABEL_TOOLHIVE = "toolhive"
LABEL_NAME = "toolhive-name"
LABEL_BASENAME = "toolhive-basename"
LABEL_TRANSPORT = "toolhive-transport"
LABEL_PORT = "toolhive-port"
LABEL_GROUP = "toolhive-group"

ProgressCallback = Callable[[str], None]


class Mount(BaseModel):
    """A bind mount: host ``source`` to container ``target``."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    source: str
    target: str
    read_only: bool = True


class DeployRequest(BaseModel):
    """Everything a runtime needs to start one MCP server."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str = Field(description="Container (or process) name; equals the workload's base name.")
    image: str = Field(
        description="Image reference, or for the process runtime the command/scheme."
    )
    command: list[str] = Field(default_factory=list, description="Arguments after the image.")
    env: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    #: The workload's transport: ``stdio``, ``sse``, ``streamable-http`` or a plugin's.
    transport: str = "stdio"
    #: Attach the server's stdin/stdout (the transport's ``TransportSpec.needs_stdio``); otherwise
    #: the server listens on ``target_port``. ``None``: only the ``stdio`` transport attaches.
    attach_stdio: bool | None = None
    target_port: int | None = Field(
        default=None, description="Port the server listens on (HTTP transports)."
    )
    host_port: int | None = Field(
        default=None, description="Host port to publish target_port on; None = pick."
    )
    mounts: list[Mount] = Field(default_factory=list)
    permission_profile: PermissionProfile = Field(default_factory=PermissionProfile)
    isolate_network: bool = True
    #: With isolation: let the workload reach the engine's gateway (the host) through the egress
    #: proxy, on any port (``thv run --allow-docker-gateway``; Go's ``AllowDockerGateway``).
    allow_docker_gateway: bool = False
    #: Apply the global ``.thvignore`` file as well as each mounted folder's own
    #: (:mod:`toolhive.contracts.thvignore`; ``thv run --ignore-globally``).
    ignore_globally: bool = True

    @property
    def stdio(self) -> bool:
        """Whether the runtime attaches stdin/stdout (else the server speaks HTTP on a port)."""
        return self.transport == "stdio" if self.attach_stdio is None else self.attach_stdio


class Deployment(BaseModel):
    """Where a started server can be reached."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    target_host: str = "127.0.0.1"
    target_port: int | None = Field(default=None, description="Host-side port for HTTP transports.")


ContainerState = Literal["running", "exited", "created", "paused", "restarting", "dead", "missing"]


class ContainerInfo(BaseModel):
    """A runtime's view of one workload container (or process)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    name: str
    image: str
    state: ContainerState
    labels: dict[str, str] = Field(default_factory=dict)
    created_at: str = ""
    exit_code: int | None = None


@runtime_checkable
class StdioChannel(Protocol):
    """The server's stdin/stdout as newline-delimited JSON-RPC."""

    async def send(self, line: bytes) -> None:
        """Write one message; ``line`` ends with ``\\n``."""

    async def readline(self) -> bytes:
        """Next line from stdout (with its ``\\n``); ``b""`` once the server has gone."""

    async def aclose(self) -> None: ...


@runtime_checkable
class Runtime(Protocol):
    """A container engine or process sandbox, as loaded from a :class:`~toolhive.contracts.RuntimeSpec`."""

    name: str

    def ping(self) -> None:
        """Raise :class:`~toolhive.errors.RuntimeUnavailableError` unless usable."""

    def ensure_image(self, image: str, progress: ProgressCallback | None = None) -> None:
        """Make ``image`` available, pulling if missing; raise ``ImageNotFoundError`` if impossible."""

    def check_request(self, request: DeployRequest) -> None:
        """Refuse a request this runtime cannot honour (e.g. an unenforceable profile), without side effects."""

    def deploy(self, request: DeployRequest) -> Deployment:
        """Create and start the server, replacing a leftover container of the same name."""

    async def attach_stdio(self, name: str) -> StdioChannel:
        """Attach to a running stdio server (a process runtime can only do so in the process
        that deployed it: it holds the pipes)."""

    def wait(self, name: str) -> int:
        """Block until the server exits; return its exit code."""

    def stop(self, name: str, timeout: float = 30) -> None:
        """Stop the server; a no-op if it is not running or does not exist."""

    def remove(self, name: str) -> None:
        """Remove the server's container and resources; a no-op if absent."""

    def inspect(self, name: str) -> ContainerInfo | None:
        """The server's state, or ``None`` if it does not exist."""

    def list_workloads(self) -> list[ContainerInfo]:
        """Every ToolHive-managed server this runtime knows, running or not."""

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]:
        """The server's output (stderr for stdio servers), optionally following it."""


@runtime_checkable
class ImageBuilder(Protocol):
    """Optional: a runtime that builds images (``uvx://``/``npx://``/``go://`` on containers)."""

    def build_image(
        self,
        context_dir: str,
        tag: str,
        *,
        labels: dict[str, str] | None = None,
        dockerfile: str = "Dockerfile",
        network_mode: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Build ``context_dir`` as ``tag``; return the image id. Raise ``BuildError`` on failure,
        with the build's last output lines in the message."""

    def find_image(self, labels: dict[str, str]) -> str | None:
        """A tagged local image carrying all ``labels`` (the newest), or ``None``."""

    def remove_image(self, ref: str) -> None:
        """Remove a local image; a no-op if absent or in use."""
