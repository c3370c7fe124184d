"""ToolHive's authorization config (``--authz-config``, ``authz_config``), read and checked.

The document is ToolHive's ``pkg/authz`` format, JSON or YAML::

    {"version": "1.0", "type": "cedarv1",
     "cedar": {"policies": ["permit(...);", ...], "entities_json": "[...]",
               "group_claim_name": "...", "role_claim_name": "...",
               "group_entity_type": "THVGroup", "multi_valued_claims": ["scp"]}}

Everything is checked here, when the parameters are validated (``thv run`` resolves the chain
before it records any state): each policy is parsed by Cedar and a bad one is refused with Cedar's
message, ``entities_json`` is parsed by Cedar, ``group_entity_type`` must be a plain Cedar
identifier. ``type: httpv1`` (an external HTTP PDP) is refused: this plugin does not implement it,
and running without the protection asked for would fail open. Unknown keys are refused too, so a
misspelt option cannot silently fall back to a default.

Imports Cedar (``cedarpy``) and YAML; only the validator and the factory import this module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cedarpy
import yaml

if TYPE_CHECKING:
    from cedarpy import PolicySet

CEDAR_TYPE = "cedarv1"
HTTP_TYPE = "httpv1"
DEFAULT_GROUP_ENTITY_TYPE = "THVGroup"

_TOP_KEYS = frozenset({"version", "type", "cedar"})
_CEDAR_KEYS = frozenset(
    {
        "policies",
        "entities_json",
        "primary_upstream_provider",
        "group_claim_name",
        "role_claim_name",
        "group_entity_type",
        "multi_valued_claims",
    }
)


class AuthzConfigError(ValueError):
    """The authorization config cannot be used (the message says why, for the user)."""


@dataclass(frozen=True)
class CedarConfig:
    """A checked ``cedarv1`` config: the parsed policy set and the normalized entities."""

    policies: tuple[str, ...]
    policy_set: PolicySet
    #: ``entities_json`` as Cedar JSON entity dicts (``attrs``/``parents`` filled in), one per uid.
    entities: tuple[dict[str, Any], ...]
    group_claim_name: str
    role_claim_name: str
    group_entity_type: str
    multi_valued_claims: tuple[str, ...]


def read_document(path: str) -> dict[str, Any]:
    """A config file as ToolHive reads it: YAML for ``.yaml``/``.yml``, JSON for ``.json`` or none."""
    # ToolHive refuses any path that still holds ".." once cleaned.
    if ".." in os.path.normpath(path):
        msg = f"path contains directory traversal elements: {path}"
        raise AuthzConfigError(msg)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"failed to read authorization configuration file {path}: {exc}"
        raise AuthzConfigError(msg) from None
    ext = file.suffix.lower()
    try:
        if ext in (".yaml", ".yml"):
            document = yaml.safe_load(text)
        elif ext in (".json", ""):
            document = json.loads(text)
        else:
            msg = f"unsupported file format: {ext} (supported formats: .json, .yaml, .yml)"
            raise AuthzConfigError(msg)
    except (ValueError, yaml.YAMLError) as exc:
        if isinstance(exc, AuthzConfigError):
            raise
        kind = "YAML" if ext in (".yaml", ".yml") else "JSON"
        msg = f"failed to parse {kind} authorization configuration file {path}: {exc}"
        raise AuthzConfigError(msg) from None
    if not isinstance(document, dict):
        msg = f"authorization configuration file {path} must hold an object"
        raise AuthzConfigError(msg)
    return document


def _string(options: Mapping[str, Any], key: str) -> str:
    value = options.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        msg = f"cedar.{key} must be a string"
        raise AuthzConfigError(msg)
    return value


def _policy_set(policies: list[str]) -> PolicySet:
    """Each entry parsed on its own (ToolHive's ``policy<i>`` numbering), then the whole set."""
    for index, text in enumerate(policies):
        if not isinstance(text, str):
            msg = f"cedar.policies[{index}] must be a string"
            raise AuthzConfigError(msg)
        try:
            one = cedarpy.PolicySet.from_str(text)
        except ValueError as exc:
            msg = f"failed to parse policy {index} ({_excerpt(text)}): {exc}"
            raise AuthzConfigError(msg) from None
        if len(one) != 1:
            msg = (
                f"failed to parse policy {index} ({_excerpt(text)}): each entry must be exactly "
                "one Cedar policy (templates are not supported)"
            )
            raise AuthzConfigError(msg)
    return cedarpy.PolicySet.from_str("\n".join(policies))


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 60 else flat[:57] + "...")


def _entities(entities_json: str) -> tuple[dict[str, Any], ...]:
    if not entities_json.strip():
        return ()
    try:
        raw = json.loads(entities_json)
    except ValueError as exc:
        msg = f"failed to parse entities JSON: {exc}"
        raise AuthzConfigError(msg) from None
    if not isinstance(raw, list):
        msg = "failed to parse entities JSON: expected a JSON array of entities"
        raise AuthzConfigError(msg)
    by_uid: dict[tuple[str, str], dict[str, Any]] = {}
    for index, item in enumerate(raw):
        uid = item.get("uid") if isinstance(item, dict) else None
        if isinstance(uid, dict) and isinstance(uid.get("__entity"), dict):
            uid = uid["__entity"]
        if not (
            isinstance(uid, dict)
            and isinstance(uid.get("type"), str)
            and isinstance(uid.get("id"), str)
        ):
            msg = (
                f"failed to parse entities JSON: entity {index} needs a uid "
                '{"type": "...", "id": "..."}'
            )
            raise AuthzConfigError(msg)
        entity = {
            "uid": {"type": uid["type"], "id": uid["id"]},
            "attrs": item.get("attrs") or {},
            "parents": item.get("parents") or [],
        }
        if item.get("tags"):
            entity["tags"] = item["tags"]
        # As ToolHive's entity map: a later entity with the same uid replaces an earlier one.
        by_uid[(uid["type"], uid["id"])] = entity
    entities = tuple(by_uid.values())
    try:
        cedarpy.Entities.from_json_str(json.dumps(list(entities)))
    except ValueError as exc:
        msg = f"failed to parse entities JSON: {exc}"
        raise AuthzConfigError(msg) from None
    return entities


def _group_entity_type(name: str) -> str:
    if not name:
        return DEFAULT_GROUP_ENTITY_TYPE
    if "::" in name:
        msg = f'group_entity_type {name!r} contains "::": namespaced entity types are not supported'
        raise AuthzConfigError(msg)
    try:
        cedarpy.PolicySet.from_str(f'permit(principal in {name}::"x", action, resource);')
    except ValueError as exc:
        msg = f"group_entity_type {name!r} is not a valid Cedar identifier: {exc}"
        raise AuthzConfigError(msg) from None
    return name


def check_document(document: Mapping[str, Any]) -> CedarConfig:
    """A ToolHive authz config document, checked; raises :class:`AuthzConfigError`."""
    unknown = sorted(set(document) - _TOP_KEYS - {"pdp"})
    if unknown:
        msg = f"unknown key(s) {', '.join(unknown)} (known: version, type, cedar)"
        raise AuthzConfigError(msg)
    version = document.get("version")
    if not version:
        msg = "version is required"
        raise AuthzConfigError(msg)
    kind = document.get("type")
    if not kind:
        msg = "type is required"
        raise AuthzConfigError(msg)
    if kind == HTTP_TYPE:
        msg = (
            "type httpv1 (an external HTTP policy decision point) is not supported by this "
            "ToolHive; use type cedarv1"
        )
        raise AuthzConfigError(msg)
    if kind != CEDAR_TYPE:
        msg = f"unsupported configuration type: {kind} (registered types: [{CEDAR_TYPE}])"
        raise AuthzConfigError(msg)
    if "pdp" in document:
        msg = "unknown key pdp for type cedarv1 (known: version, type, cedar)"
        raise AuthzConfigError(msg)
    options = document.get("cedar")
    if not isinstance(options, dict):
        msg = "cedar configuration is required (missing 'cedar' field)"
        raise AuthzConfigError(msg)
    unknown = sorted(set(options) - _CEDAR_KEYS)
    if unknown:
        msg = f"unknown key(s) under cedar: {', '.join(unknown)} (known: {', '.join(sorted(_CEDAR_KEYS))})"
        raise AuthzConfigError(msg)
    if _string(options, "primary_upstream_provider"):
        msg = (
            "cedar.primary_upstream_provider needs ToolHive's embedded authorization server "
            "(claims from an upstream provider's token), which this ToolHive does not have"
        )
        raise AuthzConfigError(msg)
    policies = options.get("policies")
    if not policies:
        msg = "at least one policy is required for Cedar authorization"
        raise AuthzConfigError(msg)
    if not isinstance(policies, list):
        msg = "cedar.policies must be a list of Cedar policy strings"
        raise AuthzConfigError(msg)
    multi = options.get("multi_valued_claims") or []
    if not isinstance(multi, list) or not all(isinstance(m, str) for m in multi):
        msg = "cedar.multi_valued_claims must be a list of claim names"
        raise AuthzConfigError(msg)
    return CedarConfig(
        policies=tuple(policies),
        policy_set=_policy_set(policies),
        entities=_entities(_string(options, "entities_json")),
        group_claim_name=_string(options, "group_claim_name"),
        role_claim_name=_string(options, "role_claim_name"),
        group_entity_type=_group_entity_type(_string(options, "group_entity_type")),
        multi_valued_claims=tuple(multi),
    )


def load(config_data: Mapping[str, Any] | None, config_path: str) -> CedarConfig:
    """The middleware's parameters as ToolHive reads them: inline data wins over the file."""
    if config_data is not None:
        return check_document(config_data)
    if config_path:
        return check_document(read_document(config_path))
    msg = "either config_data or config_path is required for authorization middleware"
    raise AuthzConfigError(msg)
