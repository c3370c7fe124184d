"""The results of a composite tool's steps: a backend's CallToolResult as templates see it
(:func:`content_to_map`, :func:`error_message`), a step's recorded state (:class:`StepResult`) and
the ``isError`` result a failed workflow returns (:func:`error_result`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def content_to_map(content: Any) -> dict[str, Any]:
    """A CallToolResult's content as ToolHive's templates see it (``ContentArrayToMap``)."""
    out: dict[str, Any] = {}
    if not isinstance(content, list):
        return out
    texts = images = resources = 0
    for item in content:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            out["text" if texts == 0 else f"text_{texts}"] = item.get("text", "")
            texts += 1
        elif kind == "image":
            out[f"image_{images}"] = item.get("data", "")
            images += 1
        elif kind == "resource":
            res = item.get("resource")
            res = res if isinstance(res, dict) else {}
            out["resource" if resources == 0 else f"resource_{resources}"] = (
                res.get("text") or res.get("blob") or ""
            )
            resources += 1
    return out


def error_message(result: Mapping[str, Any]) -> str:
    """What a backend's ``isError`` result says (ToolHive's ``extractErrorMessage``)."""
    content = result.get("content")
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text" and item.get("text"):
                return str(item["text"])
    structured = result.get("structuredContent")
    if isinstance(structured, dict):
        for key in ("error", "message", "text"):
            value = structured.get(key)
            if isinstance(value, str) and value:
                return value
    return "tool execution error"


def error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


@dataclass(slots=True)
class StepResult:
    """One step's state as templates and the output see it."""

    status: str  # running, completed, failed, skipped
    output: Any = None
    content: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    ended: float = 0.0

    def template_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "status": self.status,
            # A step without output is Go's nil map: its fields are missing, not an error.
            "output": self.output if self.output is not None else {},
            "content": self.content,
        }
        if self.error is not None:
            view["error"] = self.error
        return view
