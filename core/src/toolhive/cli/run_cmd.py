"""``thv run``: start an MCP server as a detached workload (or in the foreground)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import click

from toolhive.cli.output import state
from toolhive.errors import InvalidInputError
from toolhive.models.runconfig import RunConfig, validate_workload_name
from toolhive.models.workload import WorkloadStatus
from toolhive.workloads.manager import WorkloadManager
from toolhive.workloads.options import RunOptions, build_runconfig


@contextlib.contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    """``extra`` in ``os.environ`` while the supervisor is spawned (it inherits it), then gone."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@click.command()
@click.argument("target", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--name", help="Workload name (default: derived from what you run).")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "sse", "streamable-http"]),
    help="How the server speaks MCP (default: stdio for packages/commands, streamable-http for images).",
)
@click.option(
    "--proxy-mode",
    type=click.Choice(["streamable-http", "sse"]),
    help="Protocol clients use for a stdio server (default streamable-http).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Proxy bind address.")
@click.option("--proxy-port", type=click.IntRange(1, 65535), help="Proxy port (default: random).")
@click.option("--target-port", type=click.IntRange(1, 65535), help="Port the server listens on.")
@click.option(
    "--endpoint-prefix",
    default="",
    help="Path prefix to put in front of SSE endpoint URLs (behind a path-routing ingress).",
)
@click.option(
    "--trust-proxy-headers",
    is_flag=True,
    help="Trust X-Forwarded-Prefix/-Host/-Proto from a reverse proxy in front of this one.",
)
@click.option(
    "--stateless", is_flag=True, help="The server keeps no sessions: forward POST only (GET → 405)."
)
@click.option(
    "--session-ttl", default="", help="Idle session lifetime, e.g. 2h or 30m (default 2h)."
)
@click.option(
    "--strict-protocol-validation",
    is_flag=True,
    help="Reject requests with an unknown MCP-Protocol-Version header (400).",
)
@click.option(
    "--allowed-origins",
    "allowed_origins",
    multiple=True,
    help="Browser Origin allowed to call the proxy (repeat or comma-separate); loopback origins "
    "are allowed on loopback binds.",
)
@click.option("-e", "--env", "env", multiple=True, help="Environment variable KEY=VALUE.")
@click.option("--env-file", "env_files", multiple=True, type=click.Path(path_type=Path))
@click.option("-v", "--volume", "volumes", multiple=True, help="Mount /host:/container[:ro].")
@click.option("-l", "--label", "labels", multiple=True, help="Label KEY=VALUE.")
@click.option("--group", default="default", show_default=True)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="Secret to pass as an environment variable: NAME,target=ENV (see `thv secret`).",
)
@click.option(
    "--remote-forward-headers",
    "remote_forward_headers",
    multiple=True,
    help="Header Name=Value the proxy adds to every request to a remote server; repeatable.",
)
@click.option(
    "--remote-forward-headers-secret",
    "remote_forward_headers_secret",
    multiple=True,
    help="Header Name=SECRET_NAME for a remote server, its value read from the secrets provider "
    "at start; repeatable.",
)
@click.option("--permission-profile", help="none, network, or a profile JSON file.")
@click.option(
    "--ca-cert", help="CA certificate (PEM) to trust when building uvx://, npx://, go://."
)
@click.option("--runtime-image", help="Base image for a uvx://, npx://, go:// build.")
@click.option(
    "--runtime-add-package",
    "runtime_add_packages",
    multiple=True,
    help="OS package (apt/apk) to add to a uvx://, npx://, go:// build; repeatable.",
)
@click.option(
    "--isolate-network",
    type=click.BOOL,
    default=True,
    show_default=True,
    help="Refuse profiles whose host allowlists cannot be enforced; false = unrestricted egress.",
)
@click.option(
    "--runtime", help="Runtime plugin to use (default: detected; see `thv runtime check`)."
)
@click.option("-f", "--foreground", is_flag=True, help="Run in this terminal until interrupted.")
@click.option(
    "--from-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Run an exported RunConfig JSON file.",
)
@click.option(
    "--start-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the server to come up.",
)
@click.pass_context
def run(ctx: click.Context, target: str | None, args: tuple[str, ...], **opts: object) -> None:
    """Run an MCP server: a registry name (fetch, io.github.stacklok/fetch), an image,
    uvx://pkg[@ver], npx://pkg[@ver], a command, or a URL.

    Arguments after `--` are passed to the server.
    """
    hooks = state(ctx).hooks
    from_config = opts.pop("from_config")
    foreground = bool(opts.pop("foreground"))
    timeout = float(opts.pop("start_timeout"))  # type: ignore[arg-type]
    if from_config is not None:
        if target:
            msg = "give either a server to run or --from-config, not both"
            raise InvalidInputError(msg)
        config = RunConfig.load(Path(str(from_config)))
        if opts["name"]:
            name = validate_workload_name(str(opts["name"]))
            config = config.model_copy(
                update={"name": name, "base_name": name, "container_name": name}
            )
        if not config.base_name:
            config = config.model_copy(update={"base_name": config.name})
    else:
        if not target:
            msg = "nothing to run: give an image, uvx://package, npx://package, command or URL"
            raise InvalidInputError(msg)
        from toolhive.registry.run import from_registry

        run_opts = RunOptions(target=target, args=list(args), **opts)  # type: ignore[arg-type]
        config = build_runconfig(from_registry(hooks, run_opts))

    # Secrets are checked now and resolved by the supervisor at start time; a detached
    # supervisor gets what it needs to open the provider through its environment only.
    from toolhive.secrets.resolve import check_references

    child_env = check_references(hooks, list(config.secrets))
    if config.header_forward and config.header_forward.add_headers_from_secret:
        from toolhive.models.remote import check_header_secrets

        child_env |= check_header_secrets(hooks, config.header_forward)

    def progress(line: str) -> None:
        click.echo(line, err=True)

    manager = WorkloadManager(hooks, progress=progress)
    if foreground:
        from toolhive.workloads.supervisor import run_supervisor

        config = manager.create(config)
        with _environ(child_env):
            ctx.exit(run_supervisor(hooks, config.base_name))
    with _environ(child_env):
        workload = manager.run_detached(config, wait=timeout)
    if workload.status == WorkloadStatus.RUNNING:
        click.echo(f"{workload.name} is running. Connect your MCP client to: {workload.url}")
    else:
        click.echo(
            f"{workload.name} is still {workload.status} after {timeout:.0f}s; "
            f"check `thv status {workload.name}` and `thv logs --proxy {workload.name}`. "
            f"URL: {workload.url}"
        )
