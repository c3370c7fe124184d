"""toolhive-middleware-tools: ToolHive's ``--tools`` filter and ``--tools-override`` renames.

Two middleware types share one parameter model (ToolHive's ``ToolFilterMiddlewareParams``), both
derived from a RunConfig's ``tools_filter`` / ``tools_override``:

``tool-filter``
    Rewrites ``tools/list`` answers: only the filtered tools stay, overridden tools get their new
    name and description.
``tool-call-filter``
    Checks every ``tools/call``: a call by a new name reaches the server under the tool's real
    name; a filtered-out tool, or a renamed tool called by its old name, is "tool not found".

Names in ``filter_tools`` are the names clients see (after renames), as in ToolHive. The model
refuses what ToolHive would silently run with an empty or inconsistent tool set, so a bad config
fails at ``thv run`` before anything is saved.

This module is the plugin's entry point: every ``thv`` command imports it, so it imports only
``toolhive.contracts`` and pydantic; the middleware is imported when a workload starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from toolhive.contracts import MiddlewareParameters, MiddlewareSpec, hookimpl

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp

__all__ = [
    "TOOL_CALL_FILTER",
    "TOOL_FILTER",
    "ToolOverride",
    "ToolsParameters",
    "call_filter_factory",
    "list_filter_factory",
    "thv_middleware",
]

TOOL_FILTER = "tool-filter"
TOOL_CALL_FILTER = "tool-call-filter"


def _invalid(message: str, **names: str) -> PydanticCustomError:
    # A custom error keeps pydantic's "Value error, " prefix out of the message thv prints; the
    # names are quoted here, so braces in a tool name are never read as a template.
    return PydanticCustomError("tools_config", message.format(**names))


class ToolOverride(MiddlewareParameters):
    """One ``tools_override`` entry: the name and/or description clients see instead.

    An empty string means "unchanged", as in ToolHive (whose exports write ``""`` for an unset
    field); ``null`` is read the same way.
    """

    name: str = ""
    description: str = ""

    @field_validator("name", "description", mode="before")
    @classmethod
    def _null_is_unset(cls, value: object) -> object:
        return "" if value is None else value


class ToolsParameters(MiddlewareParameters):
    """The ``parameters`` of a ``tool-filter`` or ``tool-call-filter`` entry (ToolHive's names)."""

    # Declared first: filter_tools' checks read the validated overrides.
    tools_override: dict[str, ToolOverride] = Field(
        default_factory=dict,
        description="Backend tool name -> the name and/or description clients see instead.",
    )
    filter_tools: tuple[str, ...] = Field(
        default=(),
        validate_default=True,
        description="The tools clients may see and call, by the names they see (empty: all).",
    )

    @field_validator("tools_override")
    @classmethod
    def _overrides_are_consistent(
        cls, overrides: dict[str, ToolOverride]
    ) -> dict[str, ToolOverride]:
        targets: dict[str, str] = {}
        for tool, override in overrides.items():
            if not tool:
                raise _invalid("a tool override needs the tool's name as its key")
            if not override.name and not override.description:
                raise _invalid(
                    "tool override for {tool!r} must set a name or a description", tool=tool
                )
            if override.name and override.name != tool:
                if override.name in targets:
                    raise _invalid(
                        "tools {first!r} and {second!r} are both renamed to {name!r}",
                        first=targets[override.name],
                        second=tool,
                        name=override.name,
                    )
                targets[override.name] = tool
        for name, tool in targets.items():
            kept = overrides.get(name)
            if kept is not None and kept.name in ("", name):
                raise _invalid(
                    "tool {tool!r} is renamed to {name!r}, the name tool {name!r} keeps: "
                    "clients could not reach one of them",
                    tool=tool,
                    name=name,
                )
        return overrides

    @field_validator("filter_tools")
    @classmethod
    def _filter_names_what_clients_see(
        cls, names: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        if any(not name for name in names):
            raise _invalid("a tool name in the filter cannot be empty")
        overrides: Mapping[str, ToolOverride] | None = info.data.get("tools_override")
        if overrides is None:  # its own error is reported
            return names
        if not names and not overrides:
            raise _invalid("nothing to filter or override: list tools or give tool overrides")
        new_names = {o.name for o in overrides.values() if o.name}
        for name in names:
            override = overrides.get(name)
            if override and override.name not in ("", name) and name not in new_names:
                raise _invalid(
                    "the filter lists {name!r}, which is renamed to {new!r}: the filter uses "
                    "the names clients see, so list {new!r}",
                    name=name,
                    new=override.name,
                )
        listed = set(names)
        for tool, override in overrides.items() if names else ():
            visible = override.name or tool
            if visible not in listed:
                # ToolHive's e2e expects "filtering out an overridden tool" to fail at `thv run`.
                raise _invalid(
                    "tool {tool!r} has an override, but the filter hides it: list {visible!r} "
                    "or drop the override",
                    tool=tool,
                    visible=visible,
                )
        return tuple(dict.fromkeys(names))


def list_filter_factory(
    app: ASGIApp, parameters: ToolsParameters, context: MiddlewareContext
) -> ASGIApp:
    """``tool-filter``: rewrite ``tools/list`` answers (called once per workload start)."""
    from toolhive_middleware_tools.middleware import ToolListFilter
    from toolhive_middleware_tools.policy import ToolPolicy

    return ToolListFilter(app, ToolPolicy.from_parameters(parameters), context)


def call_filter_factory(
    app: ASGIApp, parameters: ToolsParameters, context: MiddlewareContext
) -> ASGIApp:
    """``tool-call-filter``: check and map ``tools/call`` (called once per workload start)."""
    from toolhive_middleware_tools.middleware import ToolCallFilter
    from toolhive_middleware_tools.policy import ToolPolicy

    return ToolCallFilter(app, ToolPolicy.from_parameters(parameters), context)


@hookimpl
def thv_middleware() -> list[MiddlewareSpec[ToolsParameters]]:
    return [
        MiddlewareSpec(
            name=TOOL_FILTER,
            description="Filter, rename and redescribe the tools a tools/list answer shows",
            config_model=ToolsParameters,
            factory=list_filter_factory,
        ),
        MiddlewareSpec(
            name=TOOL_CALL_FILTER,
            description="Refuse calls to filtered tools; map renamed tools back on tools/call",
            config_model=ToolsParameters,
            factory=call_filter_factory,
        ),
    ]
