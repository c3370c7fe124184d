"""Registry errors a user can cause or fix (all :class:`~toolhive.errors.ToolHiveError`)."""

from __future__ import annotations

from toolhive.errors import InvalidInputError, NotFoundError, ToolHiveError


class RegistryError(ToolHiveError):
    """A registry document is broken or a registry cannot be reached."""

    http_status = 502


class RegistryUnavailableError(RegistryError):
    """A remote registry did not answer (in time) or answered with an error."""

    http_status = 504


class RegistryAuthRequiredError(RegistryError):
    """The registry needs an OAuth login that is missing, expired or refused; the message says
    what to run. (HTTP 503: ``thv serve`` itself lacks the registry credential.)"""

    http_status = 503


class ServerNotFoundError(NotFoundError):
    """No registry entry has this name."""


class AmbiguousServerError(InvalidInputError):
    """A short name matches several registry entries."""

    def __init__(self, name: str, candidates: list[str]) -> None:
        self.candidates = candidates
        super().__init__(
            f"{name!r} matches {len(candidates)} registry servers: {', '.join(candidates)}; "
            "use the full name"
        )
