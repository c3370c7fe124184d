"""What the user ran (``DeployRequest.image``) → a package to install or a command to execute.

``uvx://pkg[@ver]`` is the Python package ``pkg`` (what ``uv tool run --from 'pkg==ver' pkg`` runs),
``npx://pkg[@ver]`` the npm package ``pkg`` (what ``npx -y pkg@ver`` runs); anything else is a plain
command: the image is the executable and ``DeployRequest.command`` its arguments.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from toolhive.contracts import ImageNotFoundError, InvalidInputError
from toolhive.contracts.runtime import parse_ref

Scheme = Literal["uvx", "npx"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class PackageRef:
    """A package from a protocol scheme, e.g. ``uvx://mcp-server-time@2025.1.0``."""

    scheme: Scheme
    name: str
    version: str | None = None

    @property
    def executable(self) -> str:
        """The command the package is expected to provide (as ``uvx``/``npx`` choose it)."""
        if self.scheme == "uvx":
            return self.name.split("[", 1)[0]
        return self.name.rsplit("/", 1)[-1]

    @property
    def requirement(self) -> str:
        """The installer's spelling: ``pkg==ver`` for uv, ``pkg@ver`` for npm."""
        if self.version is None:
            return self.name
        return (
            f"{self.name}=={self.version}"
            if self.scheme == "uvx"
            else f"{self.name}@{self.version}"
        )

    def equivalent_command(self, args: list[str]) -> list[str]:
        """The command a user would type to run this package by hand (shown in messages)."""
        if self.scheme == "uvx":
            return ["uv", "tool", "run", "--from", self.requirement, self.executable, *args]
        return ["npx", "-y", self.requirement, *args]

    def __str__(self) -> str:
        suffix = f"@{self.version}" if self.version else ""
        return f"{self.scheme}://{self.name}{suffix}"


@dataclass(frozen=True)
class PlainCommand:
    """An executable named by the user (a name looked up on ``PATH``, or a path)."""

    executable: str


Launch = PackageRef | PlainCommand


def parse_image(image: str) -> Launch:
    """Split ``image`` into a package reference or a plain command; reject malformed packages."""
    match = _SCHEME.match(image)
    if match and match.group(1) in ("uvx", "npx"):
        # The same validation as container builds of these schemes.
        ref = parse_ref(image)
        scheme: Scheme = "uvx" if ref.scheme == "uvx" else "npx"
        return PackageRef(scheme, ref.package, ref.version or None)
    if match:
        scheme_name = match.group(1)
        msg = (
            f"{image!r}: the process runtime runs uvx://, npx:// or a local command, "
            f"not {scheme_name}://; use a container runtime for other schemes"
        )
        raise InvalidInputError(msg)
    if not image.strip():
        raise InvalidInputError("no command given to run")
    return PlainCommand(image)


def resolve_executable(command: PlainCommand, path_env: str | None) -> str:
    """The absolute path of a plain command, or :class:`ImageNotFoundError` saying what to do."""
    exe = command.executable
    found = shutil.which(exe, path=path_env)
    if found is None:
        where = "does not exist or is not executable" if os.sep in exe else "was not found on PATH"
        msg = f"command {exe!r} {where}; install it or give the full path to the server executable"
        raise ImageNotFoundError(msg)
    return str(Path(found).absolute())


def display(argv: list[str]) -> str:
    """A copy-pasteable rendering of ``argv``."""
    return shlex.join(argv)
