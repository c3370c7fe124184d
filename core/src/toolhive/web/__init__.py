"""The bottom layer of ToolHive's HTTP side, shared by :mod:`toolhive.proxy` and
:mod:`toolhive.transports`.

* :mod:`toolhive.web.asgi`: the raw-ASGI types (``Scope``, ``Message``, ``Receive``, ``Send``,
  ``ASGIApp``) and the hot-path response/body helpers (``send_body``, ``read_body``, ``sse_event`` …).
* :mod:`toolhive.web.limits`: the request body limit (``TOOLHIVE_MAX_REQUEST_BODY``, sizes like ``8MiB``).
* :mod:`toolhive.web.durations`: Go-style durations (``1h30m``, ``250ms``) in flags and environment.
* :mod:`toolhive.web.hosts`: which host names are loopback.

It imports nothing from ToolHive except :mod:`toolhive.errors`, and this package imports none of its
modules on its own, so each user loads only what it needs.
"""
