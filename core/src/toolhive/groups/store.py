"""Groups as ToolHive stores them: ``$XDG_STATE_HOME/toolhive/groups/<name>.json``.

A group file is ``{name, registered_clients, skills, plugins}``. Workload membership lives in the
workload's RunConfig (``group``). The ``default`` group always exists: it is created on first use
and, like ToolHive's migration, inherits the clients registered globally in config.yaml.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from toolhive.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from toolhive.state import paths
from toolhive.state.atomic import locked, write_atomic

DEFAULT_GROUP = "default"
NAME_MAX = 100
#: ToolHive's rule: lowercase letters, digits, '_', '-' and single inner spaces.
NAME_PATTERN = r"^[a-z0-9_-]+( [a-z0-9_-]+)*$"
_NAME_RE = re.compile(NAME_PATTERN)


class Group(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    registered_clients: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    plugins: list[str] = Field(default_factory=list)


def validate_group_name(name: str) -> str:
    if not name or len(name) > NAME_MAX or not _NAME_RE.match(name):
        msg = (
            f"invalid group name {name!r}: use 1-{NAME_MAX} lowercase letters, digits, '_' or "
            "'-' (single spaces between words are allowed)"
        )
        raise InvalidInputError(msg)
    return name


def groups_dir() -> Path:
    return paths.state_dir() / "groups"


def _path(name: str) -> Path:
    return groups_dir() / f"{name}.json"


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One lock for all group files: create/rm/registrations are rare and small."""
    with locked(groups_dir() / ".groups"):
        yield


def _read(path: Path) -> Group:
    try:
        return Group.model_validate(json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        msg = f"group file {path} is damaged ({exc}); fix or delete it"
        raise InvalidInputError(msg) from None


def _write(group: Group) -> None:
    write_atomic(_path(group.name), group.model_dump_json(indent=2) + "\n")


def _legacy_registered_clients() -> list[str]:
    if not paths.config_file().exists():
        return []
    from toolhive.appconfig import load_config

    return list(load_config().clients.registered_clients)


def ensure_default() -> None:
    if _path(DEFAULT_GROUP).exists():
        return
    with _locked():
        if not _path(DEFAULT_GROUP).exists():
            clients = _legacy_registered_clients()
            _write(Group(name=DEFAULT_GROUP, registered_clients=clients))


def list_groups() -> list[Group]:
    """Every group, sorted by name."""
    ensure_default()
    return sorted((_read(p) for p in groups_dir().glob("*.json")), key=lambda g: g.name)


def exists(name: str) -> bool:
    if name == DEFAULT_GROUP:
        return True
    return _path(name).exists() if _NAME_RE.match(name or "") else False


def get_group(name: str) -> Group:
    ensure_default()
    if not exists(name):
        msg = f"group {name!r} does not exist (see `thv group list`; create it with `thv group create {name}`)"
        raise NotFoundError(msg)
    return _read(_path(name))


def require_group(name: str) -> None:
    """For ``thv run --group``: the group must exist."""
    get_group(name)


def create_group(name: str) -> Group:
    validate_group_name(name)
    ensure_default()
    with _locked():
        if _path(name).exists():
            msg = f"group {name!r} already exists"
            raise AlreadyExistsError(msg)
        group = Group(name=name)
        _write(group)
    return group


def delete_group(name: str) -> None:
    if name == DEFAULT_GROUP:
        msg = "the default group cannot be removed"
        raise InvalidInputError(msg)
    get_group(name)
    with _locked():
        _path(name).unlink(missing_ok=True)


def update_group(name: str, change: Callable[[Group], None]) -> Group:
    get_group(name)
    with _locked():
        group = _read(_path(name))
        change(group)
        _write(group)
    return group


def register_clients(groups: Iterable[str], clients: Iterable[str]) -> None:
    names = list(clients)
    for group in groups:

        def add(g: Group) -> None:
            for client in names:
                if client not in g.registered_clients:
                    g.registered_clients.append(client)

        update_group(group, add)


def unregister_clients(groups: Iterable[str], clients: Iterable[str]) -> None:
    names = set(clients)
    for group in groups:

        def drop(g: Group) -> None:
            g.registered_clients = [c for c in g.registered_clients if c not in names]

        update_group(group, drop)


def clients_of(group: str) -> list[str]:
    """Clients registered for ``group`` (none if the group does not exist any more)."""
    ensure_default()
    path = _path(group)
    return list(_read(path).registered_clients) if path.exists() else []
