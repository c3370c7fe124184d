"""``thv-proxyrunner``: ToolHive's proxy in a pod, deploying its MCP server through this runtime."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    raise SystemExit("thv-proxyrunner: not implemented yet")
