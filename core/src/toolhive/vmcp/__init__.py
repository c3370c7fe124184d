"""The virtual MCP gateway (``thv vmcp``): one endpoint in front of every backend of a group.

Deliberately empty of imports so that importing a submodule (for instance
:mod:`toolhive.vmcp.config` from the CLI) never pulls in the gateway itself.
"""
