"""The upstream MCP registry format (``data.servers[]`` of ``server.json`` objects with ToolHive's
``_meta`` extensions) and the conversions to and from the legacy shape.

Package types map as ToolHive does: ``oci``/``docker`` → image, ``npm`` → ``npx://pkg@ver``,
``pypi`` → ``uvx://pkg@ver``; ``remotes[]`` become remote servers (headers, OAuth hints).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from toolhive.errors import format_validation_error
from toolhive.registry.errors import RegistryError
from toolhive.registry.models import (
    EnvVar,
    Header,
    ImageMetadata,
    Registry,
    RemoteServerMetadata,
    ServerEntry,
)
from toolhive.userpaths import expand_user

REGISTRY_SCHEMA = (
    "https://raw.githubusercontent.com/stacklok/toolhive-core/main/registry/types/data/"
    "upstream-registry.schema.json"
)
SERVER_SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
PUBLISHER_KEY = "io.modelcontextprotocol.registry/publisher-provided"
NAMESPACE = "io.github.stacklok"
IMAGE_TYPES = {"oci", "docker"}
SCHEME_TYPES = {"npm": "npx://", "pypi": "uvx://"}
#: Extension fields kept under ``_meta`` (everything the legacy shape has that server.json lacks).
EXTENSION_FIELDS = (
    "status",
    "tier",
    "tools",
    "tags",
    "permissions",
    "provenance",
    "metadata",
    "docker_tags",
    "proxy_port",
    "args",
    "overview",
    "tool_definitions",
    "custom_metadata",
    "oauth_config",
    "stateless",
)


def is_upstream(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("data"), dict)
        and isinstance(doc["data"].get("servers"), list)
    )


def is_legacy(doc: Any) -> bool:
    return isinstance(doc, dict) and (
        isinstance(doc.get("servers"), dict) or isinstance(doc.get("remote_servers"), dict)
    )


def parse_document(doc: Any, source: str, path: Any = None) -> Registry:
    """A registry document in the upstream format; a legacy one is refused with the fix."""
    if is_legacy(doc) and not is_upstream(doc):
        where = f"--in {path} --in-place" if path else "--in FILE --out NEW_FILE"
        msg = (
            f"{source} is in the legacy ToolHive registry format; migrate it with "
            f"`thv registry convert {where}`"
        )
        raise RegistryError(msg)
    if not is_upstream(doc):
        msg = f"{source} is not an MCP registry document (expected data.servers[] of server.json)"
        raise RegistryError(msg)
    return upstream_to_registry(doc, source)


def parse_legacy(doc: Any, source: str) -> Registry:
    if not is_legacy(doc):
        msg = f"{source} is not a legacy ToolHive registry (expected a servers object)"
        raise RegistryError(msg)
    try:
        return Registry.model_validate(doc)
    except ValidationError as exc:
        raise RegistryError(_describe(exc, source)) from None


def _describe(exc: ValidationError, source: str) -> str:
    return f"{source}: {format_validation_error(exc)}"


# --- upstream → legacy ------------------------------------------------------------------------


def _extension(server: dict[str, Any], key: str) -> dict[str, Any]:
    """ToolHive's ``_meta`` block for ``key`` (an image reference or remote URL), else the first."""
    meta = server.get("_meta") or {}
    blocks = (meta.get(PUBLISHER_KEY) or {}).get(NAMESPACE) or {}
    if not isinstance(blocks, dict) or not blocks:
        return {}
    block = blocks.get(key)
    if block is None:
        block = next(iter(blocks.values()))
    return block if isinstance(block, dict) else {}


def _inputs(items: list[dict[str, Any]] | None, model: type[EnvVar]) -> list[Any]:
    out = []
    for item in items or []:
        fields = {
            "name": item.get("name", ""),
            "description": item.get("description", ""),
            "required": bool(item.get("isRequired", False)),
            "secret": bool(item.get("isSecret", False)),
            # A fixed ``value`` (not a ``{variable}`` template) counts as the default.
            "default": item.get("default") or _fixed_value(item.get("value")),
        }
        if model is Header:
            fields["choices"] = list(item.get("choices") or [])
        out.append(model(**fields))
    return out


def _fixed_value(value: Any) -> str:
    return value if isinstance(value, str) and "{" not in value else ""


def _package_args(package: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for arg in package.get("packageArguments") or []:
        value = arg.get("value") or arg.get("default")
        if arg.get("type") == "named":
            args.append(arg.get("name", ""))
            if value:
                args.append(value)
        elif value:
            args.append(value)
    return args


def _port(url: str) -> int:
    try:
        return urlsplit(url).port or 0
    except ValueError:
        return 0


def _common(server: dict[str, Any], ext: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": server["name"],
        "title": server.get("title", ""),
        "description": server.get("description", ""),
        "repository_url": (server.get("repository") or {}).get("url", ""),
    }
    for key in EXTENSION_FIELDS:
        if key in ext and ext[key] is not None:
            fields[key] = ext[key]
    if "status" in fields:
        fields["status"] = str(fields["status"])
    return fields


def server_to_entry(server: dict[str, Any]) -> ServerEntry:
    """One ``server.json`` object as an image (packages) or remote (remotes) entry."""
    if not isinstance(server, dict) or not server.get("name"):
        msg = "a server has no name"
        raise ValueError(msg)
    packages = [
        p
        for p in server.get("packages") or []
        if p.get("registryType") in IMAGE_TYPES | set(SCHEME_TYPES)
    ]
    if packages:
        package = packages[0]
        kind = package["registryType"]
        identifier = package["identifier"]
        if kind in IMAGE_TYPES:
            image = identifier
        else:
            version = package.get("version") or ""
            image = f"{SCHEME_TYPES[kind]}{identifier}" + (f"@{version}" if version else "")
        transport = package.get("transport") or {"type": "stdio"}
        ext = _extension(server, identifier)
        fields = _common(server, ext)
        fields.pop("oauth_config", None)
        args = fields.pop("args", None)
        fields["args"] = list(args) if args else _package_args(package)
        return ImageMetadata(
            **fields,
            image=image,
            transport=transport.get("type", "stdio"),
            target_port=_port(transport.get("url", "")),
            env_vars=_inputs(package.get("environmentVariables"), EnvVar),
        )
    remotes = server.get("remotes") or []
    if remotes:
        remote = remotes[0]
        ext = _extension(server, remote.get("url", ""))
        fields = _common(server, ext)
        for key in ("args", "permissions", "provenance", "docker_tags"):
            fields.pop(key, None)
        return RemoteServerMetadata(
            **fields,
            url=remote["url"],
            transport=remote.get("type", "streamable-http"),
            headers=_inputs(remote.get("headers"), Header),
        )
    msg = f"server {server['name']!r} has neither a supported package (oci, docker, npm, pypi) nor a remote"
    raise ValueError(msg)


def upstream_to_registry(doc: dict[str, Any], source: str = "registry") -> Registry:
    registry = Registry(
        version=str(doc.get("version") or "1.0.0"),
        last_updated=str((doc.get("meta") or {}).get("last_updated") or ""),
    )
    for index, server in enumerate(doc["data"]["servers"]):
        try:
            entry = server_to_entry(server)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            msg = f"{source}: data.servers[{index}]: {exc}"
            raise RegistryError(msg) from None
        except ValidationError as exc:
            raise RegistryError(_describe(exc, f"{source}: data.servers[{index}]")) from None
        if isinstance(entry, ImageMetadata):
            registry.servers[entry.name] = entry
        else:
            registry.remote_servers[entry.name] = entry
    return registry


# --- legacy → upstream ------------------------------------------------------------------------


def full_name(name: str) -> str:
    """Legacy keys are short (``fetch``); upstream names are reverse-DNS."""
    return name if "/" in name else f"{NAMESPACE}/{name}"


def _env_json(items: list[EnvVar]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        data: dict[str, Any] = {"name": item.name}
        if item.description:
            data["description"] = item.description
        if item.required:
            data["isRequired"] = True
        if item.secret:
            data["isSecret"] = True
        if item.default:
            data["default"] = item.default
        if isinstance(item, Header) and item.choices:
            data["choices"] = item.choices
        out.append(data)
    return out


def _package(image: ImageMetadata) -> dict[str, Any]:
    package: dict[str, Any]
    for kind, scheme in SCHEME_TYPES.items():
        if image.image.startswith(scheme):
            spec = image.image.removeprefix(scheme)
            name, sep, version = spec.rpartition("@")
            if not sep or not name:  # no version, or only a scope like @org/pkg
                name, version = spec, ""
            package = {"registryType": kind, "identifier": name}
            if version:
                package["version"] = version
            break
    else:
        package = {"registryType": "oci", "identifier": image.image}
    transport: dict[str, Any] = {"type": image.transport}
    if image.transport != "stdio":
        transport["url"] = f"http://localhost:{image.target_port or 8080}"
    package["transport"] = transport
    if image.env_vars:
        package["environmentVariables"] = _env_json(image.env_vars)
    return package


def entry_to_server(entry: ServerEntry) -> dict[str, Any]:
    """One legacy entry as a ``server.json`` object with ToolHive's ``_meta`` extension."""
    server: dict[str, Any] = {
        "$schema": SERVER_SCHEMA,
        "name": full_name(entry.name),
        "description": entry.description,
        "version": "1.0.0",
    }
    if entry.title:
        server["title"] = entry.title
    if entry.repository_url:
        server["repository"] = {"url": entry.repository_url, "source": "github"}
    data = entry.model_dump(mode="json", exclude_defaults=True)
    ext = {k: data[k] for k in EXTENSION_FIELDS if k in data}
    ext.setdefault("status", entry.status)
    if isinstance(entry, ImageMetadata):
        package = _package(entry)
        server["packages"] = [package]
        key = package["identifier"]
    else:
        remote: dict[str, Any] = {"type": entry.transport, "url": entry.url}
        if entry.headers:
            remote["headers"] = _env_json(list(entry.headers))
        server["remotes"] = [remote]
        key = entry.url
    server["_meta"] = {PUBLISHER_KEY: {NAMESPACE: {key: ext}}}
    return server


def registry_to_upstream(registry: Registry) -> dict[str, Any]:
    servers = [entry_to_server(e) for e in registry.entries()]
    doc: dict[str, Any] = {
        "$schema": REGISTRY_SCHEMA,
        "version": registry.version or "1.0.0",
        "meta": {"last_updated": registry.last_updated},
        "data": {"servers": servers},
    }
    if registry.groups:
        # Not part of server.json: kept so a conversion loses nothing ToolHive's groups carry.
        doc["data"]["groups"] = [
            {
                "name": g.name,
                "description": g.description,
                "servers": [full_name(n) for n in [*g.servers, *g.remote_servers]],
            }
            for g in registry.groups
        ]
    return doc


# --- files ------------------------------------------------------------------------------------


def load_json(text: str, source: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        raise RegistryError(msg) from None


def read_json_file(path: Any) -> Any:

    path = expand_user(path, "registry file")
    try:
        text = path.read_text()
    except FileNotFoundError:
        msg = f"registry file {path} does not exist"
        raise RegistryError(msg) from None
    except OSError as exc:
        msg = f"cannot read registry file {path}: {exc.strerror}"
        raise RegistryError(msg) from None
    return load_json(text, f"registry file {path}")


def read_registry_file(path: Any) -> Registry:
    """A registry file in the upstream format, with errors that name the file."""
    return parse_document(read_json_file(path), f"registry file {path}", path)
