"""`--token-exchange-*` → RunConfig ``token_exchange_config`` (Go's keys), the client secret kept
out of it (moved into the secrets provider, or a file path), and the chain entry it asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toolhive.contracts import PluginConfig, SecretsProviderSpec
from toolhive.contracts.secrets import SecretNotFoundError, SecretsProviderBase
from toolhive.errors import InvalidInputError
from toolhive.middleware.plan import ProtectionNotEnforcedError, plan_chain
from toolhive.models.runconfig import RunConfig
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive.testing import make_plugin
from toolhive.workloads.protection import require_enforceable
from toolhive.workloads.runconfig_builder import build_runconfig
from toolhive.workloads.secrets_check import check_secrets, stash_literal_secrets

URL = "https://idp.example.com/oauth/token"
REFERENCE = "__thv_token_exchange_client_secret_front,target=token_exchange_client_secret"


def runconfig(*argv: str) -> RunConfig:
    from toolhive.cli.run_cmd import request_for

    return build_runconfig(
        request_for(["https://backend.example.com/mcp", "--name", "front", *argv])
    )


class MemoryProvider(SecretsProviderBase):
    name = "memory"
    values: dict[str, str] = {}

    def get_secret(self, name: str) -> str:
        if name not in self.values:
            raise SecretNotFoundError(name)
        return self.values[name]

    def set_secret(self, name: str, value: str) -> None:
        self.values[name] = value

    def delete_secret(self, name: str) -> None:
        self.values.pop(name, None)


@pytest.fixture
def memory_hooks(thv_home, monkeypatch) -> Hooks:
    MemoryProvider.values = {}
    spec = SecretsProviderSpec(
        name="memory", config_model=PluginConfig, load=lambda _c: MemoryProvider()
    )
    plugin = make_plugin("memory-secrets", thv_secrets_providers=lambda: [spec])
    monkeypatch.setenv("TOOLHIVE_SECRETS_PROVIDER", "memory")
    return Hooks(build_plugin_manager(autoload=False, plugins=[plugin]))


def test_the_flags_fill_token_exchange_config_with_gos_keys(thv_home) -> None:
    config = runconfig(
        "--token-exchange-url", URL,
        "--token-exchange-client-id", "exchanger",
        "--token-exchange-audience", "backend",
        "--token-exchange-scopes", "read,write", "--token-exchange-scopes", "admin",
        "--token-exchange-subject-token-type", "id_token",
    )  # fmt: skip
    saved = json.loads(config.to_json())["token_exchange_config"]
    assert saved == {
        "token_url": URL,
        "client_id": "exchanger",
        "client_secret": "",
        "audience": "backend",
        "scopes": ["read", "write", "admin"],
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "header_strategy": "replace",
    }
    (entry,) = [e for e in plan_chain(config) if e.type == "tokenexchange"]
    assert entry.parameters == {"token_exchange_config": saved}


def test_a_header_name_selects_gos_custom_strategy(thv_home) -> None:
    config = runconfig("--token-exchange-url", URL, "--token-exchange-header-name", "X-Token")
    assert config.token_exchange_config is not None
    assert config.token_exchange_config.header_strategy == "custom"
    assert config.token_exchange_config.external_token_header_name == "X-Token"


def test_without_a_url_nothing_is_exchanged(thv_home) -> None:
    assert runconfig("--token-exchange-audience", "backend").token_exchange_config is None


def test_a_secret_file_is_kept_as_its_path_never_its_content(thv_home, tmp_path: Path) -> None:
    secret = tmp_path / "exchange.secret"
    secret.write_text("file-secret-value\n")
    config = runconfig(
        "--token-exchange-url", URL, "--token-exchange-client-secret-file", str(secret)
    )  # fmt: skip
    assert config.token_exchange_config is not None
    assert config.token_exchange_config.client_secret_file == str(secret.resolve())
    assert "file-secret-value" not in config.to_json()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--token-exchange-client-secret", "a", "--token-exchange-client-secret-file", "/x"),
         "cannot be used together"),
        (("--token-exchange-client-secret-file", "/no/such/file"), "no such file"),
        (("--token-exchange-subject-token-type", "saml"), "invalid subject token type"),
    ],
)  # fmt: skip
def test_bad_token_exchange_flags_fail_before_anything_is_created(
    thv_home, argv: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        runconfig("--token-exchange-url", URL, *argv)


def test_gos_environment_variable_gives_the_secret_when_no_flag_does(thv_home, monkeypatch) -> None:
    monkeypatch.setenv("TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET", "from-env")
    config = runconfig("--token-exchange-url", URL)
    assert config.token_exchange_config is not None
    assert config.token_exchange_config.client_secret == "from-env"  # then stashed, below


def test_a_literal_client_secret_moves_into_the_secrets_provider(memory_hooks: Hooks) -> None:
    config = runconfig("--token-exchange-url", URL, "--token-exchange-client-secret", "s3cr3t")
    stashed = stash_literal_secrets(memory_hooks, config)
    assert stashed.token_exchange_config is not None
    assert stashed.token_exchange_config.client_secret == REFERENCE
    assert "s3cr3t" not in stashed.to_json()  # not in the file, nor in `thv export`
    assert MemoryProvider.values == {"__thv_token_exchange_client_secret_front": "s3cr3t"}
    check_secrets(memory_hooks, stashed)
    assert stash_literal_secrets(memory_hooks, stashed) == stashed
    MemoryProvider.values = {}
    with pytest.raises(SecretNotFoundError, match="the token exchange client secret"):
        check_secrets(memory_hooks, stashed)


def test_a_go_exports_literal_secret_in_its_middleware_entry_is_moved_too(
    memory_hooks: Hooks,
) -> None:
    """Go's CLI writes the resolved secret into both places of its export."""
    exchange = {"token_url": URL, "client_id": "c", "client_secret": "go-literal"}
    config = RunConfig.from_json(
        json.dumps(
            {
                "name": "front",
                "base_name": "front",
                "remote_url": "https://backend.example.com/mcp",
                "token_exchange_config": exchange,
                "middleware_configs": [
                    {"type": "auth", "parameters": {}},
                    {"type": "tokenexchange", "parameters": {"token_exchange_config": exchange}},
                ],
            }
        )
    )
    stashed = stash_literal_secrets(memory_hooks, config)
    assert "go-literal" not in stashed.to_json()
    entry = stashed.middleware_configs[1]["parameters"]["token_exchange_config"]
    assert entry["client_secret"] == REFERENCE
    assert stashed.middleware_configs[0] == {"type": "auth", "parameters": {}}
    assert MemoryProvider.values == {"__thv_token_exchange_client_secret_front": "go-literal"}


def test_token_exchange_without_its_plugin_is_refused_naming_the_distribution(thv_home) -> None:
    config = runconfig("--token-exchange-url", URL)
    hooks = Hooks(build_plugin_manager(autoload=False))
    with pytest.raises(
        ProtectionNotEnforcedError, match="pip install toolhive-middleware-tokenexchange"
    ):
        require_enforceable(hooks, config)
