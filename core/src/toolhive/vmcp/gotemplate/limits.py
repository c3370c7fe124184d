"""The bounds on a template's work and size (ToolHive's where it has one)."""

from __future__ import annotations

from typing import Final

#: ToolHive's bound on one template's output (``maxTemplateOutputSize``).
MAX_OUTPUT: Final = 10 * 1024 * 1024
#: Evaluation steps one execution may take (nodes, loop turns): bounds CPU as MAX_OUTPUT bounds memory.
MAX_STEPS: Final = 2_000_000
#: ToolHive's bound on the nesting of the values it expands (``maxTemplateDepth``).
MAX_VALUE_DEPTH: Final = 100
#: Nesting of parentheses and control structures a template may have.
MAX_PARSE_DEPTH: Final = 100
