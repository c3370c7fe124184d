"""The REST API (``thv serve``): ToolHive's ``/api/v1beta`` as a second front end over the same
use cases as the CLI (:mod:`toolhive.workloads.service`, groups, clients, secrets, registry).

- :mod:`toolhive.api.routing` — endpoints declared once: the Starlette route and the OpenAPI
  operation; :mod:`toolhive.api.openapi` — the OpenAPI 3.1 document built from them;
- :mod:`toolhive.api.errors` — every error as ``{code, message[, field]}``;
- :mod:`toolhive.api.state` — what the handlers share (plugins, the workload use cases);
- :mod:`toolhive.api.app` — the ASGI app: security headers, auth from the ``auth`` plugin, routes;
- :mod:`toolhive.api.routes` — the endpoints, one module per area.
"""
