"""Configuration of Docker-API runtimes (``runtimes.docker`` in ToolHive's settings).

Light (pydantic only): the plugin module imports it to declare ``config_model``.
"""

from __future__ import annotations

from pydantic import Field
from toolhive.contracts import PluginConfig


class EngineConfig(PluginConfig):
    """Settings shared by every runtime that talks the Docker Engine API over a unix socket."""

    socket: str | None = Field(
        default=None,
        description=(
            "Engine socket (`/path/to.sock` or `unix:///path/to.sock`); overrides detection. "
            "The plugin's TOOLHIVE_*_SOCKET environment variable does the same for one shell."
        ),
    )
    api_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds to wait for one engine API call (pulls and waits excepted).",
    )
    init: bool = Field(
        default=True,
        description=(
            "Run a tiny init (docker-init / catatonit) as PID 1 so the server gets SIGTERM on "
            "`stop` and zombies are reaped; turn off only if the engine has no init binary."
        ),
    )

    egress_image: str | None = Field(
        default=None,
        description=(
            "A ready image for the network-isolation sidecars (squid, dnsmasq, socat, sh), used "
            "as is; TOOLHIVE_EGRESS_IMAGE does the same. Default: built locally on first use."
        ),
    )
    egress_base_image: str | None = Field(
        default=None,
        description=(
            "Debian-based image the sidecar image is built from on first use (default "
            "debian:bookworm-slim; its apt sources must reach a Debian archive); "
            "TOOLHIVE_EGRESS_BASE_IMAGE does the same."
        ),
    )


class DockerConfig(EngineConfig):
    """Settings of the ``docker`` runtime."""
