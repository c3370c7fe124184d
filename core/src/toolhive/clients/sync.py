"""Keeping client configs in step with workloads, per group (ToolHive's client manager).

* A workload that becomes ``running`` is upserted into every client registered for its group —
  remote workloads too (ToolHive once skipped them: stacklok/toolhive#1808).
* A workload that stops or is removed is deleted from those clients (ToolHive removes the entry on
  stop as well: a stopped proxy's URL would only produce connection errors in the client).
* A workload moved to another group leaves the old group's clients and, when it is serving, joins
  the new group's.
* Registering a client adds the running workloads of its groups at once (#109); removing it
  deletes them, so a remove/re-add cycle ends in the same state (#1953).
* A group served by its own vMCP gateway (``thv run vmcp://GROUP``, a member of GROUP) shows its
  clients the gateway's one URL instead of one entry per server; when the gateway stops, the
  servers' own entries come back.

The workload side is followed through its events (:func:`subscribe` puts :func:`on_workload_event`
on a :class:`~toolhive.workloads.events.WorkloadEvents` bus), so ``workloads`` never imports this
module. :func:`workload_running` and :func:`workload_stopped` never raise: a broken client file
must not stop a workload from starting or stopping; the problem is logged instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from toolhive.contracts.clients import ClientIntegration, ClientTransport, ServerEntry
from toolhive.errors import InvalidInputError, ToolHiveError
from toolhive.groups import store as groups
from toolhive.workloads.events import EventType

if TYPE_CHECKING:
    from toolhive.models.runconfig import RunConfig
    from toolhive.models.workload import Workload
    from toolhive.plugins import Hooks
    from toolhive.workloads.events import WorkloadEvent, WorkloadEvents

log = logging.getLogger("toolhive.clients")

#: Workload statuses whose proxy answers, so clients should list them.
SERVING = {"running", "unhealthy"}
#: The image of a vMCP gateway workload: ``vmcp://GROUP``.
GATEWAY_SCHEME = "vmcp://"


def entry_for_config(config: RunConfig) -> ServerEntry:
    from toolhive.workloads.urls import client_url

    return ServerEntry(
        config.name, client_url(config), _transport(config.transport, config.effective_proxy_mode)
    )


def entry_for_workload(workload: Workload) -> ServerEntry:
    return ServerEntry(
        workload.name, workload.url, _transport(workload.transport_type, workload.proxy_mode)
    )


def _transport(transport: str, proxy_mode: str) -> ClientTransport:
    if transport == "stdio":
        # The proxy speaks the proxy mode; the table's stdio column is for streamable HTTP.
        return "sse" if proxy_mode == "sse" else "stdio"
    return "sse" if transport == "sse" else "streamable-http"


def load_client(hooks: Hooks, name: str) -> ClientIntegration:
    specs = hooks.client_integrations()
    if name not in specs:
        valid = ", ".join(sorted(specs))
        msg = f"unknown client {name!r}; valid clients: {valid}"
        raise InvalidInputError(msg)
    return hooks.load("client_integrations", name)


def _each_client(hooks: Hooks, group: str) -> Iterable[ClientIntegration]:
    for name in groups.clients_of(group):
        try:
            yield load_client(hooks, name)
        except ToolHiveError as exc:
            log.warning("skipping client %s: %s", name, exc)


def serves_own_group(group: str, package: str) -> bool:
    """A vMCP gateway workload that aggregates the group it is a member of: clients registered
    for that group list only it (one URL) instead of every server of the group."""
    return package == f"{GATEWAY_SCHEME}{group}"


def _gateway_of(hooks: Hooks, group: str, other_than: str) -> Workload | None:
    for workload in _workloads(hooks, [group]):
        if (
            workload.name != other_than
            and workload.status in SERVING
            and serves_own_group(group, workload.package)
        ):
            return workload
    return None


def workload_running(hooks: Hooks, config: RunConfig) -> None:
    """Upsert the workload into every client registered for its group (a group served by its
    own vMCP gateway: only the gateway, whose arrival removes the servers' own entries)."""
    group = config.group or groups.DEFAULT_GROUP
    try:
        gateway = serves_own_group(group, config.image)
        if not gateway and _gateway_of(hooks, group, config.name) is not None:
            return  # the group's clients reach this server through the gateway
        hidden = (
            [w.name for w in _workloads(hooks, [group]) if w.name != config.name] if gateway else []
        )
        server = entry_for_config(config)
        for client in _each_client(hooks, group):
            try:
                client.upsert(server)
                for name in hidden:
                    client.remove(name)
            except Exception as exc:
                log.warning("could not add %s to %s: %s", config.name, client.name, exc)
    except Exception as exc:  # never break the workload over a client file
        log.warning("could not update client configs for %s: %s", config.name, exc)


def workload_stopped(hooks: Hooks, config: RunConfig) -> None:
    """Delete the workload from every client registered for its group (a group's gateway gives
    its clients back the servers' own entries)."""
    group = config.group or groups.DEFAULT_GROUP
    try:
        restored: list[Workload] = []
        if serves_own_group(group, config.image):
            restored = [
                w
                for w in _workloads(hooks, [group])
                if w.name != config.name and w.status in SERVING
            ]
        for client in _each_client(hooks, group):
            try:
                client.remove(config.name)
                for workload in restored:
                    client.upsert(entry_for_workload(workload))
            except Exception as exc:
                log.warning("could not remove %s from %s: %s", config.name, client.name, exc)
    except Exception as exc:
        log.warning("could not update client configs for %s: %s", config.name, exc)


def on_workload_event(hooks: Hooks, event: WorkloadEvent) -> None:
    """Keep the clients of the workload's group in step with what happened to it."""
    if event.type == EventType.RUNNING:
        workload_running(hooks, event.config)
    elif event.type in {EventType.STOPPED, EventType.REMOVED}:
        workload_stopped(hooks, event.config)
    elif event.type == EventType.UPDATED and event.previous is not None:
        # A move to another group: the old group's clients lose it, the new group's gain it.
        workload_stopped(hooks, event.previous)
        if event.status in SERVING:
            workload_running(hooks, event.config)


def subscribe(events: WorkloadEvents, hooks: Hooks) -> None:
    """Follow the workloads that publish on ``events``."""
    events.subscribe(lambda event: on_workload_event(hooks, event))


# --- registration (``thv client …``) ---------------------------------------------------------


def _workloads(hooks: Hooks, group_names: Iterable[str] | None) -> list[Workload]:
    from toolhive.workloads.service import Workloads

    wanted = set(group_names) if group_names is not None else None
    return [
        w for w in Workloads(hooks).list(include_all=True) if wanted is None or w.group in wanted
    ]


def register(hooks: Hooks, client_names: list[str], group_names: list[str]) -> list[str]:
    """Register clients with groups and add those groups' serving workloads to them.

    Returns the names of the workloads added. Unknown clients/groups and unreadable client
    files are errors before anything changes.
    """
    clients = [load_client(hooks, name) for name in client_names]
    for group in group_names:
        groups.get_group(group)
    for client in clients:
        client.entries()  # fails on a file we could not edit, before registering
    groups.register_clients(group_names, client_names)
    added = [w for w in _workloads(hooks, group_names) if w.status in SERVING]
    gateways = {w.group for w in added if serves_own_group(w.group, w.package)}
    added = [w for w in added if w.group not in gateways or serves_own_group(w.group, w.package)]
    for client in clients:
        for workload in added:
            client.upsert(entry_for_workload(workload))
    return [w.name for w in added]


def unregister(hooks: Hooks, client_name: str, group_names: list[str] | None) -> list[str]:
    """Remove a client from groups (all of them and config.yaml when ``None``) and delete the
    entries of those groups' workloads from its file. Returns the names removed from the file."""
    client = load_client(hooks, client_name)
    if group_names is not None:
        for group in group_names:
            groups.get_group(group)
        targets = group_names
    else:
        targets = [g.name for g in groups.list_groups()]
    removed = [w.name for w in _workloads(hooks, targets) if client.remove(w.name)]
    groups.unregister_clients(targets, [client_name])
    if group_names is None:
        _drop_from_app_config(client_name)
    return removed


def _drop_from_app_config(client_name: str) -> None:
    from toolhive.appconfig import load_config, update_config
    from toolhive.state import paths

    if not paths.config_file().exists():
        return
    if client_name not in load_config().clients.registered_clients:
        return

    def drop(cfg: object) -> None:
        registered = cfg.clients.registered_clients  # type: ignore[attr-defined]
        registered[:] = [c for c in registered if c != client_name]

    update_config(drop)


def registered() -> dict[str, list[str]]:
    """Client → the groups it is registered with (config.yaml-only clients: no groups)."""
    out: dict[str, list[str]] = {}
    for group in groups.list_groups():
        for client in group.registered_clients:
            out.setdefault(client, []).append(group.name)
    from toolhive.state import paths

    if paths.config_file().exists():
        from toolhive.appconfig import load_config

        for client in load_config().clients.registered_clients:
            out.setdefault(client, [])
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class ClientStatus:
    name: str
    description: str
    installed: bool
    registered: bool
    config_path: str
    groups: list[str] = field(default_factory=list)


def status(hooks: Hooks) -> list[ClientStatus]:
    reg = registered()
    out: list[ClientStatus] = []
    for name in sorted(hooks.client_integrations()):
        client = load_client(hooks, name)
        out.append(
            ClientStatus(
                name=name,
                description=client.description,
                installed=client.installed(),
                registered=name in reg,
                config_path=str(client.config_path()),
                groups=reg.get(name, []),
            )
        )
    return out
