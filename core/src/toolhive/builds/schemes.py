"""``uvx://pkg[@ver]``, ``npx://pkg[@ver]``, ``go://module[@ver]``, ``go://./path``: parsed and checked.

Everything that ends up in a Dockerfile is validated here against the package ecosystem's own
naming rules, so a reference can never smuggle shell or Dockerfile syntax into a build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from toolhive.errors import InvalidInputError

Scheme = Literal["uvx", "npx", "go"]
SCHEMES: tuple[Scheme, ...] = ("uvx", "npx", "go")

# PEP 508 names with optional extras; versions as PEP 440 allows (no operators: `@` means `==`).
_PYPI_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?$")
_PYPI_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$")
# npm's rules: lower case, optional @scope/, URL-safe characters; versions/tags/ranges kept simple.
_NPM_NAME = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_NPM_VERSION = re.compile(r"^[A-Za-z0-9^~<>=.*+_-]+$")
# Go module paths (host/path…) and versions (v1.2.3, pseudo-versions, latest, a branch).
_GO_MODULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]*(?:/[A-Za-z0-9._~-]+)*$")
_GO_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_GO_LOCAL = re.compile(r"^(?:\.|\.\.|\./.*|\.\./.*|/.*)$")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._/~+-]+$")


@dataclass(frozen=True)
class PackageRef:
    """A validated scheme reference. ``version`` is ``""`` when none was given."""

    scheme: Scheme
    package: str
    version: str = ""
    #: For ``go://./path``: the directory (absolute) that becomes the build context.
    local_path: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.local_path is not None

    @property
    def source(self) -> str:
        """The reference as typed (normalised): ``uvx://pkg@1.0``."""
        return f"{self.scheme}://{self.package}" + (f"@{self.version}" if self.version else "")

    def with_version(self, version: str) -> PackageRef:
        return PackageRef(self.scheme, self.package, version, self.local_path)

    @property
    def distribution(self) -> str:
        """The package name without extras (``pkg[a,b]`` → ``pkg``): what a registry knows."""
        return self.package.split("[", 1)[0]


def is_scheme(target: str) -> bool:
    return any(target.startswith(f"{s}://") for s in SCHEMES)


def _bad(ref: str, why: str, example: str) -> InvalidInputError:
    return InvalidInputError(f"invalid package reference {ref!r}: {why} (e.g. {example})")


def parse_ref(ref: str, *, cwd: Path | None = None) -> PackageRef:
    """Parse and validate ``ref``; raise :class:`InvalidInputError` saying what is wrong."""
    scheme, sep, rest = ref.partition("://")
    if not sep or scheme not in SCHEMES:
        msg = f"{ref!r} is not a package reference: use uvx://, npx:// or go://"
        raise InvalidInputError(msg)
    if not rest:
        raise _bad(ref, "no package named", f"{scheme}://name")
    if scheme == "uvx":
        name, _, version = rest.partition("@")
        if not _PYPI_NAME.match(name):
            raise _bad(ref, f"{name!r} is not a valid PyPI name", "uvx://mcp-server-time@2026.1.0")
        if (version and not _PYPI_VERSION.match(version)) or rest.endswith("@"):
            raise _bad(ref, f"{version!r} is not a valid version", "uvx://mcp-server-time@2026.1.0")
        return PackageRef("uvx", name, version)
    if scheme == "npx":
        # A scoped name starts with "@": the version separator is the *last* "@" after the first char.
        at = rest.rfind("@")
        name, version = (rest[:at], rest[at + 1 :]) if at > 0 else (rest, "")
        example = "npx://@modelcontextprotocol/server-everything@2025.1.1"
        if not _NPM_NAME.match(name) or len(name) > 214:
            raise _bad(ref, f"{name!r} is not a valid npm package name", example)
        if (at > 0 and not version) or (version and not _NPM_VERSION.match(version)):
            raise _bad(ref, f"{version!r} is not a valid version", example)
        return PackageRef("npx", name, version)
    if _GO_LOCAL.match(rest):
        base = (cwd or Path.cwd()).resolve()
        path = (base / rest).resolve()
        if not _SAFE_PATH.match(rest):
            raise _bad(ref, "the path has characters a build cannot take", "go://./cmd/server")
        if not path.is_dir():
            msg = f"{ref}: {path} is not a directory; give the path of a Go main package"
            raise InvalidInputError(msg)
        return PackageRef("go", rest, "", path)
    module, _, version = rest.partition("@")
    if not _GO_MODULE.match(module) or "." not in module.split("/", 1)[0]:
        raise _bad(ref, f"{module!r} is not a Go module path", "go://github.com/org/server@v1.2.0")
    if (rest.endswith("@")) or (version and not _GO_VERSION.match(version)):
        raise _bad(ref, f"{version!r} is not a valid version", "go://github.com/org/server@v1.2.0")
    return PackageRef("go", module, version)


def image_name_part(package: str) -> str:
    """ToolHive's ``PackageNameToImageName``: ``@scope/pkg`` → ``scope-pkg``, ``./cmd/x`` → ``cmd-x``."""
    name = package.removeprefix("./").removeprefix("../")
    name = re.sub(r"[^a-z0-9_-]", "-", name.lower())  # "/", "@", ".", "[", … → "-"
    name = re.sub(r"-{2,}", "-", name).strip("-")
    return name or "toolhive-container"


def default_tag(ref: PackageRef, now: datetime | None = None) -> str:
    """``toolhivelocal/<scheme>-<package>:<YYYYMMDDhhmmss>``, as ToolHive names its builds."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return f"toolhivelocal/{ref.scheme}-{image_name_part(ref.package)}:{stamp}"


_TAG = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)


def validate_tag(tag: str) -> str:
    if not _TAG.match(tag):
        msg = f"invalid image name {tag!r}: use lower-case name[:tag], e.g. my/server:1.0"
        raise InvalidInputError(msg)
    return tag
