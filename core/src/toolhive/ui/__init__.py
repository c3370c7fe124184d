"""The web UI of ``thv serve``: static ES modules that drive the public REST API only.

No template engine and no build step: :mod:`toolhive.ui.routes` serves one HTML shell for every UI
path and the files under ``static/`` (shipped inside the wheel); the browser renders each view from
``/api/v1beta`` answers and follows ``/api/v1beta/events``. Why this shape: ``docs/ui.md``.
"""
