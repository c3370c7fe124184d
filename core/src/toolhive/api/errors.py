"""Errors as the REST API answers them: a status and a JSON body whose message says what to do.

Every body is ``{"code": <status>, "message": "…"}`` (ToolHive's registry endpoints' shape, used for
all), plus ``"field"`` — the path of the offending field — when a request body or query does not
validate. Anything a client can cause is a :class:`~toolhive.errors.ToolHiveError` and maps to a
4xx here; a 500 means a bug, is logged with its traceback and says only that.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ValidationError

from toolhive.errors import ToolHiveError

log = logging.getLogger("toolhive.api")


class ErrorBody(BaseModel):
    """What every error response carries."""

    #: The HTTP status, or a machine-readable name where ToolHive sends one
    #: (``registry_auth_required``).
    code: int | str
    message: str
    #: The offending field's path (``env_vars.KEY``, ``secrets.0.name``) for a 400 on input.
    field: str | None = None


class ApiError(Exception):
    """Raised by a handler for an answer that is not a :class:`ToolHiveError`'s (405, 501 …)."""

    def __init__(
        self, status: int, message: str, field: str | None = None, *, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        #: A machine-readable ``code`` in place of the status (ToolHive's registry errors).
        self.code = code


def _status_of(exc: ToolHiveError) -> int:
    """The error's own ``http_status`` (each ToolHive error class declares one); what a secrets
    provider cannot do is a 405, as ToolHive answers."""
    from toolhive.contracts.secrets import UnsupportedOperationError

    if isinstance(exc, UnsupportedOperationError):
        return 405
    return int(getattr(exc, "http_status", 400))


def field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location)


def error_for(exc: BaseException) -> ApiError:
    """The answer for ``exc`` (logs the traceback of anything unexpected)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = field_path(tuple(first["loc"]))
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return ApiError(400, message, where or None)
    if isinstance(exc, ToolHiveError):
        return ApiError(_status_of(exc), str(exc))
    log.error("internal error in the API", exc_info=exc)
    return ApiError(500, "internal error: see the server's log (thv serve)")


def body_of(error: ApiError) -> dict[str, Any]:
    code: int | str = error.code or error.status
    return ErrorBody(code=code, message=error.message, field=error.field).model_dump(
        exclude_none=True
    )
