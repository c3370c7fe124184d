"""``.thvignore``: gitignore-style patterns that hide files inside a workload's bind mounts.

A mounted host folder may carry a ``.thvignore`` (local patterns, for that folder); the global file
``$XDG_CONFIG_HOME/toolhive/thvignore`` (``~/.config/toolhive/thvignore``, as ToolHive) applies to
every mounted folder unless ``--ignore-globally=false``. A matching file or directory is hidden
inside the workload: runtimes cover a directory with an empty read-only tmpfs and a file with an
empty read-only file. What is matched is decided here, once, with no runtime in sight; each
runtime turns :class:`Overlay` values into its own mounts.

Pattern syntax (the gitignore subset that matters for hiding files): blank lines and ``#``
comments are skipped; ``*``, ``?``, ``[...]`` match within one path component and ``**`` across
components; a pattern with a ``/`` at its start or middle is relative to the mounted folder,
otherwise it matches a name at any depth; a trailing ``/`` matches only directories; ``!pattern``
shows again what an earlier pattern hid (not inside a hidden directory, as in git). Patterns are
read from the global file first, then the local one, so local lines win. Symbolic links are
matched as files and never followed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

IGNORE_FILE = ".thvignore"
#: Stop walking a mounted tree after this many entries (a whole home directory, say).
MAX_ENTRIES = 200_000


def global_file(environ: Mapping[str, str] | None = None) -> Path:
    """ToolHive's global ignore file: ``$XDG_CONFIG_HOME/toolhive/thvignore``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "toolhive" / "thvignore"


def read_patterns(path: Path) -> list[str]:
    """The patterns of one ignore file; none if it does not exist or cannot be read."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = (line.rstrip("\r\n").rstrip(" ") for line in text.splitlines())
    return [line for line in lines if line.strip() and not line.startswith("#")]


@dataclass(frozen=True)
class _Rule:
    pattern: str
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(body: str) -> str:
    """A gitignore glob (slashes already normalised) as a regular expression."""
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("/**", i) and i + 3 == len(body):
            out.append("/.*")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = body.find("]", i + 2)
            if end < 0:
                out.append(re.escape(c))
                i += 1
            else:
                inner = body[i + 1 : end].replace("\\", "\\\\")
                if inner.startswith("!"):
                    inner = "^" + inner[1:]
                out.append(f"[{inner}]")
                i = end + 1
        elif c == "\\" and i + 1 < len(body):
            out.append(re.escape(body[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _rule(pattern: str) -> _Rule:
    negate = pattern.startswith("!")
    body = pattern[1:] if negate else pattern
    if body.startswith("\\"):
        body = body[1:]  # "\#name", "\!name": literal first character
    dir_only = body.endswith("/")
    body = body.rstrip("/")
    anchored = "/" in body
    body = body.lstrip("/")
    regex = _translate(body)
    full = f"^{regex}$" if anchored else f"^(?:.*/)?{regex}$"
    return _Rule(pattern=pattern, regex=re.compile(full), negate=negate, dir_only=dir_only)


@dataclass(frozen=True)
class HiddenPath:
    """A path inside a mounted folder that a pattern hides."""

    #: Relative to the mounted folder, with ``/`` separators.
    relative: PurePosixPath
    is_dir: bool
    #: The pattern that hid it (for ``--print-resolved-overlays``).
    pattern: str


def hidden_paths(mount_source: Path, global_file: Path | None) -> list[HiddenPath]:
    """What to hide inside the host folder ``mount_source``: global patterns (from
    ``global_file``, if given), then the folder's own ``.thvignore``. Empty for a file mount."""
    if not mount_source.is_dir():
        return []
    patterns = read_patterns(global_file) if global_file is not None else []
    patterns += read_patterns(mount_source / IGNORE_FILE)
    rules = [_rule(p) for p in patterns if p not in ("!", "/")]
    if not rules:
        return []
    found: list[HiddenPath] = []
    seen = 0
    for root, dirs, files in os.walk(mount_source, followlinks=False):
        base = PurePosixPath(Path(root).relative_to(mount_source).as_posix())
        kept: list[str] = []
        for name in sorted(dirs):
            rel = base / name
            is_dir = not (Path(root) / name).is_symlink()
            hit = _match(rules, str(rel), is_dir=is_dir)
            if hit is not None:
                found.append(HiddenPath(relative=rel, is_dir=is_dir, pattern=hit))
            elif is_dir:
                kept.append(name)
        dirs[:] = kept  # never descend into a hidden directory
        for name in sorted(files):
            rel = base / name
            hit = _match(rules, str(rel), is_dir=False)
            if hit is not None:
                found.append(HiddenPath(relative=rel, is_dir=False, pattern=hit))
        seen += len(dirs) + len(files)
        if seen > MAX_ENTRIES:
            break
    return found


def _match(rules: list[_Rule], rel: str, *, is_dir: bool) -> str | None:
    """The pattern that hides ``rel`` (the last matching rule decides), or ``None``."""
    rel = rel.removeprefix("./")
    decided: _Rule | None = None
    for rule in rules:
        if rule.dir_only and not is_dir:
            continue
        if rule.regex.match(rel):
            decided = rule
    return None if decided is None or decided.negate else decided.pattern


@dataclass(frozen=True)
class Overlay:
    """One hidden path, where the workload sees it."""

    #: The path inside the workload (the mount's target joined with the hidden relative path).
    target: PurePosixPath
    #: The host path it hides.
    source: Path
    is_dir: bool
    pattern: str


def overlays(
    mounts: Iterable[tuple[str | Path, str | PurePosixPath]], *, global_file: Path | None
) -> list[Overlay]:
    """Every hidden path of every ``(host source, workload target)`` directory mount, in
    mount order; pass ``global_file=None`` for ``--ignore-globally=false``."""
    result: list[Overlay] = []
    seen: set[PurePosixPath] = set()
    for source, target in mounts:
        source_path = Path(source).expanduser()
        for hidden in hidden_paths(source_path, global_file):
            where = PurePosixPath(target) / hidden.relative
            if where in seen:
                continue
            seen.add(where)
            result.append(
                Overlay(
                    target=where,
                    source=source_path / hidden.relative,
                    is_dir=hidden.is_dir,
                    pattern=hidden.pattern,
                )
            )
    return result


def describe(items: Iterable[Overlay]) -> list[str]:
    """Lines for ``--print-resolved-overlays``."""
    return [
        f"{o.target}{'/' if o.is_dir else ''} (hides {o.source}, pattern {o.pattern!r}, "
        f"{'empty tmpfs' if o.is_dir else 'empty file'})"
        for o in items
    ]
