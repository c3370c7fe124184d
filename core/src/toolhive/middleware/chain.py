"""Build a workload's middleware chain: plan → check → ASGI wrappers (first entry outermost)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from toolhive.middleware.plan import Resolved, plan_chain, resolve

if TYPE_CHECKING:
    from toolhive.contracts.middleware import ASGIApp, MiddlewareContext, MiddlewareSpec, Mount
    from toolhive.models.runconfig import RunConfig
    from toolhive.proxy.app import Middleware


def checked_chain(config: RunConfig, specs: Mapping[str, MiddlewareSpec[Any]]) -> list[Resolved]:
    """The workload's chain, every entry matched with its plugin (fail closed)."""
    return resolve(plan_chain(config), specs)


#: Paths the proxy itself answers; a middleware may not mount over them.
RESERVED_PATHS = frozenset({"/health"})


def mounter(routes: dict[str, ASGIApp]) -> Mount:
    """``MiddlewareContext.mount`` over ``routes`` (what the proxy serves outside the chain)."""

    def mount(path: str, app: ASGIApp) -> None:
        if not path.startswith("/") or path in RESERVED_PATHS or path in routes:
            msg = f"cannot mount a route at {path!r}: it is reserved or already taken"
            raise ValueError(msg)
        routes[path] = app

    return mount


def wrappers(chain: list[Resolved], context: MiddlewareContext) -> list[Middleware]:
    """One ``wrap(app)`` per entry, in chain order, calling each plugin's factory."""

    def bind(item: Resolved) -> Middleware:
        def wrap(app: ASGIApp) -> ASGIApp:
            return item.spec.factory(app, item.config, context)

        return wrap

    return [bind(item) for item in chain]
