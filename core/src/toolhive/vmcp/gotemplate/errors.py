"""The error a template raises when it does not parse or fails while running."""

from __future__ import annotations


class TemplateError(ValueError):
    """A template that does not parse or fails while running, located in its source."""

    def __init__(self, name: str, source: str, pos: int, message: str) -> None:
        line = source.count("\n", 0, pos) + 1
        col = pos - (source.rfind("\n", 0, pos) + 1) + 1
        self.name = name
        self.line = line
        self.col = col
        self.message = message
        super().__init__(f"template: {name}:{line}:{col}: {message}")
