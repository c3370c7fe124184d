"""The plugin commands of ``thv``'s root group, remembered between runs.

Listing plugin commands (``thv --help``, shell completion, resolving a plugin's command name) calls
``thv_cli_commands`` on every plugin, so it imports every plugin and the pydantic models they
declare: most of what ``thv --help`` used to cost. The table is saved in
``<cache>/toolhive/cli-commands.json`` together with what it was computed from:

- the interpreter, ``sys.path`` and the variables that select plugins (``TOOLHIVE_*PLUGIN*``);
- the modification time of every folder on ``sys.path`` (installing or removing a distribution
  adds or deletes its ``*.dist-info`` folder there);
- the modification time of the source of every plugin module and ``toolhive`` module that was
  imported to compute it (an editable plugin or core being edited).

A run where all of these match uses the table and imports no plugin; any difference recomputes
and saves it again. A table is saved only when every plugin loaded, so a broken plugin is
reported on every run until it is fixed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

#: name → (``"package.module:command"``, one-line help)
Table = dict[str, tuple[str, str]]

FILE_NAME = "cli-commands.json"
#: Variables that change which plugins load (see ``toolhive.plugins``).
SELECTING = (
    "TOOLHIVE_DISABLE_PLUGINS",
    "TOOLHIVE_LOAD_PLUGINS",
    "TOOLHIVE_DISABLE_PLUGIN_AUTOLOAD",
)


def cache_file() -> Path:
    from toolhive.state import paths

    return paths.cache_dir() / FILE_NAME


def _context() -> dict[str, object]:
    return {
        "python": sys.executable,
        "path": list(sys.path),
        "env": {var: os.environ.get(var) for var in SELECTING},
    }


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _files(module_files: Iterable[str]) -> dict[str, int | None]:
    folders = [p for p in sys.path if p and os.path.isdir(p)]
    return {path: _mtime(path) for path in sorted({*folders, *module_files})}


def load() -> Table | None:
    """The saved table if everything it was computed from is unchanged, else ``None``."""
    try:
        data = json.loads(cache_file().read_text())
        if data["context"] != _context():
            return None
        files: dict[str, int | None] = data["files"]
        if any(_mtime(path) != mtime for path, mtime in files.items()):
            return None
        return {name: (target, help_) for name, (target, help_) in data["commands"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def modules_under(packages: Iterable[str]) -> list[str]:
    """Source files of the loaded modules of ``packages`` (top-level names) and of ``toolhive``."""
    tops = {*packages, "toolhive"}
    files = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and name.split(".")[0] in tops:
            files.append(path)
    return files


def save(table: Table, module_files: Iterable[str]) -> None:
    """Remember ``table`` with what it depends on; a cache that cannot be written is skipped."""
    data = {
        "context": _context(),
        "files": _files(module_files),
        "commands": {name: list(entry) for name, entry in sorted(table.items())},
    }
    path = cache_file()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
