"""Secret names and ``--secret NAME,target=ENV`` references.

Names starting with ``__thv_`` are ToolHive's own (OAuth client secrets, tokens …): user commands
refuse them unless ``--system`` is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from toolhive.errors import InvalidInputError

SYSTEM_PREFIX = "__thv_"
#: ToolHive's syntax (``pkg/secrets/types.go``).
REFERENCE = re.compile(r"^([^,]+),target=(.+)$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_system(name: str) -> bool:
    return name.startswith(SYSTEM_PREFIX)


def check_user_name(name: str, *, system: bool = False) -> str:
    """A name a user command may touch: not empty; ``__thv_*`` only with ``--system``."""
    if not name or not name.strip():
        msg = "secret name cannot be empty"
        raise InvalidInputError(msg)
    if is_system(name) and not system:
        msg = f"secret names starting with {SYSTEM_PREFIX!r} are reserved for ToolHive"
        raise InvalidInputError(msg + " (use --system to manage them)")
    if system and not is_system(name):
        msg = (
            f"--system applies to ToolHive's own secrets, whose names start with {SYSTEM_PREFIX!r}"
        )
        raise InvalidInputError(msg)
    return name


@dataclass(frozen=True)
class SecretReference:
    """``NAME,target=ENV``: put secret ``NAME`` in the server's environment as ``ENV``."""

    name: str
    target: str

    def __str__(self) -> str:
        return f"{self.name},target={self.target}"


def parse_reference(text: str) -> SecretReference:
    match = REFERENCE.match(text)
    if match is None:
        msg = f"invalid --secret {text!r}: expected NAME,target=ENV_VAR"
        raise InvalidInputError(msg)
    name, target = match.group(1).strip(), match.group(2).strip()
    if not ENV_NAME.match(target):
        msg = f"invalid --secret {text!r}: {target!r} is not an environment variable name"
        raise InvalidInputError(msg)
    if is_system(name):
        msg = f"invalid --secret {text!r}: names starting with {SYSTEM_PREFIX!r} are reserved"
        raise InvalidInputError(msg)
    return SecretReference(name, target)


def parse_references(items: list[str]) -> list[SecretReference]:
    refs = [parse_reference(item) for item in items]
    targets = [r.target for r in refs]
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        msg = f"--secret: more than one secret targets {dupes[0]}"
        raise InvalidInputError(msg)
    return refs
