"""``thv run``: flags → :class:`RunRequest` → :meth:`Workloads.run` → the URL to connect to.

Everything between (registry lookup, RunConfig, fail-closed check, secrets, placement, the
detached supervisor) is the use case's: :mod:`toolhive.workloads.service`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from toolhive.cli.go_flags import GoBoolCommand
from toolhive.cli.output import state
from toolhive.cli.protection_flags import (
    BOOL_FLAGS,
    PARAMETERS,
    given_parameters,
    protection_options,
    protection_request_fields,
)
from toolhive.cli.remote_auth_flags import BOOL_FLAGS as REMOTE_AUTH_BOOL_FLAGS
from toolhive.cli.remote_auth_flags import PARAMETERS as REMOTE_AUTH_PARAMETERS
from toolhive.cli.remote_auth_flags import remote_auth_options, remote_auth_request
from toolhive.errors import InvalidInputError
from toolhive.models.workload import WorkloadStatus
from toolhive.workloads.request import BuildSettings, RunRequest


class RunCommand(GoBoolCommand):
    go_bool_flags = (
        frozenset({"--isolate-network", "--ignore-globally"}) | BOOL_FLAGS | REMOTE_AUTH_BOOL_FLAGS
    )


@click.command(cls=RunCommand)
@click.argument("target", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--name", help="Workload name (default: derived from what you run).")
@click.option(
    "--transport",
    help="How the server speaks MCP: stdio, sse, streamable-http or a plugin's transport "
    "(default: stdio for packages/commands, streamable-http for images).",
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
    metavar="[=true|false]",
    show_default=True,
    help="Enforce the profile's allow_host/allow_port (egress proxy and DNS sidecars on "
    "containers); --isolate-network=false = unrestricted egress.",
)
@click.option(
    "--network",
    "network_mode",
    help="Network mode of the server (Go's --network): none, host or a network name; host and "
    "custom networks are refused on containers (they would bypass the profile's network rules).",
)
@click.option(
    "--allow-docker-gateway",
    is_flag=True,
    help="With --isolate-network: let the server reach the engine's gateway (the host: "
    "host.docker.internal, host.containers.internal, the bridge gateway) on any port.",
)
@click.option(
    "--ignore-globally",
    type=click.BOOL,
    default=True,
    metavar="[=true|false]",
    show_default=True,
    help="Load global ignore patterns from ~/.config/toolhive/thvignore (mounted folders' own "
    ".thvignore files always apply).",
)
@click.option(
    "--print-resolved-overlays",
    is_flag=True,
    help="Show the paths .thvignore patterns hide inside the workload's mounts.",
)
@click.option(
    "--runtime", help="Runtime plugin to use (default: detected; see `thv runtime check`)."
)
@click.option("-f", "--foreground", is_flag=True, help="Run in this terminal until interrupted.")
@click.option(
    "--from-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Run an exported RunConfig JSON file, or a Kubernetes MCPServer manifest "
    "(`thv export --format k8s`).",
)
@protection_options
@remote_auth_options
@click.option(
    "--start-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the server to come up.",
)
@click.pass_context
def run(ctx: click.Context, /, target: str | None, args: tuple[str, ...], **opts: Any) -> None:
    """Run an MCP server: a registry name (fetch, io.github.stacklok/fetch), an image,
    uvx://pkg[@ver], npx://pkg[@ver], go://module[@ver], a command, or a URL.

    Arguments after `--` are passed to the server.
    """
    cli = state(ctx)
    foreground = bool(opts.pop("foreground"))
    timeout = float(opts.pop("start_timeout"))
    print_overlays = bool(opts.pop("print_resolved_overlays"))
    request = run_request(
        target,
        list(args),
        opts,
        debug=cli.debug,
        given=given_parameters(ctx),
        otel_defaults=otel_defaults(),
    )
    workloads = cli.workloads(progress=lambda line: click.echo(line, err=True))
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    prompt = _tty_prompt if interactive else None
    if print_overlays:
        _print_overlays(request)
    if foreground:
        ctx.exit(workloads.run_foreground(request, prompt=prompt))
    workload = workloads.run(request, prompt=prompt, wait=timeout)
    if workload.status == WorkloadStatus.RUNNING:
        click.echo(f"{workload.name} is running. Connect your MCP client to: {workload.url}")
    elif workload.status in (WorkloadStatus.UNAUTHENTICATED, WorkloadStatus.AUTH_RETRYING):
        click.echo(
            f"{workload.name} is {workload.status}: {workload.status_context}. URL: {workload.url}"
        )
    else:
        click.echo(
            f"{workload.name} is still {workload.status} after {timeout:.0f}s; "
            f"check `thv status {workload.name}` and `thv logs --proxy {workload.name}`. "
            f"URL: {workload.url}"
        )


def _print_overlays(request: RunRequest) -> None:
    """``--print-resolved-overlays``: what ``.thvignore`` hides in the ``--volume`` mounts and
    a profile file's read/write entries (a registry entry's profile is not resolved yet here)."""
    from toolhive.contracts import thvignore
    from toolhive.models.permissions import load_profile
    from toolhive.workloads.runconfig_builder import parse_volume

    mounts = [parse_volume(v) for v in request.volumes]
    if request.permission_profile:
        profile = load_profile(request.permission_profile)
        for entry in (*profile.read, *profile.write):
            if not entry.startswith("volume://"):
                source, _, target = entry.partition(":")
                mounts.append(parse_volume(f"{source}:{target or source}"))
    dirs = [(m.source, m.target) for m in mounts if not m.source.startswith("volume://")]
    found = thvignore.overlays(
        dirs, global_file=thvignore.global_file() if request.ignore_globally else None
    )
    click.echo(f"Resolved .thvignore overlays: {len(found)}", err=True)
    for line in thvignore.describe(found):
        click.echo(f"  {line}", err=True)


def otel_defaults() -> dict[str, Any]:
    """``thv config otel`` settings (config.yaml's ``otel``), the ``--otel-*`` fallbacks."""
    from toolhive.appconfig import load_config

    return dict(load_config().otel)


def run_request(
    target: str | None,
    args: list[str],
    opts: dict[str, Any],
    *,
    debug: bool = False,
    given: frozenset[str] = frozenset(),
    otel_defaults: dict[str, Any] | None = None,
) -> RunRequest:
    """The request ``thv run``'s arguments and flags make (parsing only: nothing is looked up;
    ``--from-config``, ``--tools-override`` and the authz/audit files are read). ``given`` names
    the flags set on the command line, which win over ``otel_defaults``."""
    from toolhive.models.remote import HeaderForwardConfig, parse_header_flags
    from toolhive.secrets.names import parse_references
    from toolhive.workloads.runconfig_builder import is_remote, parse_key_values

    from_config = opts["from_config"]
    if from_config is not None:
        if target:
            msg = "give either a server to run or --from-config, not both"
            raise InvalidInputError(msg)
        mixed = sorted(name for name in given & (PARAMETERS | REMOTE_AUTH_PARAMETERS))
        if mixed:
            flag = "--" + mixed[0].replace("_", "-")
            msg = f"{flag} cannot be combined with --from-config: edit the RunConfig instead"
            raise InvalidInputError(msg)
        from toolhive.workloads.export_k8s import load_run_config

        loaded = load_run_config(Path(from_config))
        for warning in loaded.warnings:
            click.echo(f"Warning: {warning}", err=True)
        config = loaded.config
        if opts["runtime"]:  # how to run it, not what: the one config field a flag may set
            config = config.model_copy(update={"runtime": opts["runtime"]})
        return RunRequest(from_config=config, name=opts["name"] or "", debug=debug)
    if not target or not target.strip():
        msg = "nothing to run: give an image, uvx://package, npx://package, command or URL"
        raise InvalidInputError(msg)
    headers = parse_header_flags(list(opts["remote_forward_headers"]), "--remote-forward-headers")
    header_secrets = parse_header_flags(
        list(opts["remote_forward_headers_secret"]), "--remote-forward-headers-secret"
    )
    forward = HeaderForwardConfig(
        add_plaintext_headers=headers, add_headers_from_secret=header_secrets
    )
    build = BuildSettings(
        runtime_image=opts["runtime_image"] or "",
        additional_packages=list(opts["runtime_add_packages"]),
    )
    target = target.strip()
    protection = protection_request_fields(opts, given, otel_defaults or {})
    return RunRequest(
        **protection,
        image="" if is_remote(target) else target,
        url=target if is_remote(target) else "",
        name=opts["name"] or "",
        group=opts["group"],
        cmd_arguments=args,
        transport=opts["transport"] or "",
        proxy_mode=opts["proxy_mode"] or "",
        host=opts["host"],
        proxy_port=opts["proxy_port"] or 0,
        target_port=opts["target_port"] or 0,
        env_files=list(opts["env_files"]),
        env_vars=parse_key_values(list(opts["env"]), "environment variable"),
        secrets=parse_references(list(opts["secrets"])),
        volumes=list(opts["volumes"]),
        labels=parse_key_values(list(opts["labels"]), "label"),
        permission_profile=opts["permission_profile"] or "",
        network_isolation=opts["isolate_network"],
        allow_docker_gateway=opts["allow_docker_gateway"],
        network=opts["network_mode"] or "",
        ignore_globally=opts["ignore_globally"],
        runtime=opts["runtime"] or "",
        trust_proxy_headers=opts["trust_proxy_headers"],
        endpoint_prefix=opts["endpoint_prefix"],
        stateless=opts["stateless"],
        session_ttl=opts["session_ttl"],
        strict_protocol_validation=opts["strict_protocol_validation"],
        allowed_origins=list(opts["allowed_origins"]),
        header_forward=forward if forward else None,
        # $TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN only for a URL (it must not refuse an image).
        remote_auth=remote_auth_request(opts, given, None if is_remote(target) else {}),
        ca_cert=opts["ca_cert"] or "",
        runtime_config=build if build.runtime_image or build.additional_packages else None,
        debug=debug,
    )


def request_for(argv: list[str], *, debug: bool = False) -> RunRequest:
    """The request ``thv run ARGV`` makes, parsed as the command parses it (nothing runs)."""
    ctx = run.make_context("run", list(argv))
    params = dict(ctx.params)
    params.pop("foreground")
    params.pop("start_timeout")
    params.pop("print_resolved_overlays")
    target, args = params.pop("target"), params.pop("args")
    return run_request(target, list(args), params, debug=debug, given=given_parameters(ctx))


def _tty_prompt(label: str, secret: bool) -> str:
    return str(click.prompt(label, hide_input=secret, default="", show_default=False, err=True))
