"""ToolHive's Cedar model over ``cedarpy``: who (principal), what (action), on what (resource).

- Principal ``Client::"<sub>"``: the ``sub`` claim (else the identity's subject). Its attributes
  are every claim as ``claim_<name>``; its parents are the groups, ``<group_entity_type>::"<g>"``
  (default ``THVGroup``), from ``group_claim_name`` (else the first of ``groups``, ``roles``,
  ``cognito:groups`` present; a dotted name also walks nested claims) plus ``role_claim_name``.
  ``multi_valued_claims`` turns those claims into a space-joined ``claim_<name>`` string and adds
  a ``claimset_<name>`` set.
- Actions ``Action::"call_tool"`` / ``"get_prompt"`` / ``"read_resource"`` (attribute
  ``operation``).
- Resources ``Tool::"<name>"`` (tool annotations ``readOnlyHint`` … when known, then the
  arguments as ``arg_<name>``, then ``name``/``operation``/``feature``), ``Prompt::"<name>"`` and
  ``Resource::"<uri>"`` (also ``uri``); parent ``MCP::"<workload>"``.
- Context: the ``claim_*`` attributes merged with the ``arg_*`` ones. Scalar arguments keep their
  value; any other (object, array, null) only shows as ``arg_<name>_present: true``.

A request entity replaces an ``entities_json`` entity with the same uid (ToolHive merges them
that way). A decision is Allow only when a permit matches, no forbid does and no policy failed to
evaluate (ToolHive treats any evaluation error as a denial).

Cost: one Cedar call is ~40-250 us, too much for every request, so decisions are cached (bounded)
under a key holding everything the decision reads — principal (uid, attributes, parents), action,
resource id, resource attributes and context. Policies and ``entities_json`` are fixed for the
middleware's life and Cedar has no clock, so a decision is a pure function of that key. When no
policy mentions ``arg_`` or ``context`` the arguments cannot change a decision (an argument is only
reachable as ``resource.arg_*`` or through the context), so they are left out of the key: every
call of a tool by one caller then shares one decision, however unique its arguments. A list
response asks for all its items in one Cedar call.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import cedarpy

from toolhive_middleware_authz.config import CedarConfig

#: Checked in order when ``group_claim_name`` is unset or absent from the token (ToolHive's list).
DEFAULT_GROUP_CLAIMS: Final = ("groups", "roles", "cognito:groups")
#: Records nested deeper than this are dropped (claims may be deeply nested on purpose).
MAX_DEPTH: Final = 10
#: Bound of the decision cache (entries; the oldest go first).
CACHE_SIZE: Final = 8192
#: Decisions whose arguments are bigger than this (their JSON, in characters) are not cached:
#: a cache of large unique arguments would only hold memory.
CACHE_MAX_ARGUMENTS: Final = 1024
_I64: Final = 2**63
_DECIMAL_MAX: Final = 922337203685477.5807
#: Keys Cedar's JSON format reads as an entity reference or an extension value, never a record.
_RESERVED: Final = frozenset({"__entity", "__extn", "__expr"})


#: The action entities (ToolHive gives each an ``operation`` attribute).
_ACTIONS: Final = {
    ("Action", name): {
        "uid": {"type": "Action", "id": name},
        "attrs": {"operation": name},
        "parents": [],
    }
    for name in ("call_tool", "get_prompt", "read_resource")
}


def cedar_value(value: Any, depth: int = 0) -> Any:
    """``value`` (decoded JSON) as a Cedar JSON value, or ``None`` when Cedar cannot hold it.

    Integers are ``Long``; other numbers ``decimal`` (four places); lists sets; objects records.
    """
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_I64 <= value < _I64 else None
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > _DECIMAL_MAX:
            return None
        return {"__extn": {"fn": "decimal", "arg": f"{value:.4f}"}}
    if isinstance(value, list | tuple):
        items = (cedar_value(v, depth + 1) for v in value)
        return [v for v in items if v is not None]
    if isinstance(value, Mapping):
        if _RESERVED & value.keys():
            return None
        return cedar_record(value, depth + 1)
    return None


def cedar_record(values: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        converted = cedar_value(value, depth)
        if converted is not None:
            out[str(key)] = converted
    return out


def argument_attributes(arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """``arg_<name>`` for scalar arguments, ``arg_<name>_present`` for the rest (ToolHive's)."""
    out: dict[str, Any] = {}
    for key, value in (arguments or {}).items():
        if isinstance(value, str | bool | int | float):
            converted = cedar_value(value)
            if converted is not None:
                out[f"arg_{key}"] = converted
        else:
            out[f"arg_{key}_present"] = True
    return out


def _nested_claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by exact name (URL-style names hold dots), else by a dotted path."""
    if not path:
        return None
    if path in claims:
        return claims[path]
    parts = path.split(".")
    if len(parts) < 2:
        return None
    current: Any = claims
    for part in parts:
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _groups_from(claims: Mapping[str, Any], name: str) -> list[str] | None:
    """``None`` when absent or not an array; an array's string elements otherwise (maybe none)."""
    value = _nested_claim(claims, name)
    if not isinstance(value, list | tuple):
        return None
    return [g for g in value if isinstance(g, str)]


@dataclass(frozen=True)
class Principal:
    uid: dict[str, str]
    #: Cedar JSON: the principal entity and the ``claim_*`` context entries.
    entity: dict[str, Any]
    claims: dict[str, Any]
    #: Everything above, canonical: the principal's part of a decision's cache key.
    key: str


@dataclass(frozen=True)
class Ask:
    """One question: may the principal do ``action`` on ``resource_type::resource_id``?"""

    action: str
    resource_type: str
    resource_id: str
    #: Cedar JSON resource attributes (``name``, ``operation`` … ``arg_*``, annotations).
    attributes: dict[str, Any]
    #: Cedar JSON ``arg_*`` entries for the context.
    arguments: dict[str, Any]
    #: Everything above, hashable: the ask's part of a decision's cache key.
    key: tuple[Any, ...]


def _frozen(values: Mapping[str, Any]) -> tuple[Any, ...]:
    # The type is part of the key: True == 1 in Python, not in Cedar.
    return tuple(
        sorted(
            (k, type(v).__name__, json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
            for k, v in values.items()
        )
    )


def tool_call(name: str, arguments: dict[str, Any], annotations: Mapping[str, bool]) -> Ask:
    # Annotations first and the standard attributes last, so neither can be overridden.
    attributes = {**annotations, **arguments, "name": name, "operation": "call", "feature": "tool"}
    key = ("call_tool", name, _frozen(arguments), _frozen(annotations))
    return Ask("call_tool", "Tool", name, attributes, arguments, key)


def prompt_get(name: str, arguments: dict[str, Any]) -> Ask:
    attributes = {"name": name, "operation": "get", "feature": "prompt", **arguments}
    return Ask(
        "get_prompt",
        "Prompt",
        name,
        attributes,
        arguments,
        ("get_prompt", name, _frozen(arguments)),
    )


def resource_read(uri: str, arguments: dict[str, Any]) -> Ask:
    attributes = {"name": uri, "uri": uri, "operation": "read", "feature": "resource", **arguments}
    key = ("read_resource", uri, _frozen(arguments))
    return Ask("read_resource", "Resource", uri, attributes, arguments, key)


def _local_username() -> str:
    # The auth plugin's local-user mode names the user the same way.
    import getpass

    try:
        return getpass.getuser() or "local"
    except (OSError, KeyError):
        return "local"


def local_user_claims(username: str, now: float) -> dict[str, Any]:
    """The claims ToolHive's local-user mode gives every request when no OIDC is configured."""
    issued = int(now)
    return {
        "sub": username,
        "iss": "toolhive-local",
        "aud": "toolhive",
        "exp": issued + 24 * 3600,
        "iat": issued,
        "nbf": issued,
        "email": f"{username}@localhost",
        "name": f"Local User: {username}",
    }


class CedarAuthorizer:
    """Decisions for one workload: the policy set parsed once, the decisions cached."""

    def __init__(self, config: CedarConfig, server_name: str) -> None:
        self._policies = config.policy_set
        self._config = config
        self._server_parent = [{"type": "MCP", "id": server_name}] if server_name else []
        self._base = list(config.entities)
        self._base_uids = {(e["uid"]["type"], e["uid"]["id"]) for e in self._base}
        self._handles: dict[str, cedarpy.Entities] = {}
        text = "\n".join(config.policies)
        # See the module docstring: arguments are part of a decision only if a policy can read them.
        self._reads_arguments = "arg_" in text or "context" in text
        self._decisions: dict[tuple[str, tuple[Any, ...]], bool] = {}
        self._principals: dict[int, tuple[object, Principal | None]] = {}
        self._by_claims: dict[str, Principal | None] = {}
        self._local: tuple[int, Principal | None] | None = None
        self._username = ""

    # -- principals ---------------------------------------------------------------------------

    def principal(self, claims: Mapping[str, Any], subject: str = "") -> Principal | None:
        """The principal for these claims, or ``None`` (no subject: deny, as ToolHive does)."""
        sub = claims.get("sub")
        client = sub if isinstance(sub, str) and sub else subject
        if not client:
            return None
        config = self._config
        groups = _groups_from(claims, config.group_claim_name)
        if groups is None:
            for name in DEFAULT_GROUP_CLAIMS:
                groups = _groups_from(claims, name)
                if groups is not None:
                    break
        parents: list[str] = []
        for group in [*(groups or []), *(_groups_from(claims, config.role_claim_name) or [])]:
            if group not in parents:
                parents.append(group)
        normalized = dict(claims)
        sets: dict[str, list[str]] = {}
        for name in config.multi_valued_claims:
            if name not in claims:
                continue
            value = claims[name]
            if isinstance(value, str):
                sets[f"claimset_{name}"] = value.split()
            elif isinstance(value, list | tuple):
                tokens = [v for v in value if isinstance(v, str)]
                normalized[name] = " ".join(tokens)
                sets[f"claimset_{name}"] = tokens
        attributes = cedar_record({f"claim_{k}": v for k, v in normalized.items()})
        attributes.update(sets)
        uid = {"type": "Client", "id": client}
        entity = {
            "uid": uid,
            "attrs": attributes,
            "parents": [{"type": config.group_entity_type, "id": g} for g in parents],
        }
        key = json.dumps(entity, sort_keys=True, separators=(",", ":"))
        return Principal(uid, entity, attributes, key)

    def principal_of(self, who: object | None) -> Principal | None:
        """The principal for a :class:`~toolhive.contracts.middleware.Identity` (cached per
        object), or for ToolHive's local user when there is none."""
        if who is None:
            return self._local_user()
        entry = self._principals.get(id(who))
        if entry is not None and entry[0] is who:
            return entry[1]
        claims = getattr(who, "claims", None) or {}
        subject = getattr(who, "subject", "") or ""
        # A new Identity per request is likely (one per validated token): the claims' JSON
        # finds the principal already built for the same claims.
        try:
            key = subject + "\0" + json.dumps(claims, sort_keys=True, default=repr)
        except (TypeError, ValueError):
            key = ""
        if key and key in self._by_claims:
            principal = self._by_claims[key]
        else:
            principal = self.principal(claims, subject)
            if key:
                if len(self._by_claims) >= 1024:
                    del self._by_claims[next(iter(self._by_claims))]
                self._by_claims[key] = principal
        if len(self._principals) >= 256:
            self._principals.clear()
        # The identity is kept with its entry, so its id cannot be reused while cached.
        self._principals[id(who)] = (who, principal)
        return principal

    def _local_user(self) -> Principal | None:
        # Claims carry times; recomputed once a minute so cached decisions stay reusable.
        minute = int(time.time()) // 60
        if self._local is None or self._local[0] != minute:
            if not self._username:
                self._username = _local_username()
            claims = local_user_claims(self._username, minute * 60)
            self._local = (minute, self.principal(claims))
        return self._local[1]

    # -- decisions ----------------------------------------------------------------------------

    def allowed(self, principal: Principal, asks: Sequence[Ask]) -> list[bool]:
        """One decision per ask, from the cache or from Cedar (one call for all misses)."""
        keys = [self._key(principal, ask) for ask in asks]
        decisions = self._decisions
        out: list[bool | None] = [None if k is None else decisions.get(k) for k in keys]
        missing = [i for i, d in enumerate(out) if d is None]
        if missing:
            for index, value in zip(
                missing, self._evaluate(principal, [asks[i] for i in missing]), strict=True
            ):
                out[index] = value
                key = keys[index]
                if key is None:
                    continue  # too large to keep
                if len(decisions) >= CACHE_SIZE:
                    del decisions[next(iter(decisions))]
                decisions[key] = value
        return [bool(d) for d in out]

    def _key(self, principal: Principal, ask: Ask) -> tuple[str, tuple[Any, ...]] | None:
        """The decision's cache key (an ask's key holds its arguments at position 2), or
        ``None`` when its arguments matter and are too large to cache."""
        if not self._reads_arguments:
            return (principal.key, ask.key[:2] + ask.key[3:])
        if ask.arguments and len(repr(ask.key[2])) > CACHE_MAX_ARGUMENTS:
            return None
        return (principal.key, ask.key)

    def _evaluate(self, principal: Principal, asks: Sequence[Ask]) -> Iterable[bool]:
        # One Cedar call needs one entity set: asks naming the same resource uid with different
        # attributes (a list with a duplicate name) are decided apart.
        seen: dict[tuple[str, str], Ask] = {}
        if any(seen.setdefault((a.resource_type, a.resource_id), a) != a for a in asks):
            return [self._batch(principal, [ask])[0] for ask in asks]
        return self._batch(principal, asks)

    def _principal_entities(self, principal: Principal) -> cedarpy.Entities:
        """``entities_json`` + the principal + the actions, parsed once per principal: a decision
        then parses only its resource entities (Cedar's JSON parsing is most of its cost)."""
        handle = self._handles.get(principal.key)
        if handle is None:
            own = {("Client", principal.uid["id"]): principal.entity, **_ACTIONS}
            # A request entity replaces the configured one with its uid (ToolHive's merge).
            kept = [e for e in self._base if (e["uid"]["type"], e["uid"]["id"]) not in own]
            handle = cedarpy.Entities.from_json_str(json.dumps([*kept, *own.values()]))
            if len(self._handles) >= 256:
                del self._handles[next(iter(self._handles))]
            self._handles[principal.key] = handle
        return handle

    def _batch(self, principal: Principal, asks: Sequence[Ask]) -> list[bool]:
        resources = {
            (ask.resource_type, ask.resource_id): {
                "uid": {"type": ask.resource_type, "id": ask.resource_id},
                "attrs": ask.attributes,
                "parents": self._server_parent,
            }
            for ask in asks
        }
        entities: str | cedarpy.Entities
        if self._base_uids.isdisjoint(resources):
            delta = json.dumps(list(resources.values()))
            entities = self._principal_entities(principal).with_added_json_str(delta)
        else:
            own = {("Client", principal.uid["id"]): principal.entity, **_ACTIONS, **resources}
            kept = [e for e in self._base if (e["uid"]["type"], e["uid"]["id"]) not in own]
            entities = json.dumps([*kept, *own.values()])
        requests = [
            {
                "principal": principal.uid,
                "action": {"type": "Action", "id": ask.action},
                "resource": {"type": ask.resource_type, "id": ask.resource_id},
                "context": {**principal.claims, **ask.arguments},
            }
            for ask in asks
        ]
        results = cedarpy.is_authorized_batch(requests, self._policies, entities)
        return [r.allowed and not r.diagnostics.errors for r in results]
