"""User-facing errors.

Anything a user can cause is a :class:`ToolHiveError` subclass whose message says what to do.
The CLI prints it on one line and exits with ``exit_code``; the REST API answers ``http_status``
with the message as the JSON body. Every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class ToolHiveError(Exception):
    """Base class for errors shown to the user as one line."""

    exit_code: int = 1
    http_status: int = 400


class InvalidInputError(ToolHiveError):
    """Bad flags, names, files or values supplied by the user."""


class NotFoundError(ToolHiveError):
    """A named workload, plugin, image or file does not exist."""

    http_status = 404


class AlreadyExistsError(ToolHiveError):
    """Creating something whose name is taken."""

    http_status = 409


class PortInUseError(ToolHiveError):
    """An explicitly requested port is already bound."""

    http_status = 409


class RuntimeUnavailableError(ToolHiveError):
    """No usable container engine or process sandbox."""

    http_status = 503


class ImageNotFoundError(NotFoundError):
    """An image is neither present locally nor pullable."""


class PermissionProfileError(InvalidInputError):
    """A permission profile is malformed or cannot be enforced by the chosen runtime."""


class WorkloadStateError(ToolHiveError):
    """An operation does not fit the workload's current state."""

    http_status = 409


class PluginError(ToolHiveError):
    """A plugin failed to load, clashes with another one, or is misconfigured."""

    http_status = 500


class DuplicatePluginError(PluginError):
    """Two plugins declare the same name for the same kind of extension."""


def format_validation_error(exc: ValidationError, prefix: Sequence[str | int] = ()) -> str:
    """One line for a pydantic error: ``where: message`` per problem, joined by ``; ``.

    ``where`` is the dotted key path under ``prefix`` (e.g. ``plugins.runtimes.docker.socket``),
    so the user can find the key in the file they wrote.
    """
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
