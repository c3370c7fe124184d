"""``thv run <registry name>``: resolve a target through the registry and apply its entry.

Rule (ToolHive's "registry name, else image"): a target that is not a scheme (``uvx://`` …), a URL
or a path, has no ``:`` (tag, port) or ``@`` (digest) and at most one ``/`` — ``fetch``,
``io.github.stacklok/fetch`` — is looked up in the registry first (full name, else unique short
name). When no entry matches it is run as an image or command, as before.

The entry's transport, target port, args, permission profile and env defaults apply unless flags
override them. Required env vars that are neither given nor defaulted are prompted for on a TTY
(secret ones hidden); otherwise they are reported all at once in one error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from toolhive.errors import InvalidInputError
from toolhive.registry.models import ImageMetadata, ServerEntry

if TYPE_CHECKING:
    from toolhive.plugins import Hooks
    from toolhive.registry.sources import RegistrySource
    from toolhive.workloads.options import RunOptions

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


def _tty_prompt(label: str, secret: bool) -> str:
    import click

    return str(click.prompt(label, hide_input=secret, default="", show_default=False, err=True))


def _given_env(opts: RunOptions) -> set[str]:
    from toolhive.workloads.options import parse_key_values, read_env_file

    names: set[str] = set()
    for path in opts.env_files:
        names |= set(read_env_file(path))
    names |= set(parse_key_values(opts.env, "environment variable"))
    return names


#: Stores a prompted secret value and returns the secret's name (never the value).
StoreSecret = Callable[[str, str], str]


def env_for_entry(
    entry: ServerEntry,
    opts: RunOptions,
    *,
    interactive: bool,
    prompt: Prompt | None = None,
    store_secret: StoreSecret | None = None,
) -> tuple[list[str], list[str]]:
    """``KEY=VALUE`` items and ``NAME,target=KEY`` secret references to add: defaults, then
    prompted values (secret ones go to the secrets provider, only referenced here); missing
    ones → one error."""
    given = _given_env(opts) | {ref.partition("target=")[2] for ref in opts.secrets}
    added: list[str] = []
    secrets: list[str] = []
    missing = []
    for var in entry.env_vars:
        if var.name in given:
            continue
        if var.default:
            added.append(f"{var.name}={var.default}")
        elif var.required:
            missing.append(var)
    if missing and interactive:
        ask = prompt or _tty_prompt
        for var in missing:
            label = f"{var.name}" + (f" ({var.description})" if var.description else "")
            value = ask(label, var.secret)
            if not value:
                msg = f"{var.name} is required by {entry.name}"
                raise InvalidInputError(msg)
            if var.secret:
                if store_secret is None:
                    msg = f"{var.name} is a secret: set up a secrets provider (thv secret setup)"
                    raise InvalidInputError(msg)
                secrets.append(f"{store_secret(var.name, value)},target={var.name}")
            else:
                added.append(f"{var.name}={value}")
    elif missing:
        names = ", ".join(v.name + (" (secret)" if v.secret else "") for v in missing)
        msg = (
            f"{entry.name} needs environment variables {names}: pass each with "
            "-e NAME=VALUE, --env-file or --secret NAME,target=VAR"
        )
        raise InvalidInputError(msg)
    return added, secrets


def apply_entry(
    opts: RunOptions,
    entry: ServerEntry,
    source: RegistrySource,
    *,
    interactive: bool | None = None,
    prompt: Prompt | None = None,
    store_secret: StoreSecret | None = None,
) -> RunOptions:
    """``opts`` with the entry's settings filled in where the user gave none."""
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    update: dict[str, Any] = {
        "name": opts.name or entry.short_name,
        "transport": opts.transport or entry.transport,
        "registry_server_name": entry.name,
    }
    if source.kind == "api":
        update["registry_api_url"] = source.location
    elif source.kind in {"url", "file"}:
        update["registry_url"] = source.location
    if isinstance(entry, ImageMetadata):
        update["target"] = entry.image
        update["args"] = list(opts.args) or list(entry.args)
        update["target_port"] = opts.target_port or entry.target_port or None
        if opts.permission_profile is None and entry.permissions is not None:
            update["registry_permissions"] = entry.permissions
        env, secrets = env_for_entry(
            entry, opts, interactive=interactive, prompt=prompt, store_secret=store_secret
        )
        update["env"] = [*opts.env, *env]
        update["secrets"] = [*opts.secrets, *secrets]
    else:
        update["target"] = entry.url
    return opts.model_copy(update=update)


def from_registry(hooks: Hooks, opts: RunOptions) -> RunOptions:
    """``opts`` resolved through the registry when its target names an entry (see module doc)."""
    target = opts.target.strip()
    if not is_registry_candidate(target):
        return opts
    found = find_entry(hooks, target)
    if found is None:
        return opts
    entry, source = found

    def store_secret(var: str, value: str) -> str:
        from toolhive.secrets.selection import open_secrets

        name = f"{entry.short_name}-{var}".lower()
        open_secrets(hooks).set(name, value)
        return name

    return apply_entry(opts, entry, source, store_secret=store_secret)
