"""The workload proxy's middleware chain, assembled from ToolHive middleware entries.

``plan`` turns a RunConfig into the ordered list of entries (explicit ``middleware_configs`` plus
what ``oidc_config``, ``authz_config``, ``audit_config``, ``telemetry_config``, ``tools_filter`` …
ask for, in ToolHive's order) and refuses any entry no installed plugin enforces (fail closed);
``chain`` builds the ASGI wrappers from a checked plan; ``parser`` and ``recovery`` are core's own
middleware (``mcp-parser``, ``recovery``), registered as a built-in plugin like any other.
"""
