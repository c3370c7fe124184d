"""Tests of the virtual MCP gateway (toolhive.vmcp)."""
