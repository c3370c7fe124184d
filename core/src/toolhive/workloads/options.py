"""From what a user typed (``thv run`` flags, a REST body) to a :class:`RunConfig`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from toolhive.errors import InvalidInputError
from toolhive.models.permissions import load_profile
from toolhive.models.runconfig import RunConfig, validate_workload_name
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
    isolate_network: bool = True


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
    profile_name = opts.permission_profile or "network"
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
        permission_profile=None if remote else load_profile(profile_name),
        group=opts.group,
        isolate_network=opts.isolate_network,
        runtime="" if remote else (opts.runtime or ""),
    )
