"""The RunConfig builder: from a :class:`RunRequest` for an image, package, command or URL (already
resolved through the registry, see :mod:`toolhive.workloads.resolve`) to a :class:`RunConfig`.

Everything a user can get wrong is refused here, before any state exists: names, env files, labels,
volumes, secret references, session TTL, headers, build settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolhive.contracts.runtime import LABEL_TOOLHIVE, Mount
from toolhive.errors import InvalidInputError, format_validation_error
from toolhive.models.permissions import NetworkPermissions, PermissionProfile, load_profile
from toolhive.models.remote import (
    HeaderForwardConfig,
    RemoteAuthConfig,
    check_header_name,
    check_header_value,
)
from toolhive.models.runconfig import RunConfig, validate_workload_name
from toolhive.proxy.edge import split_origins
from toolhive.userpaths import expand_user
from toolhive.workloads.names import derive_name
from toolhive.workloads.request import RegistryOrigin, RunRequest

SCHEMES = ("uvx://", "npx://", "go://")


def is_package_scheme(target: str) -> bool:
    return target.startswith(SCHEMES)


def is_remote(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def default_transport(target: str) -> str:
    """Packages and commands are almost always stdio servers; images default like ToolHive's CLI."""
    if target.startswith(SCHEMES):
        return "stdio"
    if is_remote(target):
        return "sse" if target.rstrip("/").endswith("/sse") else "streamable-http"
    if ("/" in target and not target.startswith((".", "/"))) or ":" in target:
        return "streamable-http"  # looks like an image reference
    return "stdio"


def parse_key_values(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"invalid {what} {item!r}: expected KEY=VALUE"
            raise InvalidInputError(msg)
        out[key.strip()] = value
    return out


def read_env_file(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        msg = f"cannot read env file {path}: {exc.strerror}"
        raise InvalidInputError(msg) from None
    out: dict[str, str] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            msg = f"{path}:{number}: expected KEY=VALUE"
            raise InvalidInputError(msg)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def parse_volume(spec: str) -> Mount:
    """``host:ctr[:ro|:rw]`` or ``/same/path``; relative host paths are resolved."""
    parts = spec.split(":")
    read_only = False
    if len(parts) == 3 and parts[2] in {"ro", "rw"}:
        read_only = parts[2] == "ro"
        parts = parts[:2]
    if len(parts) == 1:
        parts = [parts[0], parts[0]]
    if len(parts) != 2 or not parts[0] or not parts[1].startswith("/") or ".." in spec.split("/"):
        msg = f"invalid volume {spec!r}: expected /host/path:/container/path[:ro]"
        raise InvalidInputError(msg)
    host = str(expand_user(parts[0], "volume").resolve())
    return Mount(source=host, target=parts[1], read_only=read_only)


def _session_ttl(text: str) -> str:
    """Keep the Go duration text (ToolHive's RunConfig stores it so), but refuse nonsense early."""
    from toolhive.web.durations import parse_duration

    if text and parse_duration(text, -1.0) <= 0:
        msg = f"invalid --session-ttl {text!r}: use a duration such as 2h, 30m or 90s"
        raise InvalidInputError(msg)
    return text


def _registry_profile(request: RunRequest, origin: RegistryOrigin) -> PermissionProfile | None:
    """The registry entry's profile, unless a permission profile was asked for."""
    if request.permission_profile or origin.permissions is None:
        return None
    try:
        profile = PermissionProfile.model_validate({**origin.permissions, "name": "registry"})
    except ValidationError as exc:
        msg = (
            f"registry entry {origin.registry_server_name}: invalid permissions "
            f"({format_validation_error(exc)})"
        )
        raise InvalidInputError(msg) from None
    profile.check_mounts()
    return profile


def build_runconfig(request: RunRequest, origin: RegistryOrigin | None = None) -> RunConfig:
    """``request`` (an image, package, command or URL) as a RunConfig; ``origin`` when a registry
    entry filled it in. Ports and the runtime are chosen later, when the workload is created."""
    origin = origin or RegistryOrigin()
    target = request.target
    if not target:
        msg = "nothing to run: give an image, uvx://package, npx://package, command or URL"
        raise InvalidInputError(msg)
    if target.startswith("vmcp://"):
        from toolhive.vmcp.workload import vmcp_runconfig

        return vmcp_runconfig(request)
    remote = bool(request.url) or is_remote(target)
    name = validate_workload_name(request.name) if request.name else derive_name(target)
    transport = request.transport or default_transport(target)
    proxy_mode = request.proxy_mode or ""
    if proxy_mode not in {"", "sse", "streamable-http"}:
        msg = f"invalid proxy mode {proxy_mode!r}: use streamable-http or sse"
        raise InvalidInputError(msg)
    if proxy_mode and transport != "stdio":
        msg = "--proxy-mode applies to stdio servers only"
        raise InvalidInputError(msg)
    env: dict[str, str] = {}
    for env_file in request.env_files:
        env.update(read_env_file(env_file))
    env.update(request.env_vars)
    reserved = [
        k for k in request.labels if k == LABEL_TOOLHIVE or k.startswith(f"{LABEL_TOOLHIVE}-")
    ]
    if reserved:
        msg = f"label {reserved[0]!r} is reserved for ToolHive; choose another key"
        raise InvalidInputError(msg)
    for volume in request.volumes:
        parse_volume(volume)  # fail early, before anything is saved
    from toolhive.secrets.names import parse_references

    secrets = [str(ref) for ref in parse_references([str(r) for r in request.secrets])]
    profile_name = request.permission_profile or "network"
    profile = None if remote else _registry_profile(request, origin)
    if profile is not None:
        profile_name = "registry"
    if not remote:
        profile = profile or load_profile(profile_name)
        if request.network:
            # Go's --network: it sets the resolved profile's network mode.
            network = profile.network or NetworkPermissions()
            profile = profile.model_copy(
                update={"network": network.model_copy(update={"mode": request.network})}
            )
    from toolhive.workloads.protection_inputs import check_tools_in_registry, protection_fields

    # Each item may be "a,b" (the REST API passes the list as given, `--tools` repeats).
    tools = [t.strip() for item in request.tools for t in item.split(",") if t.strip()]
    check_tools_in_registry(tools, request.tools_override, origin.tools)

    protection = protection_fields(
        oidc=request.oidc,
        authz_config=request.authz_config,
        audit_config=request.audit_config,
        enable_audit=request.enable_audit,
        telemetry_config=request.telemetry_config,
        workload=name,
        token_exchange=request.token_exchange,
    )
    return RunConfig(
        **protection,
        image="" if remote else target,
        remote_url=target if remote else "",
        cmd_args=list(request.cmd_arguments),
        name=name,
        base_name=name,
        container_name=name,
        transport=transport,
        proxy_mode=proxy_mode,  # type: ignore[arg-type]  # checked above
        host=request.host,
        port=request.proxy_port,
        target_port=request.target_port,
        env_vars=env,
        volumes=list(request.volumes),
        container_labels=dict(request.labels),
        permission_profile_name_or_path=profile_name,
        permission_profile=profile,
        registry_url=origin.registry_url,
        registry_api_url=origin.registry_api_url,
        registry_server_name=origin.registry_server_name,
        group=request.group,
        isolate_network=request.network_isolation,
        allow_docker_gateway=request.allow_docker_gateway,
        ignore_config={"LoadGlobal": request.ignore_globally, "PrintOverlays": False},
        runtime="" if remote else request.runtime,
        endpoint_prefix=request.endpoint_prefix,
        trust_proxy_headers=request.trust_proxy_headers,
        stateless=request.stateless,
        session_ttl=_session_ttl(request.session_ttl),
        strict_protocol_validation=request.strict_protocol_validation,
        allowed_origins=split_origins(request.allowed_origins),
        secrets=secrets,
        tools_filter=tools,
        tools_override=dict(request.tools_override),
        runtime_config=_build_settings(request, target),
        header_forward=_header_forward(request.header_forward, remote),
        remote_auth_config=_remote_auth(request, origin, remote),
        debug=request.debug,
    )


def _remote_auth(
    request: RunRequest, origin: RegistryOrigin, remote: bool
) -> RemoteAuthConfig | None:
    """The registry entry's OAuth hints with the ``--remote-auth*`` flags over them (a flag
    left at its default keeps the entry's value)."""
    if not remote:
        if request.remote_auth is not None:
            msg = "the --remote-auth flags apply to remote servers (a URL) only"
            raise InvalidInputError(msg)
        return None
    hints = (
        RemoteAuthConfig.model_validate(origin.remote_auth_config)
        if origin.remote_auth_config
        else None
    )
    if request.remote_auth is not None and request.token_exchange is not None:
        # Both would set the upstream Authorization header; ToolHive's run lets the login win
        # silently, which defeats the exchange.
        msg = (
            "--remote-auth* and --token-exchange-* cannot be combined: token exchange sends each "
            "caller's exchanged token upstream, a remote login sends its own"
        )
        raise InvalidInputError(msg)
    if request.remote_auth is None:
        return hints
    if hints is None:
        return request.remote_auth
    given = request.remote_auth.model_dump(exclude_defaults=True)
    return hints.model_copy(update=given)


def _header_forward(
    forward: HeaderForwardConfig | None, remote: bool
) -> HeaderForwardConfig | None:
    """Headers for a remote server (``--remote-forward-headers[-secret]``), checked."""
    if not forward:
        return None
    if not remote:
        msg = "--remote-forward-headers and --remote-forward-headers-secret apply to remote URLs"
        raise InvalidInputError(msg)
    plain = {
        check_header_name(k): check_header_value(k, v)
        for k, v in forward.add_plaintext_headers.items()
    }
    secret = {check_header_name(k): v for k, v in forward.add_headers_from_secret.items()}
    for header, name in secret.items():
        if not name.strip():
            msg = f"--remote-forward-headers-secret {header}: the secret name is empty"
            raise InvalidInputError(msg)
    both = {h.lower() for h in plain} & {h.lower() for h in secret}
    if both:
        msg = f"header {sorted(both)[0]!r} is given both as a value and as a secret"
        raise InvalidInputError(msg)
    return HeaderForwardConfig(add_plaintext_headers=plain, add_headers_from_secret=secret)


def _build_settings(request: RunRequest, target: str) -> dict[str, Any] | None:
    """``--ca-cert``/``--runtime-image``/``--runtime-add-package`` as RunConfig.runtime_config."""
    build = request.runtime_config
    given = request.ca_cert or (build and (build.runtime_image or build.additional_packages))
    if not given:
        return None
    if not is_package_scheme(target):
        msg = "--ca-cert, --runtime-image and --runtime-add-package apply to uvx://, npx://, go://"
        raise InvalidInputError(msg)
    out: dict[str, Any] = {}
    if request.ca_cert:
        from toolhive.builds.settings import read_ca_cert

        read_ca_cert(request.ca_cert)  # a bad file fails now, not in the middle of a build
        out["ca_cert_path"] = str(expand_user(request.ca_cert, "--ca-cert").resolve())
    if build and build.runtime_image:
        out["runtime_image"] = build.runtime_image
    if build and build.additional_packages:
        out["additional_packages"] = list(build.additional_packages)
    return out
