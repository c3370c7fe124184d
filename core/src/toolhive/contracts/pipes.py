"""A :class:`~toolhive.contracts.runtime.StdioChannel` over a local child process's pipes.

Separate from :mod:`toolhive.contracts.runtime` because it imports :mod:`asyncio`: a runtime
plugin imports it when it attaches, never at hook time.
"""

from toolhive.transports.pipes import LINE_LIMIT, PipeChannel

__all__ = ["LINE_LIMIT", "PipeChannel"]
