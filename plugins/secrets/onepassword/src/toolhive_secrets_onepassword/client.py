"""The narrow interface the provider needs from 1Password, and its ``onepassword-sdk`` version.

Keeping the SDK behind three calls lets the provider be tested without 1Password's cloud.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any, Protocol

from toolhive.contracts import __version__


@dataclass(frozen=True)
class Entry:
    id: str
    title: str


class OnePasswordAPI(Protocol):
    def resolve(self, reference: str) -> str:
        """The value an ``op://vault/item/field`` reference points to."""
        ...

    def vaults(self) -> list[Entry]: ...

    def items(self, vault_id: str) -> list[Entry]: ...


class SdkClient:
    """``onepassword-sdk`` (async) driven from synchronous code on a private event loop."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._loop = asyncio.new_event_loop()
        self._client: Any = None
        weakref.finalize(self, self._loop.close)

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def _sdk(self) -> Any:
        if self._client is None:
            from onepassword.client import Client

            self._client = self._run(
                Client.authenticate(
                    auth=self._token,
                    integration_name="ToolHive for Python",
                    integration_version=__version__,
                )
            )
        return self._client

    def resolve(self, reference: str) -> str:
        return str(self._run(self._sdk().secrets.resolve(reference)))

    def vaults(self) -> list[Entry]:
        return [Entry(v.id, v.title) for v in self._run(self._sdk().vaults.list())]

    def items(self, vault_id: str) -> list[Entry]:
        return [Entry(i.id, i.title) for i in self._run(self._sdk().items.list(vault_id))]
