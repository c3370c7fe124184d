"""ToolHive's vMCP configuration file: loading, validation and writing (the public face).

The models are in :mod:`toolhive.vmcp.config_model`, the semantic rules in
:mod:`toolhive.vmcp.config_rules`; both are re-exported here, so callers import from this module.

The format is ToolHive's (``pkg/vmcp/config/config.go``, ``examples/vmcp-config.yaml``): a YAML
(or JSON) document whose keys are camelCase exactly as in Go. A file that ToolHive's ``thv vmcp``
accepts loads here unchanged; attributes are the snake_case spelling of each key.

Three layers, as in Go:

* **Structure** (:func:`load_config`): unknown keys, wrong types, bad enum values and malformed
  durations are errors that name the key path (``aggregation.conflictResolution: must be one of
  prefix, priority, manual``). Every problem is reported at once, not the first one.
* **Semantics** (:func:`validate_config`, in ``config_rules``): the rules of Go's
  ``DefaultValidator`` and composite-tool validation (required sections, strategy-specific
  settings, step ids, ``dependsOn`` targets and cycles, template references, ...). Returns a list
  of ``path: message`` strings.
* **Environment** (:func:`check_environment`, in ``config_rules``): variables named by
  ``headerValueEnv`` / ``clientSecretEnv`` must be set, as Go's loader requires. Only the
  variable's *name* is ever printed; values never appear in messages or in a model's ``repr``.

Defaults follow Go: operational settings get ``DefaultOperationalConfig`` (30 s backend timeout,
30 s health checks, 3 failures to unhealthy, partial failure mode ``fail``, circuit breaker off
with 5 failures / 60 s); zero values are filled with those defaults as Go's ``mergo.Merge`` does.
Durations keep the string the user wrote (``"1h30m"``); ``*_seconds`` properties give floats
(both in the models, ``config_model``).

Deviations from Go, each deliberate:

* ``compositeTools[].failureMode`` (``abort`` | ``continue``, default ``abort``) is accepted; Go's
  workflow engine has the setting but its YAML has no key for it.
* ``partialFailureMode: bestEffort`` (the spelling in Go's example's comment) is read as Go's
  ``best_effort``.
* Settings we parse but cannot honour are listed by :func:`unsupported_features`; ``serve`` refuses
  them instead of ignoring them (fail closed).
* A few checks Go leaves to runtime or skips are made here: duplicate backend names, a workload
  listed twice in ``priorityOrder``, a step referencing its own output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from toolhive.vmcp import config_model
from toolhive.vmcp.config_model import *  # noqa: F403 (this module is the models' public face)
from toolhive.vmcp.config_model import (
    AggregationConfig,
    BackendAuthStrategy,
    ConflictResolutionConfig,
    IncomingAuthConfig,
    OutgoingAuthConfig,
    VmcpConfig,
    VmcpConfigError,
)
from toolhive.vmcp.config_rules import check_environment, unsupported_features, validate_config

__all__ = [
    "check_environment",
    "default_config",
    "dump_config",
    "load_config",
    "load_validated",
    "parse_config",
    "unsupported_features",
    "validate_config",
]
__all__ += config_model.__all__  # every model, as config_model lists them


# ---------------------------------------------------------------------------------------------
# Loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader read the way Go's yaml.v3 reads: a key given twice is an error, and plain
    scalars follow YAML 1.2 (``yes``/``on`` and ``2024-01-01`` stay strings, ``1:30`` is no
    sexagesimal number)."""

    yaml_implicit_resolvers = {
        first: [
            (tag, rx)
            for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
            and tag != "tag:yaml.org,2002:int"
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            msg = f"key {key!r} is given twice"
            raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
        seen.add(key)
    return dict(loader.construct_pairs(node, deep=True))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+|0o[0-7]+)$"),
    list("-+0123456789"),
)


def _path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        kind, msg = err["type"], err["msg"]
        if kind == "missing":
            msg = "is required"
        elif kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "literal_error":
            expected = str(err.get("ctx", {}).get("expected", ""))
            choices = expected.replace("'", "").replace(" or ", ", ")
            got = err.get("input")
            msg = f"must be one of {choices}" + (
                f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
            )
        elif kind == "value_error":
            msg = msg.removeprefix("Value error, ")
        else:
            msg = msg[:1].lower() + msg[1:]
        problems.append(f"{_path(err['loc'])}: {msg}")
    return problems


def parse_config(data: object, source: str = "vMCP config") -> VmcpConfig:
    """Build a :class:`VmcpConfig` from already-parsed YAML/JSON data."""
    if not isinstance(data, Mapping):
        raise VmcpConfigError(source, ["(top level): must be a mapping of keys to values"])
    try:
        return VmcpConfig.model_validate(data)
    except ValidationError as exc:
        raise VmcpConfigError(source, _problems(exc)) from None


def load_config(path: Path) -> VmcpConfig:
    """Read a vMCP config file (YAML, or JSON) and check its structure.

    Raises :class:`VmcpConfigError` naming every bad key. Semantic rules are
    :func:`validate_config`'s; :func:`load_validated` does both.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VmcpConfigError(source, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VmcpConfigError(
            source, [f"cannot read the file ({exc.__class__.__name__})"]
        ) from None
    try:
        if Path(path).suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
    except json.JSONDecodeError as exc:
        raise VmcpConfigError(source, [f"line {exc.lineno}: invalid JSON: {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        raise VmcpConfigError(source, [f"invalid YAML: {_yaml_problem(exc)}"]) from None
    if data is None:
        raise VmcpConfigError(source, ["(top level): the file is empty"])
    return parse_config(data, source)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return str(exc)


def load_validated(path: Path, environ: Mapping[str, str] | None = None) -> VmcpConfig:
    """:func:`load_config`, then :func:`validate_config` and :func:`check_environment`."""
    cfg = load_config(path)
    problems = validate_config(cfg) + check_environment(cfg, environ)
    if problems:
        raise VmcpConfigError(str(path), problems)
    return cfg


# ---------------------------------------------------------------------------------------------
# Writing


def default_config(group: str, name: str | None = None) -> VmcpConfig:
    """The configuration of ``thv vmcp serve --group`` (and, named ``<group>-vmcp``, of ``init``).

    Anonymous clients, unauthenticated backends, ``prefix`` conflict resolution with
    ``{workload}_``: Go's quick-mode config. Fields are set explicitly so :func:`dump_config`
    writes them (Go's validator requires each).
    """
    return VmcpConfig(
        name=name or group,
        group_ref=group,
        incoming_auth=IncomingAuthConfig(type="anonymous"),
        outgoing_auth=OutgoingAuthConfig(
            source="inline", default=BackendAuthStrategy(type="unauthenticated")
        ),
        aggregation=AggregationConfig(
            conflict_resolution="prefix",
            conflict_resolution_config=ConflictResolutionConfig(prefix_format="{workload}_"),
        ),
    )


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (Cedar policies) as ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _mark_set(model: BaseModel) -> bool:
    """Count a section as set when something inside it was set (``cfg.operational.x = …`` sets
    ``x`` but not ``operational``); whether anything in ``model`` was set."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = (
            value.values()
            if isinstance(value, dict)
            else value
            if isinstance(value, list)
            else [value]
        )
        inner = [_mark_set(v) for v in items if isinstance(v, BaseModel)]
        if any(inner):
            model.model_fields_set.add(name)
    return bool(model.model_fields_set)


def dump_config(cfg: VmcpConfig) -> str:
    """YAML with Go's camelCase keys, in Go's order; settings nobody set are left out."""
    cfg = cfg.model_copy(deep=True)
    _mark_set(cfg)
    data = cfg.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
