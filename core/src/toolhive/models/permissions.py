"""Permission profiles (ToolHive's JSON format) and the built-ins ``none`` and ``network``."""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolhive.errors import InvalidInputError, PermissionProfileError, format_validation_error
from toolhive.userpaths import expand_user


class OutboundNetwork(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    insecure_allow_all: bool = False
    allow_host: list[str] = Field(default_factory=list)
    allow_port: list[int] = Field(default_factory=list)


class InboundNetwork(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    allow_host: list[str] = Field(default_factory=list)


class NetworkPermissions(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    mode: str = ""
    outbound: OutboundNetwork = Field(default_factory=OutboundNetwork)
    inbound: InboundNetwork | None = None


_BAD_MOUNT = re.compile(r"(^|[/\\])\.\.([/\\]|$)|[\x00$`;&|<>]")


class PermissionProfile(BaseModel):
    """What a server may touch: host paths to mount read-only/read-write, and network access.

    Mount entries are ``/host/path`` (same path inside), ``/host:/ctr`` or ``volume://name:/ctr``.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)

    name: str = ""
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)
    network: NetworkPermissions | None = None
    privileged: bool = False

    @property
    def network_enabled(self) -> bool:
        """Whether the server may open any outbound connection at all."""
        out = self.network.outbound if self.network else None
        return bool(out and (out.insecure_allow_all or out.allow_host or out.allow_port))

    @property
    def network_unrestricted(self) -> bool:
        return bool(self.network and self.network.outbound.insecure_allow_all)

    def check_mounts(self) -> None:
        for entry in (*self.read, *self.write):
            if not entry or _BAD_MOUNT.search(entry):
                msg = f"permission profile {self.name or '(inline)'}: unsafe mount entry {entry!r}"
                raise PermissionProfileError(msg)
            # A runtime expands "~user/…" when it mounts: a user that does not exist is this
            # profile's error, said now (not a runtime's crash later).
            try:
                expand_user(entry.split(":", 1)[0], "mount entry")
            except InvalidInputError as exc:
                msg = f"permission profile {self.name or '(inline)'}: {exc}"
                raise PermissionProfileError(msg) from None


def builtin_profile(name: str) -> PermissionProfile | None:
    if name == "none":
        return PermissionProfile(
            name="none", network=NetworkPermissions(outbound=OutboundNetwork())
        )
    if name == "network":
        return PermissionProfile(
            name="network",
            network=NetworkPermissions(outbound=OutboundNetwork(insecure_allow_all=True)),
        )
    return None


BUILTIN_PROFILES = ("none", "network")


def load_profile(name_or_path: str) -> PermissionProfile:
    """Resolve ``none``, ``network`` or a JSON file path to a profile."""
    builtin = builtin_profile(name_or_path)
    if builtin is not None:
        return builtin
    path = expand_user(name_or_path, "permission profile")
    if not path.is_file():
        msg = (
            f"permission profile {name_or_path!r} is neither a built-in "
            f"({', '.join(BUILTIN_PROFILES)}) nor a JSON file"
        )
        raise PermissionProfileError(msg)
    try:
        profile = PermissionProfile.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        msg = f"permission profile file {path}: not a valid profile (not JSON: {exc})"
        raise PermissionProfileError(msg) from None
    except ValidationError as exc:
        msg = (
            f"permission profile file {path}: not a valid profile ({format_validation_error(exc)})"
        )
        raise PermissionProfileError(msg) from None
    profile.check_mounts()
    return profile
