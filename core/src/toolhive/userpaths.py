"""Paths a user gives (flags, REST bodies, config files), read safely.

``Path("~someone").expanduser()`` raises ``RuntimeError`` when no user ``someone`` exists — an
internal error for what is only a bad input. :func:`expand_user` makes it an
:class:`~toolhive.errors.InvalidInputError` naming the flag or field. :func:`read_user_file`
reads a small text file the user named without following it into a device or a pipe (``/dev/zero``
would fill the memory, a FIFO would block the request forever).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from toolhive.errors import InvalidInputError

#: The most a configuration file the user names (authz policy, audit config, tools override …)
#: may hold. Far above any real one; a bigger file is a wrong path, not a policy.
MAX_USER_FILE = 4 * 1024 * 1024


def expand_user(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; ``what`` (``--authz-config``,
    ``volumes``) names the input in the error when ``~user`` is no user here."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "Could not determine home directory."
        head = str(path).split("/", 1)[0]
        msg = (
            f"{what} {str(path)!r}: {head!r} names no user on this machine; "
            "give an absolute path (or ~/… for your own home)"
        )
        raise InvalidInputError(msg) from None


def read_user_file(path: str, what: str) -> str:
    """The UTF-8 text of the regular file ``path`` (at most :data:`MAX_USER_FILE` bytes)."""
    target = expand_user(path, what)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        msg = f"{what} {path}: no such file"
        raise InvalidInputError(msg) from None
    except OSError as exc:
        msg = f"{what} {path}: cannot read it ({exc})"
        raise InvalidInputError(msg) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            msg = f"{what} {path}: not a regular file"
            raise InvalidInputError(msg)
        data = _read_at_most(fd, MAX_USER_FILE + 1)
    except OSError as exc:
        msg = f"{what} {path}: cannot read it ({exc})"
        raise InvalidInputError(msg) from None
    finally:
        os.close(fd)
    if len(data) > MAX_USER_FILE:
        msg = f"{what} {path}: larger than {MAX_USER_FILE // (1024 * 1024)} MiB"
        raise InvalidInputError(msg)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{what} {path}: cannot read it ({exc})"
        raise InvalidInputError(msg) from None


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(1 << 20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
