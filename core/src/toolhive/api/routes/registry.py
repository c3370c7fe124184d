"""The registry endpoints (being built: issue 11)."""

from __future__ import annotations

from toolhive.api.routing import Router

router = Router(tag="registry")
