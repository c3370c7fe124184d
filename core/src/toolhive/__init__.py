"""ToolHive for Python: run MCP servers safely and make them easy to use.

Plugins import :data:`hookimpl` from here::

    from toolhive import hookimpl
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("toolhive")

__all__ = ["__version__", "hookimpl"]
