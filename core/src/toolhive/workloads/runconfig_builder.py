"""From what a user typed (``thv run`` flags, a REST body) to a :class:`RunConfig`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from toolhive.errors import InvalidInputError
from toolhive.models.permissions import PermissionProfile, load_profile
from toolhive.models.remote import HeaderForwardConfig, parse_header_flags
from toolhive.models.runconfig import RunConfig, validate_workload_name
from toolhive.proxy.edge import split_origins
from toolhive.runtime import LABEL_TOOLHIVE, Mount
from toolhive.workloads.names import derive_name

SCHEMES = ("uvx://", "npx://", "go://")


class RunOptions(BaseModel):
    target: str
    args: list[str] = Field(default_factory=list)
    name: str | None = None
    transport: str | None = None
    proxy_mode: str | None = None
    host: str = "127.0.0.1"
    proxy_port: int | None = None
    target_port: int | None = None
    env: list[str] = Field(default_factory=list)
    env_files: list[Path] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    permission_profile: str | None = None
    runtime: str | None = None
    group: str = "default"
    #: Set when the target came from a registry entry (toolhive.registry.run).
    registry_url: str = ""
    registry_api_url: str = ""
    registry_server_name: str = ""
    registry_permissions: dict[str, Any] | None = None
    isolate_network: bool = True
    endpoint_prefix: str = ""
    trust_proxy_headers: bool = False
    stateless: bool = False
    session_ttl: str = ""
    strict_protocol_validation: bool = False
    allowed_origins: list[str] = Field(default_factory=list)
    #: ``NAME,target=ENV`` references; values are resolved when the workload starts.
    secrets: list[str] = Field(default_factory=list)
    #: Protocol-scheme builds on container runtimes (toolhive.builds).
    ca_cert: str | None = None
    runtime_image: str | None = None
    runtime_add_packages: list[str] = Field(default_factory=list)
    #: Remote servers: ``Name=Value`` headers and ``Name=secret-name`` headers from secrets.
    remote_forward_headers: list[str] = Field(default_factory=list)
    remote_forward_headers_secret: list[str] = Field(default_factory=list)
    #: Set from a remote registry entry (toolhive.registry.run): OAuth hints, header definitions.
    remote_auth_config: dict[str, Any] | None = None


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
    host = str(Path(parts[0]).expanduser().resolve())
    return Mount(source=host, target=parts[1], read_only=read_only)


def profile_mounts(config: RunConfig) -> list[Mount]:
    """Mounts from the permission profile (read → ro, write → rw) and ``--volume`` flags."""
    mounts: list[Mount] = []
    profile = config.permission_profile
    if profile is not None:
        for entries, read_only in ((profile.read, True), (profile.write, False)):
            for entry in entries:
                src, _, dst = (
                    entry.partition(":")
                    if not entry.startswith("volume://")
                    else (
                        entry,
                        "",
                        "",
                    )
                )
                mounts.append(Mount(source=src, target=dst or src, read_only=read_only))
    mounts.extend(parse_volume(v) for v in config.volumes)
    return mounts


def _session_ttl(text: str) -> str:
    """Keep the Go duration text (ToolHive's RunConfig stores it so), but refuse nonsense early."""
    from toolhive.proxy.durations import parse_duration

    if text and parse_duration(text, -1.0) <= 0:
        msg = f"invalid --session-ttl {text!r}: use a duration such as 2h, 30m or 90s"
        raise InvalidInputError(msg)
    return text


def _registry_profile(opts: RunOptions) -> PermissionProfile | None:
    """The registry entry's profile, unless --permission-profile was given."""
    if opts.permission_profile or opts.registry_permissions is None:
        return None
    try:
        profile = PermissionProfile.model_validate(
            {**opts.registry_permissions, "name": "registry"}
        )
    except ValidationError as exc:
        msg = f"registry entry {opts.registry_server_name}: invalid permissions ({exc.errors()[0]['msg']})"
        raise InvalidInputError(msg) from None
    profile.check_mounts()
    return profile


def build_runconfig(opts: RunOptions) -> RunConfig:
    target = opts.target.strip()
    if not target:
        msg = "nothing to run: give an image, uvx://package, npx://package, command or URL"
        raise InvalidInputError(msg)
    name = validate_workload_name(opts.name) if opts.name else derive_name(target)
    transport = opts.transport or default_transport(target)
    if transport not in {"stdio", "sse", "streamable-http"}:
        msg = f"invalid transport {transport!r}: use stdio, sse or streamable-http"
        raise InvalidInputError(msg)
    proxy_mode = opts.proxy_mode or ""
    if proxy_mode and transport != "stdio":
        msg = "--proxy-mode applies to stdio servers only"
        raise InvalidInputError(msg)
    env: dict[str, str] = {}
    for env_file in opts.env_files:
        env.update(read_env_file(env_file))
    env.update(parse_key_values(opts.env, "environment variable"))
    labels = parse_key_values(opts.labels, "label")
    reserved = [k for k in labels if k == LABEL_TOOLHIVE or k.startswith(f"{LABEL_TOOLHIVE}-")]
    if reserved:
        msg = f"label {reserved[0]!r} is reserved for ToolHive; choose another key"
        raise InvalidInputError(msg)
    for volume in opts.volumes:
        parse_volume(volume)  # fail early, before anything is saved
    from toolhive.secrets.names import parse_references

    secrets = [str(ref) for ref in parse_references(opts.secrets)]
    profile_name = opts.permission_profile or "network"
    profile = None if is_remote(target) else _registry_profile(opts)
    if profile is not None:
        profile_name = "registry"
    remote = is_remote(target)
    return RunConfig(
        image="" if remote else target,
        remote_url=target if remote else "",
        cmd_args=list(opts.args),
        name=name,
        base_name=name,
        container_name=name,
        transport=transport,  # type: ignore[arg-type]
        proxy_mode=proxy_mode,  # type: ignore[arg-type]
        host=opts.host,
        port=opts.proxy_port or 0,
        target_port=opts.target_port or 0,
        env_vars=env,
        volumes=list(opts.volumes),
        container_labels=labels,
        permission_profile_name_or_path=profile_name,
        permission_profile=None if remote else (profile or load_profile(profile_name)),
        registry_url=opts.registry_url,
        registry_api_url=opts.registry_api_url,
        registry_server_name=opts.registry_server_name,
        group=opts.group,
        isolate_network=opts.isolate_network,
        runtime="" if remote else (opts.runtime or ""),
        endpoint_prefix=opts.endpoint_prefix,
        trust_proxy_headers=opts.trust_proxy_headers,
        stateless=opts.stateless,
        session_ttl=_session_ttl(opts.session_ttl),
        strict_protocol_validation=opts.strict_protocol_validation,
        allowed_origins=split_origins(opts.allowed_origins),
        secrets=secrets,
        runtime_config=_build_settings(opts, target),
        header_forward=_header_forward(opts, remote),
        remote_auth_config=opts.remote_auth_config if remote else None,
    )


def _header_forward(opts: RunOptions, remote: bool) -> HeaderForwardConfig | None:
    """``--remote-forward-headers[-secret]`` as RunConfig.header_forward (remote servers only)."""
    if not (opts.remote_forward_headers or opts.remote_forward_headers_secret):
        return None
    if not remote:
        msg = "--remote-forward-headers and --remote-forward-headers-secret apply to remote URLs"
        raise InvalidInputError(msg)
    plain = parse_header_flags(opts.remote_forward_headers, "--remote-forward-headers")
    secret = parse_header_flags(
        opts.remote_forward_headers_secret, "--remote-forward-headers-secret"
    )
    for header, name in secret.items():
        if not name.strip():
            msg = f"--remote-forward-headers-secret {header}: the secret name is empty"
            raise InvalidInputError(msg)
    both = {h.lower() for h in plain} & {h.lower() for h in secret}
    if both:
        msg = f"header {sorted(both)[0]!r} is given both as a value and as a secret"
        raise InvalidInputError(msg)
    return HeaderForwardConfig(add_plaintext_headers=plain, add_headers_from_secret=secret)


def _build_settings(opts: RunOptions, target: str) -> dict[str, Any] | None:
    """``--ca-cert``/``--runtime-image``/``--runtime-add-package`` as RunConfig.runtime_config."""
    given = opts.ca_cert or opts.runtime_image or opts.runtime_add_packages
    if not given:
        return None
    if not is_package_scheme(target):
        msg = "--ca-cert, --runtime-image and --runtime-add-package apply to uvx://, npx://, go://"
        raise InvalidInputError(msg)
    out: dict[str, Any] = {}
    if opts.ca_cert:
        from toolhive.builds.settings import read_ca_cert

        read_ca_cert(opts.ca_cert)  # a bad file fails now, not in the middle of a build
        out["ca_cert_path"] = str(Path(opts.ca_cert).expanduser().resolve())
    if opts.runtime_image:
        out["runtime_image"] = opts.runtime_image
    if opts.runtime_add_packages:
        out["additional_packages"] = list(opts.runtime_add_packages)
    return out
