"""``thv run <registry name>``: resolve a target through the registry and apply its entry.

Rule (ToolHive's "registry name, else image"): a target that is not a scheme (``uvx://`` …), a URL
or a path, has no ``:`` (tag, port) or ``@`` (digest) and at most one ``/`` — ``fetch``,
``io.github.stacklok/fetch`` — is looked up in the registry first (full name, else unique short
name). When no entry matches it is run as an image or command, as before.

The entry's transport, target port, args, permission profile and env defaults apply unless the
request sets them. Required env vars that are neither given nor defaulted are asked for when the
front end passes a ``prompt`` (the CLI does on a TTY; secret ones hidden); otherwise they are
reported all at once in one error. A remote entry's headers are handled the same way
(``--remote-forward-headers[-secret]`` give them), and its OAuth hints are recorded as
``remote_auth_config``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolhive.errors import InvalidInputError
from toolhive.models.remote import DEFAULT_CALLBACK_PORT, HeaderForwardConfig
from toolhive.registry.models import Header, ImageMetadata, RemoteServerMetadata, ServerEntry
from toolhive.secrets.names import SecretReference
from toolhive.workloads.request import RegistryOrigin, RunRequest

if TYPE_CHECKING:
    from toolhive.contracts.registry import RegistrySource
    from toolhive.plugins import Hooks

Prompt = Callable[[str, bool], str]


def is_registry_candidate(target: str) -> bool:
    if "://" in target or target.startswith((".", "/", "~")):
        return False
    if ":" in target or "@" in target or not target.strip():
        return False
    return target.count("/") <= 1


def find_entry(hooks: Hooks, target: str) -> tuple[ServerEntry, RegistrySource] | None:
    """The registry entry ``target`` names, or ``None`` (also when no source is installed)."""
    from toolhive.appconfig import load_config
    from toolhive.registry.sources import CONFIG_KEYS, choose_spec, open_registry, resolve

    config = load_config()
    if choose_spec(hooks, config) is None and not any(
        getattr(config, k) for k in CONFIG_KEYS.values()
    ):
        return None  # a core-only install still runs images and commands
    source = open_registry(hooks)
    entry = resolve(source, target)
    return (entry, source) if entry is not None else None


def _given_env(request: RunRequest) -> set[str]:
    from toolhive.workloads.runconfig_builder import read_env_file

    names: set[str] = set(request.env_vars)
    for path in request.env_files:
        names |= set(read_env_file(path))
    return names


#: Stores a prompted secret value and returns the secret's name (never the value).
StoreSecret = Callable[[str, str], str]


def env_for_entry(
    entry: ServerEntry,
    request: RunRequest,
    *,
    prompt: Prompt | None = None,
    store_secret: StoreSecret | None = None,
) -> tuple[dict[str, str], list[SecretReference]]:
    """Env vars and secret references to add: defaults, then prompted values when ``prompt`` is
    given (secret ones go to the secrets provider, only referenced here); missing ones → one
    error."""
    given = _given_env(request) | {ref.target for ref in request.secrets}
    added: dict[str, str] = {}
    secrets: list[SecretReference] = []
    missing = []
    for var in entry.env_vars:
        if var.name in given:
            continue
        if var.default:
            added[var.name] = var.default
        elif var.required:
            missing.append(var)
    if missing and prompt is not None:
        for var in missing:
            label = f"{var.name}" + (f" ({var.description})" if var.description else "")
            value = prompt(label, var.secret)
            if not value:
                msg = f"{var.name} is required by {entry.name}"
                raise InvalidInputError(msg)
            if var.secret:
                if store_secret is None:
                    msg = f"{var.name} is a secret: set up a secrets provider (thv secret setup)"
                    raise InvalidInputError(msg)
                secrets.append(SecretReference(store_secret(var.name, value), var.name))
            else:
                added[var.name] = value
    elif missing:
        names = ", ".join(v.name + (" (secret)" if v.secret else "") for v in missing)
        msg = (
            f"{entry.name} needs environment variables {names}: pass each with "
            "-e NAME=VALUE, --env-file or --secret NAME,target=VAR"
        )
        raise InvalidInputError(msg)
    return added, secrets


def apply_entry(
    request: RunRequest,
    entry: ServerEntry,
    source: RegistrySource,
    *,
    prompt: Prompt | None = None,
    store_secret: StoreSecret | None = None,
) -> tuple[RunRequest, RegistryOrigin]:
    """``request`` with the entry's settings filled in where it had none, and what the entry
    adds besides (provenance, permission profile, OAuth hints)."""
    update: dict[str, Any] = {
        "name": request.name or entry.short_name,
        "transport": request.transport or entry.transport,
    }
    origin: dict[str, Any] = {"registry_server_name": entry.name}
    if source.kind == "api":
        origin["registry_api_url"] = source.location
    elif source.kind in {"url", "file"}:
        origin["registry_url"] = source.location
    if isinstance(entry, ImageMetadata):
        origin["tools"] = list(entry.tools)
        update["image"] = entry.image
        update["cmd_arguments"] = list(request.cmd_arguments) or list(entry.args)
        update["target_port"] = request.target_port or entry.target_port or 0
        if not request.permission_profile and entry.permissions is not None:
            origin["permissions"] = entry.permissions
        env, secrets = env_for_entry(entry, request, prompt=prompt, store_secret=store_secret)
        update["env_vars"] = {**env, **request.env_vars}
        update["secrets"] = [*request.secrets, *secrets]
    else:
        update["image"] = ""
        update["url"] = entry.url
        update["header_forward"] = headers_for_entry(
            entry, request, prompt=prompt, store_secret=store_secret
        )
        origin["remote_auth_config"] = remote_auth_for_entry(entry)
    return request.model_copy(update=update), RegistryOrigin(**origin)


def _header_label(header: Header) -> str:
    label = header.name + (f" ({header.description})" if header.description else "")
    return label + (f" [{'/'.join(header.choices)}]" if header.choices else "")


def _check_choice(entry: RemoteServerMetadata, header: Header, value: str) -> None:
    if header.choices and value not in header.choices:
        msg = f"header {header.name} of {entry.name} must be one of {', '.join(header.choices)}"
        raise InvalidInputError(msg)


def headers_for_entry(
    entry: RemoteServerMetadata,
    request: RunRequest,
    *,
    prompt: Prompt | None = None,
    store_secret: StoreSecret | None = None,
) -> HeaderForwardConfig | None:
    """The headers to forward to a remote entry: the request's, then defaults, then prompted
    values (as env vars are). A header the entry marks secret never stays in clear: a prompted
    value, or one given in clear, goes to the secrets provider and is referenced by name."""
    forward = request.header_forward or HeaderForwardConfig()
    plain = {k.lower(): (k, v) for k, v in forward.add_plaintext_headers.items()}
    secret = {k.lower(): (k, v) for k, v in forward.add_headers_from_secret.items()}

    def keep_secret(header: Header, value: str) -> None:
        if store_secret is None:
            msg = (
                f"header {header.name} is a secret: set up a secrets provider (thv secret setup) "
                f"or pass --remote-forward-headers-secret {header.name}=SECRET_NAME"
            )
            raise InvalidInputError(msg)
        secret[header.name.lower()] = (header.name, store_secret(header.name, value))

    missing: list[Header] = []
    for header in entry.headers:
        key = header.name.lower()
        if key in secret:
            continue
        if key in plain:
            _check_choice(entry, header, plain[key][1])
            if header.secret:
                keep_secret(header, plain.pop(key)[1])
        elif header.default:
            plain[key] = (header.name, header.default)
        elif header.required:
            missing.append(header)
    if missing and prompt is not None:
        for header in missing:
            value = prompt(_header_label(header), header.secret)
            if not value:
                msg = f"header {header.name} is required by {entry.name}"
                raise InvalidInputError(msg)
            _check_choice(entry, header, value)
            if header.secret:
                keep_secret(header, value)
            else:
                plain[header.name.lower()] = (header.name, value)
    elif missing:
        names = ", ".join(h.name + (" (secret)" if h.secret else "") for h in missing)
        msg = (
            f"{entry.name} needs headers {names}: pass each with --remote-forward-headers "
            "NAME=VALUE or --remote-forward-headers-secret NAME=SECRET_NAME"
        )
        raise InvalidInputError(msg)
    if not plain and not secret:
        return None
    return HeaderForwardConfig(
        add_plaintext_headers=dict(plain.values()), add_headers_from_secret=dict(secret.values())
    )


def remote_auth_for_entry(entry: RemoteServerMetadata) -> dict[str, Any] | None:
    """ToolHive's ``remote_auth_config`` for a remote entry: its OAuth hints (for a later OAuth
    flow; none is run here) and its header/env definitions."""
    auth: dict[str, Any] = {}
    oauth = entry.oauth_config
    if oauth is not None:
        auth = oauth.model_dump(mode="json", exclude_defaults=True)
        auth["use_pkce"] = oauth.use_pkce
        auth["callback_port"] = oauth.callback_port or DEFAULT_CALLBACK_PORT
    if entry.headers:
        auth["headers"] = [h.to_json() for h in entry.headers]
    if entry.env_vars:
        auth["env_vars"] = [v.to_json() for v in entry.env_vars]
    return auth or None


def from_registry(
    hooks: Hooks, request: RunRequest, *, prompt: Prompt | None = None
) -> tuple[RunRequest, RegistryOrigin | None]:
    """``request`` resolved through the registry when its image names an entry (see module doc);
    the origin is ``None`` when it does not."""
    target = request.image.strip()
    if request.url or not is_registry_candidate(target):
        return request, None
    found = find_entry(hooks, target)
    if found is None:
        return request, None
    entry, source = found

    def store_secret(var: str, value: str) -> str:
        from toolhive.secrets.selection import open_secrets

        name = f"{entry.short_name}-{var}".lower()
        open_secrets(hooks).set(name, value)
        return name

    return apply_entry(request, entry, source, prompt=prompt, store_secret=store_secret)
