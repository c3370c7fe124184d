"""The runtime request for a workload, and the server URL its transport forwards to."""

from __future__ import annotations

from toolhive.contracts.runtime import (
    LABEL_BASENAME,
    LABEL_GROUP,
    LABEL_NAME,
    LABEL_PORT,
    LABEL_TOOLHIVE,
    LABEL_TRANSPORT,
    Deployment,
    DeployRequest,
    Mount,
)
from toolhive.models.permissions import load_profile
from toolhive.models.runconfig import RunConfig
from toolhive.workloads.runconfig_builder import parse_volume


def profile_mounts(config: RunConfig) -> list[Mount]:
    """Mounts from the permission profile (read → ro, write → rw) and ``--volume`` flags."""
    mounts: list[Mount] = []
    profile = config.permission_profile
    if profile is not None:
        for entries, read_only in ((profile.read, True), (profile.write, False)):
            for entry in entries:
                if entry.startswith("volume://"):
                    src, dst = entry, ""
                else:
                    src, _, dst = entry.partition(":")
                mounts.append(Mount(source=src, target=dst or src, read_only=read_only))
    mounts.extend(parse_volume(v) for v in config.volumes)
    return mounts


def deploy_request(
    config: RunConfig, *, in_container: bool, needs_stdio: bool | None = None
) -> DeployRequest:
    """Env merge order as ToolHive: env files and ``-e`` (already merged), then transport vars.

    ``needs_stdio`` is the transport's ``TransportSpec.needs_stdio`` (default: only ``stdio``)."""
    stdio = config.transport == "stdio" if needs_stdio is None else needs_stdio
    env = dict(config.env_vars)
    env["MCP_TRANSPORT"] = config.transport
    if not stdio:
        env["MCP_PORT"] = str(config.target_port)
        env["FASTMCP_PORT"] = str(config.target_port)
        # Inside a container the server must listen beyond loopback to be published.
        env["MCP_HOST"] = "0.0.0.0" if in_container else config.target_host
    labels = {
        **config.container_labels,
        LABEL_TOOLHIVE: "true",
        LABEL_NAME: config.name,
        LABEL_BASENAME: config.base_name,
        LABEL_TRANSPORT: config.transport,
        LABEL_PORT: str(config.port),
        LABEL_GROUP: config.group or "default",
    }
    return DeployRequest(
        name=config.container_name or config.base_name,
        image=config.image,
        command=list(config.cmd_args),
        env=env,
        labels=labels,
        transport=config.transport,
        attach_stdio=stdio,
        target_port=config.target_port or None,
        mounts=profile_mounts(config),
        permission_profile=config.permission_profile
        or load_profile(config.permission_profile_name_or_path or "network"),
        isolate_network=config.isolate_network,
        allow_docker_gateway=config.allow_docker_gateway,
        ignore_globally=(config.ignore_config or {}).get("LoadGlobal", True),
    )


def server_url(config: RunConfig, deployment: Deployment | None) -> str:
    """Where the proxy forwards HTTP traffic (``sse`` and ``streamable-http`` transports)."""
    if config.remote_url:
        return config.remote_url
    assert deployment is not None and deployment.target_port
    path = "/sse" if config.transport == "sse" else "/mcp"
    return f"http://{deployment.target_host}:{deployment.target_port}{path}"
