"""A parsed :class:`Template` and its executor: Go's ``text/template`` semantics over plain data
(statements, pipelines, the built-in functions and ToolHive's ``json``/``fromJson``/``quote``),
bounded in steps and output."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote_plus

from toolhive.vmcp.gotemplate.errors import TemplateError
from toolhive.vmcp.gotemplate.gofmt import (
    NO_VALUE,
    go_json,
    go_quote,
    go_sprint,
    go_sprintf,
    go_type_name,
    html_escape,
    js_escape,
    print_value,
    sprint,
)
from toolhive.vmcp.gotemplate.limits import MAX_OUTPUT, MAX_STEPS
from toolhive.vmcp.gotemplate.tree import (
    Action,
    Branch,
    Chain,
    Command,
    Dot,
    Field,
    Ident,
    Literal,
    LoopControl,
    Node,
    Pipe,
    Text,
    Var,
    node_src,
)


# Template lives with its executor (parser.py builds it) so that the parser depends on the
# executor and never the other way round.
@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template; :meth:`execute` runs it over data."""

    name: str
    source: str
    root: tuple[Node, ...]

    def execute(self, data: Any, *, max_output: int = MAX_OUTPUT) -> str:
        """The template's text for ``data`` (the value of ``.`` and ``$``)."""
        return _Exec(self, data, max_output).run()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def _indirect(value: Any) -> Any:
    """Go's ``indirectInterface``: a JSON null is a missing value."""
    return NO_VALUE if value is None else value


def _kind(value: Any) -> str:
    if value is NO_VALUE or value is None:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def truth(value: Any) -> bool:
    """Go's ``template.IsTrue``."""
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _as_index(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class _Exec:
    def __init__(self, tmpl: Template, data: Any, max_output: int) -> None:
        self.tmpl = tmpl
        self.data = data
        self.max_output = max_output
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.funcs: dict[str, Callable[[Node, list[Any]], Any]] = {
            "not": lambda n, a: not truth(self._one(n, "not", a)),
            "eq": self._eq,
            "ne": lambda n, a: not self._eq(n, self._exactly(n, "ne", a, 2)),
            "lt": lambda n, a: self._less(n, "lt", a) < 0,
            "le": lambda n, a: self._less(n, "le", a) <= 0,
            "gt": lambda n, a: self._less(n, "gt", a) > 0,
            "ge": lambda n, a: self._less(n, "ge", a) >= 0,
            "index": self._index,
            "slice": self._slice,
            "len": self._len,
            "print": lambda n, a: sprint(self._anys(a)),
            "println": lambda n, a: " ".join(go_sprint(x) for x in self._anys(a)) + "\n",
            "printf": self._printf,
            "html": lambda n, a: html_escape(self._escaper_arg(a)),
            "js": lambda n, a: js_escape(self._escaper_arg(a)),
            "urlquery": lambda n, a: quote_plus(self._escaper_arg(a), safe=""),
            "call": self._call,
            "json": self._json,
            "fromJson": self._from_json,
            "quote": lambda n, a: go_quote(self._string_arg(n, "quote", self._one(n, "quote", a))),
        }

    def fail(self, node: Node, message: str) -> _ExecError:
        return _ExecError(node, message)

    def run(self) -> str:
        try:
            self._walk_list(self.tmpl.root, self.data)
        except _ExecError as exc:
            raise TemplateError(
                self.tmpl.name,
                self.tmpl.source,
                exc.node.pos,
                f"executing {self.tmpl.name!r} at <{node_src(exc.node)}>: {exc.message}",
            ) from None
        except RecursionError:  # data nested deeper than Python can print (a backend's answer)
            raise TemplateError(
                self.tmpl.name, self.tmpl.source, 0, "value nested too deeply to evaluate"
            ) from None
        except (_Break, _Continue):  # the parser refuses them outside range; defensive
            raise TemplateError(
                self.tmpl.name, self.tmpl.source, 0, "{{break}} or {{continue}} outside {{range}}"
            ) from None
        return "".join(self.out)

    def _tick(self, node: Node) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.fail(node, f"template evaluation exceeds {MAX_STEPS} steps")

    def _write(self, node: Node, text: str) -> None:
        self.size += len(text)
        if self.size > self.max_output:
            raise self.fail(node, f"template output too large (max {self.max_output} bytes)")
        self.out.append(text)

    # -- statements

    def _walk_list(self, nodes: Sequence[Node], dot: Any) -> None:
        for node in nodes:
            self._tick(node)
            if isinstance(node, Text):
                self._write(node, node.text)
            elif isinstance(node, Action):
                mark = len(self.vars)
                value = self._pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self._write(node, print_value(value))
                else:
                    del self.vars[mark:]  # a declaration stays visible to the rest of the scope
                    self._declare(node.pipe, value)
            elif isinstance(node, Branch):
                self._branch(node, dot)
            elif isinstance(node, LoopControl):
                raise _Break() if node.kind == "break" else _Continue()

    def _declare(self, pipe: Pipe, value: Any) -> None:
        if pipe.assign:
            for k in range(len(self.vars) - 1, -1, -1):
                if self.vars[k][0] == pipe.decl[0]:
                    self.vars[k] = (pipe.decl[0], value)
                    return
            raise self.fail(pipe, f"undefined variable: {pipe.decl[0]}")
        self.vars.append((pipe.decl[0], value))

    def _branch(self, node: Branch, dot: Any) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self._range(node, dot)
                return
            value = self._eval_pipe_raw(node.pipe, dot)
            if node.pipe.decl:
                self._declare(node.pipe, value)
            if truth(value):
                self._walk_list(node.body, value if node.kind == "with" else dot)
            else:
                self._walk_list(node.orelse, dot)
        finally:
            del self.vars[mark:]

    def _range(self, node: Branch, dot: Any) -> None:
        value = _indirect(self._eval_pipe_raw(node.pipe, dot))
        pairs: Iterator[tuple[Any, Any]]
        if value is NO_VALUE:
            pairs = iter(())
        elif isinstance(value, Mapping):
            pairs = ((k, value[k]) for k in sorted(value, key=str))
        elif isinstance(value, list | tuple):
            pairs = iter(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = ((i, i) for i in range(max(value, 0)))
        else:
            raise self.fail(node.pipe, f"range can't iterate over {go_sprint(value)}")
        decl = node.pipe.decl
        ran = False
        for key, elem in pairs:
            ran = True
            self._tick(node)
            mark = len(self.vars)
            if len(decl) == 1:
                self.vars.append((decl[0], elem))
            elif len(decl) == 2:
                self.vars.append((decl[0], key))
                self.vars.append((decl[1], elem))
            try:
                self._walk_list(node.body, elem)
            except _Break:
                del self.vars[mark:]
                break
            except _Continue:
                pass
            del self.vars[mark:]
        if not ran:
            self._walk_list(node.orelse, dot)

    # -- expressions

    def _pipe(self, pipe: Pipe, dot: Any) -> Any:
        value = self._eval_pipe_raw(pipe, dot)
        return value

    def _eval_pipe_raw(self, pipe: Pipe, dot: Any) -> Any:
        value: Any = _MISSING_FINAL
        for cmd in pipe.cmds:
            value = self._command(cmd, dot, value)
        return _indirect(value)

    def _command(self, cmd: Command, dot: Any, final: Any) -> Any:
        self._tick(cmd)
        first = cmd.args[0]
        if isinstance(first, Ident):
            return self._call_func(first, cmd.args[1:], dot, final)
        if len(cmd.args) > 1 or final is not _MISSING_FINAL:
            raise self.fail(first, f"can't give argument to non-function {node_src(first)}")
        if isinstance(first, Literal) and first.value is None:
            raise self.fail(first, "nil is not a command")
        return self._arg(first, dot)

    def _arg(self, node: Node, dot: Any) -> Any:
        if isinstance(node, Field):
            return self._fields(node, dot, node.names)
        if isinstance(node, Var):
            return self._fields(node, self._var(node), node.names)
        if isinstance(node, Chain):
            return self._fields(node, self._arg(node.node, dot), node.names)
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Pipe):
            mark = len(self.vars)
            try:
                return self._eval_pipe_raw(node, dot)
            finally:
                del self.vars[mark:]
        if isinstance(node, Ident):
            return self._call_func(node, [], dot, _MISSING_FINAL)
        raise self.fail(node, "can't evaluate operand")

    def _var(self, node: Var) -> Any:
        for name, value in reversed(self.vars):
            if name == node.name:
                return value
        raise self.fail(node, f"undefined variable: {node.name}")

    def _fields(self, node: Node, value: Any, names: Sequence[str]) -> Any:
        for name in names:
            if value is NO_VALUE or value is None:
                value = NO_VALUE  # Go: a missing key's fields are missing too (not an error)
            elif isinstance(value, Mapping):
                value = value.get(name, NO_VALUE)
            else:
                raise self.fail(node, f"can't evaluate field {name} in type {go_type_name(value)}")
        return value

    def _call_func(self, ident: Ident, args: Sequence[Node], dot: Any, final: Any) -> Any:
        name = ident.name
        if name in ("and", "or"):
            # Go evaluates and/or lazily, left to right, and returns the deciding operand.
            operands = list(args)
            if not operands and final is _MISSING_FINAL:
                raise self.fail(ident, f"wrong number of args for {name}: want at least 1 got 0")
            result: Any = NO_VALUE
            for k in range(len(operands) + (final is not _MISSING_FINAL)):
                result = self._arg(operands[k], dot) if k < len(operands) else final
                decided = not truth(result) if name == "and" else truth(result)
                if decided:
                    return result
            return result
        values = [self._arg(a, dot) for a in args]
        if final is not _MISSING_FINAL:
            values.append(final)
        try:
            return self.funcs[name](ident, values)
        except _ExecError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise self.fail(ident, f"error calling {name}: {exc}") from None

    # -- functions

    def _one(self, node: Node, name: str, args: list[Any]) -> Any:
        return self._exactly(node, name, args, 1)[0]

    def _exactly(self, node: Node, name: str, args: list[Any], n: int) -> list[Any]:
        if len(args) != n:
            raise self.fail(node, f"wrong number of args for {name}: want {n} got {len(args)}")
        return args

    @staticmethod
    def _anys(args: Sequence[Any]) -> list[Any]:
        """Arguments to a Go ``...any`` parameter: a missing value becomes nil."""
        return [None if a is NO_VALUE else a for a in args]

    def _string_arg(self, node: Node, name: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        if value is NO_VALUE or value is None:
            raise self.fail(node, "invalid value; expected string")
        raise self.fail(node, f"wrong type for value; expected string; got {go_type_name(value)}")

    def _escaper_arg(self, args: list[Any]) -> str:
        if len(args) == 1 and isinstance(args[0], str):
            return args[0]
        return sprint(self._anys(args))

    def _eq(self, node: Node, args: list[Any]) -> bool:
        if len(args) < 2:
            raise self.fail(node, "missing argument for comparison")
        a = _indirect(args[0])
        ka = _kind(a)
        for b in args[1:]:
            b = _indirect(b)
            kb = _kind(b)
            if ka != kb:
                if ka != "invalid" and kb != "invalid":
                    raise self.fail(node, "error calling eq: incompatible types for comparison")
                continue
            if ka == "other":
                raise self.fail(node, "error calling eq: non-comparable types")
            if ka == "invalid" or a == b:
                return True
        return False

    def _less(self, node: Node, name: str, args: list[Any]) -> int:
        a, b = (_indirect(x) for x in self._exactly(node, name, args, 2))
        ka, kb = _kind(a), _kind(b)
        if ka not in ("number", "string") or kb not in ("number", "string"):
            raise self.fail(node, f"error calling {name}: invalid type for comparison")
        if ka != kb:
            raise self.fail(node, f"error calling {name}: incompatible types for comparison")
        if ka == "string":
            a, b = a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
        return -1 if a < b else (1 if a > b else 0)

    def _index(self, node: Node, args: list[Any]) -> Any:
        if not args:
            raise self.fail(node, "wrong number of args for index: want at least 1 got 0")
        item = _indirect(args[0])
        if item is NO_VALUE:
            raise self.fail(node, "error calling index: index of untyped nil")
        for key in args[1:]:
            if item is NO_VALUE:
                raise self.fail(node, "error calling index: index of nil pointer")
            if isinstance(item, Mapping):
                if not isinstance(key, str):
                    raise self.fail(
                        node,
                        f"error calling index: value has type {go_type_name(key)}; should be string",
                    )
                item = _indirect(item.get(key, NO_VALUE))
            elif isinstance(item, list | tuple | str):
                i = _as_index(key)
                if i is None:
                    raise self.fail(
                        node,
                        f"error calling index: cannot index slice/array with type {go_type_name(key)}",
                    )
                seq: Sequence[Any] = (
                    item.encode("utf-8", "surrogatepass") if isinstance(item, str) else item
                )
                if not 0 <= i < len(seq):
                    raise self.fail(node, f"error calling index: index out of range: {i}")
                item = _indirect(seq[i])
            else:
                raise self.fail(
                    node, f"error calling index: can't index item of type {go_type_name(item)}"
                )
        return item

    def _slice(self, node: Node, args: list[Any]) -> Any:
        if not args:
            raise self.fail(node, "wrong number of args for slice: want at least 1 got 0")
        item = _indirect(args[0])
        if len(args) > 4:
            raise self.fail(node, "error calling slice: too many slice indexes")
        if not isinstance(item, list | tuple | str):
            raise self.fail(
                node, f"error calling slice: can't slice item of type {go_type_name(item)}"
            )
        if isinstance(item, str) and len(args) == 4:
            raise self.fail(node, "error calling slice: cannot 3-index slice a string")
        seq: Any = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else list(item)
        idx: list[int] = []
        for a in args[1:]:
            i = _as_index(a)
            if i is None:
                raise self.fail(
                    node,
                    f"error calling slice: cannot index slice/array with type {go_type_name(a)}",
                )
            idx.append(i)
        lo = idx[0] if idx else 0
        hi = idx[1] if len(idx) > 1 else len(seq)
        cap = idx[2] if len(idx) > 2 else len(seq)
        if not 0 <= lo <= hi <= cap <= len(seq):
            raise self.fail(
                node, f"error calling slice: index out of range: {hi if hi > len(seq) else lo}"
            )
        part = seq[lo:hi]
        return part.decode("utf-8", "replace") if isinstance(item, str) else part

    def _len(self, node: Node, args: list[Any]) -> int:
        item = _indirect(self._one(node, "len", args))
        if isinstance(item, str):
            return len(item.encode("utf-8", "surrogatepass"))  # Go: bytes
        if isinstance(item, list | tuple | Mapping):
            return len(item)
        if item is NO_VALUE:
            raise self.fail(node, "error calling len: len of nil pointer")
        raise self.fail(node, f"error calling len: len of type {go_type_name(item)}")

    def _printf(self, node: Node, args: list[Any]) -> str:
        if not args:
            raise self.fail(node, "wrong number of args for printf: want at least 1 got 0")
        fmt = self._string_arg(node, "printf", args[0])
        return go_sprintf(fmt, self._anys(args[1:]))

    def _call(self, node: Node, args: list[Any]) -> Any:
        raise self.fail(node, "error calling call: call of non-function (no functions in data)")

    def _json(self, node: Node, args: list[Any]) -> str:
        value = self._one(node, "json", args)
        try:
            text = go_json(value)
        except ValueError as exc:
            raise self.fail(node, f"error calling json: failed to encode JSON: {exc}") from None
        return text

    def _from_json(self, node: Node, args: list[Any]) -> Any:
        text = self._string_arg(node, "fromJson", self._one(node, "fromJson", args))
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self.fail(
                node, f"error calling fromJson: failed to unmarshal JSON: {exc}"
            ) from None


class _Final:
    """No value piped in (distinct from a missing value)."""


_MISSING_FINAL: Final = _Final()
