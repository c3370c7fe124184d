"""MCP server registries: the entry models, the upstream ``server.json`` format and ToolHive's
legacy format, lookup and search, and the choice of the configured source.

Sources themselves are plugins (hook ``thv_registry_sources``): the built-in catalog
(``toolhive-registry-catalog``) and URL / file / registry-API sources (``toolhive-registry-remote``).
Nothing here is imported by ``thv --help`` or ``thv list``.
"""
