"""Endpoints being built (see docs/ui.md)."""

from __future__ import annotations

from toolhive.api.routing import Router

router = Router(tag="logs")
