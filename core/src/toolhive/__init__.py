"""ToolHive for Python: run MCP servers safely and make them easy to use.

Plugins import only :mod:`toolhive.contracts` (``from toolhive.contracts import hookimpl``).
"""

__version__ = "0.1.0"
#: Core's name on PyPI (``toolhive`` there is an unrelated project): what plugins depend on.
DISTRIBUTION = "toolhive-core"

__all__ = ["DISTRIBUTION", "__version__"]
