"""Open a view of the web UI: in the ``thv serve`` already running for this home, else in one
started here (``thv ui``, ``thv inspector``)."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import click


def running_server_url() -> str | None:
    """The http URL of the ``thv serve`` that wrote the discovery file, if it still answers
    with its nonce (a stale file from a killed server is ignored)."""
    from toolhive.api.server import discovery_file

    try:
        record = json.loads(discovery_file().read_text())
        url, nonce, pid = str(record["url"]), str(record["nonce"]), int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not url.startswith("http://"):
        return None  # a unix socket: a browser cannot open it
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            if answer.headers.get("X-Toolhive-Nonce") != nonce:
                return None
    except OSError:
        return None
    return url


def open_browser(url: str, *, browser: bool) -> None:
    click.echo(f"ToolHive UI: {url}", err=True)
    if browser:
        import webbrowser

        webbrowser.open(url)


def open_view(ctx: click.Context, path: str, *, browser: bool, serve_opts: dict[str, Any]) -> None:
    """Show ``path`` (``/…``): reuse the running server, else serve here until interrupted."""
    url = running_server_url()
    if url is not None:
        open_browser(url + path, browser=browser)
        return
    from toolhive.cli.serve_cmd import run_server, serve

    # thv serve's own defaults, parsed as click does (so an option added there needs nothing here).
    opts: dict[str, Any] = dict(serve.make_context("serve", [], parent=ctx).params)
    opts.update(serve_opts)
    run_server(ctx, opts, on_ready=lambda base: open_browser(base + path, browser=browser))
