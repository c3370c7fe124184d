"""A workload's proxy: the ASGI app (``/health`` + middleware + transport) and its HTTP server.

Import the parts you need (``toolhive.proxy.app``, ``toolhive.proxy.server``); this package imports
nothing on its own so that light modules (``toolhive.proxy.edge``) stay light.
"""
