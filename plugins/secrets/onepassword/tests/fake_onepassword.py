"""A stand-in for 1Password behind the provider's narrow client interface (``OnePasswordAPI``).

1Password's cloud cannot be reached from this machine (only PyPI, npm and the Debian archive
are), and a service-account token cannot be had for tests, so the SDK itself cannot run here. This
fake implements the three calls the provider makes, resolving ``op://vault/item/field`` by titles
or IDs as 1Password does, with the SDK's failure modes (plain exceptions whose messages say what
went wrong). Everything above that interface is the real provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from toolhive_secrets_onepassword.client import Entry, OnePasswordAPI

TOKEN = "ops_good"


@dataclass
class FakeOnePassword:
    """Vaults of items of fields: ``data[(vault_id, title)][(item_id, title)][field] = value``."""

    data: dict[tuple[str, str], dict[tuple[str, str], dict[str, str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def connect(self, token: str) -> OnePasswordAPI:
        """The provider's ``client_factory``: authenticates like the SDK, returns the client."""
        if token != TOKEN:
            raise RuntimeError("invalid service account token")
        return self

    def put(self, reference: str, value: str) -> None:
        """Store ``value`` at ``op://vault/item/field`` (IDs are the titles in lower case)."""
        vault, item, name = reference.removeprefix("op://").split("/", 2)
        items = self.data.setdefault((vault.lower(), vault), {})
        items.setdefault((item.lower(), item), {})[name] = value

    def resolve(self, reference: str) -> str:
        self.calls.append(reference)
        vault, item, name = reference.removeprefix("op://").split("/", 2)
        for (vault_id, vault_title), items in self.data.items():
            if vault in {vault_id, vault_title}:
                for (item_id, item_title), fields in items.items():
                    if item in {item_id, item_title}:
                        if name in fields:
                            return fields[name]
                        msg = f"error resolving secret reference: field {name} not found"
                        raise RuntimeError(msg)
                raise RuntimeError("error resolving secret reference: no item matched the query")
        raise RuntimeError("error resolving secret reference: no vault matched the query")

    def vaults(self) -> list[Entry]:
        return [Entry(i, t) for i, t in self.data]

    def items(self, vault_id: str) -> list[Entry]:
        for (vid, _), items in self.data.items():
            if vid == vault_id:
                return [Entry(i, t) for i, t in items]
        raise RuntimeError("vault not found")
