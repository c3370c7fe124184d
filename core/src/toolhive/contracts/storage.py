"""Where a plugin keeps its files, and how it writes them safely.

ToolHive's directories follow XDG (``$XDG_STATE_HOME/toolhive`` …); a plugin keeps its own files
in a sub-folder named after itself. Writes go through :func:`write_atomic` (temporary file,
fsync, rename) and read-modify-write cycles hold :func:`locked`.
"""

from toolhive.state.atomic import locked, write_atomic
from toolhive.state.paths import cache_dir, config_dir, data_dir, server_log_path, state_dir

__all__ = [
    "cache_dir",
    "config_dir",
    "data_dir",
    "locked",
    "server_log_path",
    "state_dir",
    "write_atomic",
]
