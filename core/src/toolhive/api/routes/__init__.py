"""The API's endpoints, one module per area; :func:`all_endpoints` lists them in document order."""

from __future__ import annotations

import importlib

from toolhive.api.routing import Endpoint

#: The modules that declare a ``router``, in the order the OpenAPI document lists their tags.
#: Routes match in this order too: ``upgrades`` (tag workloads) comes before ``workloads`` so
#: ``/workloads/upgrade-check`` is not taken for ``/workloads/{name}``.
MODULES = (
    "system",
    "upgrades",
    "workloads",
    "remote_auth",
    "groups",
    "clients",
    "secrets",
    "registry",
    "events",
    "logstream",
    "playground",
)


def all_endpoints() -> list[Endpoint]:
    out: list[Endpoint] = []
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        out.extend(module.router.endpoints)
    return out
