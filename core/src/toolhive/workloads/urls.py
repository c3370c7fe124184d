"""The URL a client uses to reach a workload (ToolHive's ``GenerateMCPServerURL``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from toolhive.models.runconfig import RunConfig


def client_url(config: RunConfig) -> str:
    host = config.host if config.host not in {"0.0.0.0", "::", ""} else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    base = f"http://{host}:{config.port}"
    if config.remote_url:
        path = urlsplit(config.remote_url).path
        if config.transport == "sse" and not path.strip("/"):
            path = "/sse"
        return base + (path or "/mcp")
    if config.effective_proxy_mode == "sse":
        return f"{base}/sse#{config.container_name or config.name}"
    return f"{base}/mcp"
