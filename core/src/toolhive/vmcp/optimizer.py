"""The optimizer, ToolHive's Tier 1: only ``find_tool`` and ``call_tool`` are advertised.

``find_tool`` ranks the group's tools by keyword relevance with SQLite FTS5 (BM25, Porter
stemming) in an in-memory table that :meth:`ToolIndex.rebuild` refills on every list change;
``call_tool`` names one of them. Definitions, inputs and the ``find_tool`` output
(``{"tools": [...], "token_metrics": {...}}``, full tool definitions ranked best first) are
ToolHive's (``pkg/vmcp/optimizer``, ``pkg/vmcp/session/optimizerdec``).

Where this differs from ToolHive, deliberately: names are indexed as words (``get_weather`` and
``getWeather`` both as "get weather"), and parameter names/descriptions and a tool's title are
indexed too (ToolHive indexes name and description); common English words are dropped from the
query as well as ToolHive's list of schema words, and a query is read as words (letters and
digits), so no user text can reach FTS5's query syntax.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

FIND_TOOL_NAME: Final = "find_tool"
CALL_TOOL_NAME: Final = "call_tool"
#: ToolHive's ``maxToolsToReturn`` default (configurable 1..50).
DEFAULT_MAX_RESULTS: Final = 8
MAX_RESULTS_LIMIT: Final = 50

FIND_TOOL: Final[dict[str, Any]] = {
    "name": FIND_TOOL_NAME,
    "description": (
        "Find and return tools that can help accomplish the user's request. "
        "This searches available MCP server tools using semantic and keyword-based matching. "
        "Use this function when you need to: "
        "(1) discover what tools are available for a specific task, "
        "(2) find the right tool(s) before attempting to solve a problem, "
        "(3) check if required functionality exists in the current environment. "
        "Returns matching tools ranked by relevance including their names, descriptions, "
        "required parameters and schemas, plus token efficiency metrics showing "
        "baseline_tokens, returned_tokens, and savings_percent. "
        "Always call this before call_tool to discover the correct tool name and parameter schema."
    ),
    "inputSchema": {
        "type": "object",
        "properties": {
            "tool_description": {
                "type": "string",
                "description": (
                    "Description of the task or capability needed (e.g. 'web search', 'analyze "
                    "CSV file', 'send an email'). This is used for semantic similarity matching "
                    "against available tools."
                ),
            },
            "tool_keywords": {
                "type": "array",
                "items": {"type": "string"},
                "description": (
                    "Optional keywords driving the BM25 keyword-search arm (e.g. ['list', "
                    "'issues', 'github'] or ['SQL', 'query', 'postgres']). Semantic matching "
                    "always uses tool_description, so provide a complete description even when "
                    "supplying keywords."
                ),
            },
        },
        "required": ["tool_description"],
    },
}

CALL_TOOL: Final[dict[str, Any]] = {
    "name": CALL_TOOL_NAME,
    "description": (
        "Execute a specific tool with the provided parameters. "
        "Use this function to run a tool after identifying it with find_tool. "
        "Important: always use find_tool first to get the correct tool_name "
        "and parameter schema before calling this function."
    ),
    "inputSchema": {
        "type": "object",
        "properties": {
            "tool_name": {
                "type": "string",
                "description": (
                    "The name of the tool to execute (obtain this from find_tool results - it is "
                    "the tool's name field)"
                ),
            },
            "parameters": {
                "type": "object",
                "description": (
                    "Dictionary of arguments required by the tool. The structure must match the "
                    "tool's input schema as returned by find_tool."
                ),
            },
        },
        "required": ["tool_name", "parameters"],
    },
}

# fmt: off
#: ToolHive's ``problematicWords``: schema vocabulary too common in tool metadata to rank by.
_SCHEMA_WORDS: Final = frozenset({
    "name", "description", "schema", "input", "output", "type", "properties", "required",
    "title", "id", "tool", "server", "meta", "data", "content", "text", "value", "field",
    "column", "table", "index", "key", "primary",
})
#: Common English words that would otherwise match half of every description.
_STOP_WORDS: Final = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for",
    "from", "get", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my",
    "of", "on", "or", "please", "should", "so", "that", "the", "their", "then", "there", "these",
    "this", "those", "to", "use", "using", "want", "was", "we", "what", "when", "where", "which",
    "who", "why", "will", "with", "would", "you", "your",
})
# fmt: on
_DROPPED: Final = _SCHEMA_WORDS | _STOP_WORDS
#: Bounds on what one query may cost, whatever a client sends.
_MAX_QUERY_CHARS: Final = 4096
_MAX_TERMS: Final = 64
_MAX_PARAMS: Final = 64

_WORD = re.compile(r"[^\W_]+")


_ASCII_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def _split_case(chunk: str) -> list[str]:
    # Boundaries: lower→Upper (getWeather), UPPER→Upper+lower (HTTPServer), letter↔digit (v2).
    if chunk.isascii():
        return _ASCII_PARTS.findall(chunk)
    parts: list[str] = []
    start = 0
    n = len(chunk)
    for i in range(1, n):
        prev, cur = chunk[i - 1], chunk[i]
        if (
            (prev.islower() and cur.isupper())
            or (prev.isupper() and cur.isupper() and i + 1 < n and chunk[i + 1].islower())
            or (prev.isdigit() != cur.isdigit())
        ):
            parts.append(chunk[start:i])
            start = i
    parts.append(chunk[start:])
    return parts


@functools.lru_cache(maxsize=16384)
def _identifier_words(name: str) -> str:
    # Tool and parameter names repeat across rebuilds: split each once.
    return " ".join(words(name))


def words(text: str) -> list[str]:
    """``text`` as lower-case words: split on anything but letters and digits, and on case
    changes (``getHTTPResponse_v2`` → get, http, response, v, 2)."""
    return [part.lower() for chunk in _WORD.findall(text) for part in _split_case(chunk)]


def _match_expression(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression OR-ing the usable words of ``terms``, or "" if none is left."""
    seen: dict[str, None] = {}
    budget = _MAX_QUERY_CHARS
    for term in terms:
        budget -= len(term)
        if budget < 0:
            break
        for word in words(term):
            if word not in _DROPPED:
                seen.setdefault(word, None)
    # Words hold only letters and digits, so quoting is belt and braces, never an escape.
    return " OR ".join(f'"{w}"' for w in list(seen)[:_MAX_TERMS])


def _schema_text(schema: object) -> str:
    props = schema.get("properties") if type(schema) is dict else None
    if type(props) is not dict:
        return ""
    parts: list[str] = []
    for i, (pname, pschema) in enumerate(props.items()):
        if i >= _MAX_PARAMS:
            break
        parts.append(_identifier_words(str(pname)))
        if type(pschema) is dict and type(pschema.get("description")) is str:
            parts.append(pschema["description"])
    return " ".join(parts)


def _token_count(tool: Mapping[str, Any]) -> int:
    # ToolHive's estimate: the tool's JSON length in bytes over 4.
    try:
        return len(json.dumps(tool, separators=(",", ":")).encode()) // 4
    except (TypeError, ValueError):
        return 0


_CREATE: Final = (
    "CREATE VIRTUAL TABLE tools USING fts5("
    "name_words, description, params, tokenize='porter unicode61')"
)


class ToolIndex:
    """The tools ``find_tool`` searches: an in-memory FTS5 table rebuilt on every list change."""

    def __init__(self, max_results: int = DEFAULT_MAX_RESULTS) -> None:
        if not 1 <= max_results <= MAX_RESULTS_LIMIT:
            raise ValueError(f"maxToolsToReturn must be between 1 and {MAX_RESULTS_LIMIT}")
        self.max_results = max_results
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._db.execute(_CREATE)
        self._tools: list[dict[str, Any]] = []
        self._by_name: dict[str, dict[str, Any]] = {}
        self._schema_texts: dict[int, tuple[object, str]] = {}
        #: Estimated tokens per tool, counted on the first find_tool after a rebuild.
        self._tokens: dict[str, int] | None = {}
        self._baseline = 0

    def rebuild(self, tools: Sequence[dict[str, Any]]) -> None:
        """Index ``tools`` (advertised names; the first of a repeated name wins)."""
        kept: list[dict[str, Any]] = []
        by_name: dict[str, dict[str, Any]] = {}
        # Input schemas are the backends' own objects, unchanged until a backend lists anew:
        # their text is reused (keyed by identity, the object kept so its id stays unique).
        old_texts = self._schema_texts
        schema_texts: dict[int, tuple[object, str]] = {}
        rows: list[tuple[int, str, str, str]] = []
        for tool in tools:
            name = tool.get("name")
            if type(name) is not str or name in by_name:
                continue
            by_name[name] = tool
            description = tool.get("description")
            title = tool.get("title")
            text = " ".join(t for t in (title, description) if type(t) is str)
            schema = tool.get("inputSchema")
            cached = old_texts.get(id(schema))
            if cached is not None and cached[0] is schema:
                params = cached[1]
            else:
                params = _schema_text(schema)
            schema_texts[id(schema)] = (schema, params)
            rows.append((len(kept), _identifier_words(name), text, params))
            kept.append(tool)
        db = self._db
        db.execute("BEGIN")
        try:
            # A fresh table, not DELETE: deletes leave segments and tombstones every search
            # would walk (FTS5 merges them only later), so searches slowed with each rebuild.
            db.execute("DROP TABLE tools")
            db.execute(_CREATE)
            db.executemany(
                "INSERT INTO tools(rowid, name_words, description, params) VALUES (?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._tools = kept
        self._by_name = by_name
        self._schema_texts = schema_texts
        self._tokens = None

    def __len__(self) -> int:
        return len(self._tools)

    def get(self, name: str) -> dict[str, Any] | None:
        """The indexed tool called ``name``."""
        return self._by_name.get(name)

    def find(
        self,
        query: str,
        limit: int | None = None,
        *,
        keywords: Sequence[str] = (),
        allowed: Callable[[str], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """The best-matching tools, best first: full definitions as indexed.

        The keywords drive the search when any is usable, else the words of ``query`` (as
        ToolHive). ``allowed`` keeps only the tools a caller may see. Never raises on user text.
        """
        limit = self.max_results if limit is None else max(0, min(limit, MAX_RESULTS_LIMIT))
        expression = _match_expression(keywords) or _match_expression([query])
        if not expression or limit == 0 or not self._tools:
            return []
        # Column weights: a word of the name says most about a tool, a parameter least.
        sql = "SELECT rowid FROM tools WHERE tools MATCH ? ORDER BY bm25(tools, 2.0, 1.0, 0.25)"
        try:
            if allowed is None:
                rows = self._db.execute(sql + " LIMIT ?", (expression, limit)).fetchall()
            else:
                rows = self._db.execute(sql, (expression,)).fetchall()
        except sqlite3.Error:
            return []
        found: list[dict[str, Any]] = []
        for (rowid,) in rows:
            tool = self._tools[rowid]
            if allowed is not None and not allowed(tool["name"]):
                continue
            found.append(tool)
            if len(found) >= limit:
                break
        return found

    def token_metrics(self, names: Sequence[str]) -> dict[str, Any]:
        """ToolHive's ``token_metrics``: all tools' estimated tokens against the returned ones'."""
        tokens = self._tokens
        if tokens is None:
            tokens = self._tokens = {n: _token_count(t) for n, t in self._by_name.items()}
            self._baseline = sum(tokens.values())
        if self._baseline == 0:
            return {"baseline_tokens": 0, "returned_tokens": 0, "savings_percent": 0}
        returned = sum(tokens.get(n, 0) for n in names)
        savings = (self._baseline - returned) / self._baseline * 100
        return {
            "baseline_tokens": self._baseline,
            "returned_tokens": returned,
            "savings_percent": savings,
        }

    def close(self) -> None:
        self._db.close()

    def __del__(self) -> None:
        # Only an in-memory database: closing it with the index spares Python 3.13+'s
        # ResourceWarning for a connection left open.
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()


# ---------------------------------------------------------------------------------------- calls


class OptimizerInputError(ValueError):
    """``find_tool``/``call_tool`` arguments that do not fit their input schema."""


def parse_find_tool(arguments: object) -> tuple[str, list[str]]:
    """``find_tool``'s ``(tool_description, tool_keywords)``."""
    if arguments is None:
        arguments = {}
    if type(arguments) is not dict:
        raise OptimizerInputError("invalid arguments: find_tool arguments must be an object")
    description = arguments.get("tool_description")
    if description is not None and type(description) is not str:
        raise OptimizerInputError("invalid arguments: tool_description must be a string")
    if not description:
        raise OptimizerInputError("tool_description is required")
    keywords = arguments.get("tool_keywords")
    if keywords is None:
        keywords = []
    if type(keywords) is not list or any(type(k) is not str for k in keywords):
        raise OptimizerInputError("invalid arguments: tool_keywords must be an array of strings")
    return description, keywords


def parse_call_tool(arguments: object) -> tuple[str, dict[str, Any]]:
    """``call_tool``'s ``(tool_name, parameters)``.

    As ToolHive, a ``tool_name`` an LLM nested inside ``parameters`` is hoisted out when the
    top-level one is missing (a top-level name always wins, so a tool with its own ``tool_name``
    argument still works); missing ``parameters`` mean no arguments.
    """
    if arguments is None:
        arguments = {}
    if type(arguments) is not dict:
        raise OptimizerInputError("invalid arguments: call_tool arguments must be an object")
    name = arguments.get("tool_name")
    params = arguments.get("parameters")
    if name is not None and type(name) is not str:
        raise OptimizerInputError("invalid arguments: tool_name must be a string")
    if params is None:
        params = {}
    elif type(params) is not dict:
        raise OptimizerInputError("invalid arguments: parameters must be an object")
    if not name:
        nested = params.get("tool_name")
        if type(nested) is str and nested:
            name = nested
            params = {k: v for k, v in params.items() if k != "tool_name"}
    if not name:
        raise OptimizerInputError(
            'tool_name is required: call_tool expects {"tool_name": "<name from find_tool>", '
            f'"parameters": {{<tool arguments>}}}}, got parameters keys {sorted(params)}'
        )
    return name, params


def find_tool_output(
    index: ToolIndex,
    arguments: object,
    *,
    allowed: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """``find_tool``'s output, ``{"tools": [...], "token_metrics": {...}}``; raises
    :class:`OptimizerInputError` for bad arguments."""
    description, keywords = parse_find_tool(arguments)
    tools = index.find(description, keywords=keywords, allowed=allowed)
    return {
        "tools": tools,
        "token_metrics": index.token_metrics([t["name"] for t in tools]),
    }


def find_tool_result(
    index: ToolIndex,
    arguments: object,
    *,
    allowed: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """``find_tool``'s ``CallToolResult``: the output as JSON text and as structured content.

    Bad arguments give an error result (``isError``) as ToolHive, so the model can correct
    itself."""
    try:
        output = find_tool_output(index, arguments, allowed=allowed)
    except OptimizerInputError as exc:
        message = str(exc)
        if not message.startswith("invalid arguments"):
            message = f"find_tool failed: {message}"
        return error_result(message)
    text = json.dumps(output, separators=(",", ":"), ensure_ascii=False)
    return {"content": [{"type": "text", "text": text}], "structuredContent": output}


def error_result(message: str) -> dict[str, Any]:
    """A ``CallToolResult`` reporting ``message`` as a tool error."""
    return {"content": [{"type": "text", "text": message}], "isError": True}
