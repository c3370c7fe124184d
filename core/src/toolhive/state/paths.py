"""Where ToolHive keeps its files (XDG on Linux, ``~/Library/Application Support`` on macOS).

The ``XDG_*`` variables win on every platform, as in ToolHive (Go's ``adrg/xdg``), so tests and
users can relocate everything.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "toolhive"


def _base(var: str, linux_default: str) -> Path:
    value = os.environ.get(var)
    if value:
        return Path(value)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    return home / linux_default


def config_dir() -> Path:
    return _base("XDG_CONFIG_HOME", ".config") / APP


def data_dir() -> Path:
    return _base("XDG_DATA_HOME", ".local/share") / APP


def state_dir() -> Path:
    return _base("XDG_STATE_HOME", ".local/state") / APP


def cache_dir() -> Path:
    if sys.platform == "darwin" and not os.environ.get("XDG_CACHE_HOME"):
        return Path.home() / "Library" / "Caches" / APP
    return _base("XDG_CACHE_HOME", ".cache") / APP


def runconfig_path(base_name: str) -> Path:
    return state_dir() / "runconfigs" / f"{base_name}.json"


def status_path(base_name: str) -> Path:
    return data_dir() / "statuses" / f"{base_name}.json"


def pid_path(base_name: str) -> Path:
    return data_dir() / "pids" / f"toolhive-{base_name}.pid"


def proxy_log_path(base_name: str) -> Path:
    return data_dir() / "logs" / f"{base_name}.log"


def server_log_path(base_name: str) -> Path:
    """Output of a server run by a non-container runtime (containers keep their own logs)."""
    return data_dir() / "logs" / f"{base_name}.server.log"


def config_file() -> Path:
    return config_dir() / "config.yaml"
