"""The store's password in the OS keyring (service and user ``toolhive``, as ToolHive).

Only a real OS keyring is used implicitly (Secret Service, macOS Keychain, Windows Credential
Locker …: priority ≥ 1). keyring's low-priority fallbacks, such as the plaintext file of
``keyrings.alt``, would keep the password in clear next to the store, so they are used only when
chosen explicitly (``PYTHON_KEYRING_BACKEND`` or keyring's ``keyringrc.cfg``).
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("toolhive.secrets.encrypted")

SERVICE = "toolhive"
USERNAME = "toolhive"


def backend() -> Any | None:
    """The keyring backend to use, or ``None`` when this machine has none."""
    import keyring.core

    explicit = keyring.core.load_env() or keyring.core.load_config()
    if explicit is not None:
        return None if _is_fail(explicit) else explicit
    chosen = keyring.get_keyring()
    try:
        usable = float(chosen.priority) >= 1
    except Exception:  # a backend whose priority probe fails is not viable
        usable = False
    return chosen if usable and not _is_fail(chosen) else None


def _is_fail(kr: Any) -> bool:
    from keyring.backends import fail

    return isinstance(kr, fail.Keyring)


def describe() -> str:
    kr = backend()
    return type(kr).__name__ if kr is not None else "none"


def get_password() -> str | None:
    kr = backend()
    if kr is None:
        return None
    from keyring.errors import KeyringError

    try:
        value = kr.get_password(SERVICE, USERNAME)
    except KeyringError as exc:
        log.warning("could not read the OS keyring (%s): %s", type(kr).__name__, exc)
        return None
    return value or None


def set_password(password: str) -> bool:
    kr = backend()
    if kr is None:
        return False
    from keyring.errors import KeyringError

    try:
        kr.set_password(SERVICE, USERNAME, password)
    except KeyringError as exc:
        log.warning("could not store the password in the OS keyring: %s", exc)
        return False
    return True


def delete_password() -> bool:
    """Forget the stored password; ``False`` if there was none (or no keyring)."""
    kr = backend()
    if kr is None:
        return False
    from keyring.errors import KeyringError, PasswordDeleteError

    try:
        kr.delete_password(SERVICE, USERNAME)
    except PasswordDeleteError:
        return False
    except KeyringError as exc:
        log.warning("could not reset the OS keyring: %s", exc)
        return False
    return True
