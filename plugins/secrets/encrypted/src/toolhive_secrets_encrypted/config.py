"""Settings from ``config.yaml`` ``plugins: {secrets: {encrypted: {...}}}``."""

from __future__ import annotations

from pydantic import Field
from toolhive.contracts import PluginConfig


class EncryptedConfig(PluginConfig):
    #: Store location; default ``$XDG_DATA_HOME/toolhive/secrets_encrypted``.
    path: str = ""
    #: How many times a password typed at the prompt may be wrong before giving up.
    password_attempts: int = Field(default=3, ge=1, le=10)
