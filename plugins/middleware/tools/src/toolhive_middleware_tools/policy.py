"""What the filter and the overrides mean for one tool list or one call (no I/O, no ASGI).

ToolHive's rules (``pkg/mcp/tool_filter.go``): overrides apply first, then the filter keeps the
tools whose *visible* name it lists; a call names a visible tool, so it is checked against the
filter and then mapped back to the backend's name. Two rules are ours, to keep the list and the
calls telling the same story:

- a renamed tool's old name is gone: calling it is "tool not found" (ToolHive forwards it);
- a backend tool whose name another tool was renamed to is hidden (a call by that name reaches
  the renamed tool, so listing both would show a tool nobody can call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from toolhive_middleware_tools import ToolsParameters

#: JSON-RPC codes (ToolHive answers a filtered call with CodeInvalidParams).
INVALID_REQUEST: Final = -32600
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603


@dataclass(frozen=True)
class Refusal:
    """Why a ``tools/call`` is not forwarded, and how ToolHive answers it over HTTP."""

    status: int
    code: int
    message: str


#: ToolHive's answer to a filtered tool: HTTP 200 + the same error as a tool that does not exist.
TOOL_NOT_FOUND: Final = Refusal(200, INVALID_PARAMS, "tool not found")
#: ToolHive answers a call without a tool name with HTTP 400 (and no body; we add an error).
NO_TOOL_NAME: Final = Refusal(400, INVALID_PARAMS, "Invalid params: tools/call needs params.name")


@dataclass(frozen=True)
class _Override:
    name: str  # "" = keeps its name
    description: str  # "" = keeps its description


class ToolPolicy:
    """The filter and overrides of one workload, indexed for per-message lookups."""

    __slots__ = ("_allowed", "_overrides", "_renamed", "_to_backend")

    def __init__(
        self, filter_tools: Iterable[str], overrides: Mapping[str, tuple[str, str]]
    ) -> None:
        allowed = frozenset(filter_tools)
        #: ``None``: no filter, every tool is visible.
        self._allowed: frozenset[str] | None = allowed or None
        self._overrides = {
            tool: _Override("" if name == tool else name, description)
            for tool, (name, description) in overrides.items()
        }
        #: Visible name -> backend name, for renamed tools only.
        self._to_backend = {o.name: tool for tool, o in self._overrides.items() if o.name}
        #: Backend names clients no longer see.
        self._renamed = frozenset(tool for tool, o in self._overrides.items() if o.name)

    @classmethod
    def from_parameters(cls, parameters: ToolsParameters) -> ToolPolicy:
        return cls(
            parameters.filter_tools,
            {t: (o.name, o.description) for t, o in parameters.tools_override.items()},
        )

    # -- tools/call ---------------------------------------------------------------------------

    def call_target(self, name: object) -> str | Refusal:
        """The backend name a call by visible ``name`` goes to, or why it is refused."""
        if not isinstance(name, str) or not name:
            return NO_TOOL_NAME
        if self._allowed is not None and name not in self._allowed:
            return TOOL_NOT_FOUND
        backend = self._to_backend.get(name)
        if backend is not None:
            return backend
        if name in self._renamed:
            return TOOL_NOT_FOUND
        return name

    # -- tools/list ---------------------------------------------------------------------------

    def visible_tools(self, tools: list[Any]) -> list[Any] | None:
        """``tools`` as clients may see them; ``None`` when unchanged.

        Raises :class:`ValueError` for a tool without a name: such a list cannot be filtered,
        and passing it on unfiltered would show what the filter hides (ToolHive fails closed too).
        """
        out: list[Any] = []
        changed = False
        for tool in tools:
            name = tool.get("name") if isinstance(tool, dict) else None
            if not isinstance(name, str) or not name:
                raise ValueError("a tool in the server's list has no name")
            override = self._overrides.get(name)
            visible = override.name if override is not None and override.name else name
            hidden = (self._allowed is not None and visible not in self._allowed) or (
                visible == name and name in self._to_backend
            )
            if hidden:
                changed = True
                continue
            if override is not None:
                tool = dict(tool)
                if override.name:
                    tool["name"] = override.name
                if override.description:
                    tool["description"] = override.description
                changed = True
            out.append(tool)
        return out if changed else None

    def rewrite_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """A JSON-RPC answer carrying ``result.tools`` with the policy applied (ToolHive finds
        tool lists by this shape, whatever request they answer); ``None`` for anything else."""
        result = message.get("result")
        if not isinstance(result, dict):
            return None
        tools = result.get("tools")
        if not isinstance(tools, list):
            return None
        try:
            visible = self.visible_tools(tools)
        except ValueError as exc:
            error = {"code": INTERNAL_ERROR, "message": f"Internal error: {exc}"}
            return {"jsonrpc": "2.0", "id": message.get("id"), "error": error}
        if visible is None:
            return None
        return {**message, "result": {**result, "tools": visible}}

    def unknown_names(self, tools: list[Any]) -> list[str]:
        """Configured names a complete backend list does not have: filter entries by their
        visible name, override keys by the backend name."""
        backend = {t.get("name") for t in tools if isinstance(t, dict)}
        visible = {self._overrides[n].name or n if n in self._overrides else n for n in backend}
        missing = [n for n in self._overrides if n not in backend]
        if self._allowed is not None:
            missing += sorted(n for n in self._allowed if n not in visible)
        return list(dict.fromkeys(missing))
