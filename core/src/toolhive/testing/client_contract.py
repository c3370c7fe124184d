"""The client-integration contract suite: ToolHive edits a user's AI-client config file, so every
edit must round-trip, touch nothing else in the file and leave a damaged file alone.

The integration is loaded with ``Hooks.load("client_integrations", …)`` with ``HOME`` pointed at a
temporary folder (and a temporary ToolHive home): a test refuses to run if the config path is not
inside it, so the user's real files are never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import pytest

from toolhive.testing.fixtures import ThvHome
from toolhive.testing.plugin_contract import PluginContract

if TYPE_CHECKING:
    from toolhive.contracts.clients import ClientIntegration, ClientTransport, ServerEntry
    from toolhive.plugins import Hooks


def entry(
    name: str, transport: ClientTransport = "streamable-http", port: int = 8123
) -> ServerEntry:
    from toolhive.contracts.clients import ServerEntry

    path = "sse#" + name if transport == "sse" else "mcp"
    return ServerEntry(name=name, url=f"http://127.0.0.1:{port}/{path}", transport=transport)


class ClientIntegrationContract(PluginContract):
    """Subclass it, set ``name`` (and ``entry_point``) and:

    ``existing_config``
        The text of a config file in the client's format holding settings and servers that are
        not ToolHive's (written before ToolHive edits it).
    ``preserved``
        Substrings of ``existing_config`` that must still be there after ToolHive adds and
        removes its entries (a setting, another server's name, a comment the format keeps …).
    ``damaged_config``
        Text the client's format cannot parse (default: one that JSON, YAML and TOML all refuse).
    """

    kind = "client_integrations"
    existing_config: ClassVar[str]
    preserved: ClassVar[tuple[str, ...]]
    damaged_config: ClassVar[str] = '{"servers": [unclosed\n'

    @pytest.fixture
    def home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, thv_home: ThvHome) -> Path:
        home = tmp_path / "home"
        home.mkdir()
        monkeypatch.setenv("HOME", str(home))
        return home

    @pytest.fixture
    def client(self, plugin_hooks: Hooks, home: Path) -> ClientIntegration:
        client = plugin_hooks.load("client_integrations", self.name)
        path = client.config_path()
        if not path.is_relative_to(home):
            pytest.fail(f"{self.name}'s config path {path} is outside HOME: refusing to edit it")
        return client

    def test_it_loads_as_a_client_integration(self, client: ClientIntegration) -> None:
        from toolhive.contracts.clients import ClientIntegration

        assert isinstance(client, ClientIntegration)
        assert client.name == self.name
        assert client.description.strip()
        assert isinstance(client.installed(), bool)

    def test_added_entries_read_back_as_rendered(self, client: ClientIntegration) -> None:
        servers = [
            entry("contract-stdio", "stdio", 8001),
            entry("contract-sse", "sse", 8002),
            entry("contract-http", "streamable-http", 8003),
        ]
        for server in servers:
            client.upsert(server)
        stored = client.entries()
        for server in servers:
            assert stored.get(server.name) == client.render(server), server
            assert server.url in str(stored[server.name])

    def test_adding_again_updates_in_place(self, client: ClientIntegration) -> None:
        client.upsert(entry("contract-a", port=8001))
        client.upsert(entry("contract-a", port=8009))
        stored = client.entries()
        assert [name for name in stored if name == "contract-a"] == ["contract-a"]
        assert stored["contract-a"] == client.render(entry("contract-a", port=8009))

    def test_removing_reports_whether_it_was_there(self, client: ClientIntegration) -> None:
        assert client.remove("contract-a") is False
        assert not client.config_path().exists(), "removing from no file created one"
        client.upsert(entry("contract-a", port=8001))
        client.upsert(entry("contract-b", port=8002))
        assert client.remove("contract-a") is True
        assert client.remove("contract-a") is False
        stored = client.entries()
        assert "contract-a" not in stored
        assert stored["contract-b"] == client.render(entry("contract-b", port=8002))

    def test_edits_keep_everything_else_in_the_file(self, client: ClientIntegration) -> None:
        path = client.config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.existing_config, encoding="utf-8")
        before = dict(client.entries())
        client.upsert(entry("contract-a"))
        text = path.read_text(encoding="utf-8")
        for kept in self.preserved:
            assert kept in text, f"{kept!r} was lost when adding an entry:\n{text}"
        assert client.remove("contract-a") is True
        text = path.read_text(encoding="utf-8")
        for kept in self.preserved:
            assert kept in text, f"{kept!r} was lost when removing an entry:\n{text}"
        assert client.entries() == before

    def test_writes_leave_no_temporary_files(self, client: ClientIntegration) -> None:
        path = client.config_path()
        client.upsert(entry("contract-a"))
        client.upsert(entry("contract-b"))
        client.remove("contract-a")
        # The file itself, and a backup of the previous version if the integration keeps one.
        kept = {path.name}
        strays = [
            p.name
            for p in path.parent.iterdir()
            if p.name not in kept and not (p.name.startswith(path.name) and p.suffix == ".bak")
        ]
        assert strays == [], strays

    def test_a_damaged_file_is_refused_and_left_alone(self, client: ClientIntegration) -> None:
        from toolhive.contracts.clients import ConfigFormatError

        path = client.config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.damaged_config, encoding="utf-8")
        with pytest.raises(ConfigFormatError):
            client.upsert(entry("contract-a"))
        with pytest.raises(ConfigFormatError):
            client.entries()
        assert path.read_text(encoding="utf-8") == self.damaged_config
