"""Secrets in core: references, reserved names, provider selection, the env fallback, the CLI.

``MemoryProvider`` is a complete (if volatile) provider registered as a plugin, so selection, the
fallback chain and the CLI are exercised through the real hook and loader.
"""

from __future__ import annotations

import json

import pytest
from toolhive.contracts import hookimpl
from toolhive.contracts.secrets import (
    SecretDescription,
    SecretNotFoundError,
    SecretsNotSetUpError,
    SecretsProvider,
    SecretsProviderBase,
)
from toolhive.contracts.specs import PluginConfig, SecretsCapabilities, SecretsProviderSpec
from toolhive.errors import InvalidInputError, NotFoundError
from toolhive.secrets.names import (
    SecretReference,
    check_user_name,
    parse_reference,
    parse_references,
)
from toolhive.secrets.resolve import check_references, resolve_references
from toolhive.secrets.selection import configured_name, open_secrets
from toolhive.workloads.request import RunRequest
from toolhive.workloads.runconfig_builder import build_runconfig

STORE: dict[str, str] = {}


class MemoryConfig(PluginConfig):
    prefix: str = ""


class MemoryProvider(SecretsProviderBase):
    name = "memory"

    def __init__(self, config: MemoryConfig) -> None:
        self.prefix = config.prefix

    def get_secret(self, name: str) -> str:
        if self.prefix + name not in STORE:
            raise self.not_found(name)
        return STORE[self.prefix + name]

    def set_secret(self, name: str, value: str) -> None:
        STORE[self.prefix + name] = value

    def delete_secret(self, name: str) -> None:
        if STORE.pop(self.prefix + name, None) is None:
            raise self.not_found(name)

    def list_secrets(self) -> list[SecretDescription]:
        return [SecretDescription(k.removeprefix(self.prefix)) for k in sorted(STORE)]

    def cleanup(self) -> None:
        STORE.clear()


class memory_plugin:
    @staticmethod
    @hookimpl
    def thv_secrets_providers() -> list[SecretsProviderSpec]:
        return [
            SecretsProviderSpec(
                name="memory",
                capabilities=SecretsCapabilities(
                    can_read=True, can_write=True, can_delete=True, can_list=True
                ),
                config_model=MemoryConfig,
                load=lambda config: MemoryProvider(config),  # type: ignore[arg-type]
            )
        ]


@pytest.fixture
def thv_plugins():
    return [memory_plugin]


@pytest.fixture(autouse=True)
def clean(monkeypatch, thv_home):
    STORE.clear()
    for var in ("TOOLHIVE_SECRETS_PROVIDER", "TOOLHIVE_DISABLE_ENV_FALLBACK"):
        monkeypatch.delenv(var, raising=False)


def configure(name: str, thv_home, extra: str = "") -> None:
    path = thv_home.config / "toolhive" / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"secrets:\n  provider_type: {name}\n  setup_completed: true\n{extra}")


# --- names and references ---------------------------------------------------------------------


def test_reference_syntax():
    ref = parse_reference("github-token,target=GITHUB_TOKEN")
    assert (ref.name, ref.target, str(ref)) == (
        "github-token",
        "GITHUB_TOKEN",
        "github-token,target=GITHUB_TOKEN",
    )
    assert parse_reference("op://v/i/f,target=X").name == "op://v/i/f"
    for bad in ("github", "a,b,target=X", "a,target=", ",target=X", "a,target=1BAD", "a,tgt=X"):
        with pytest.raises(InvalidInputError, match="--secret"):
            parse_reference(bad)
    with pytest.raises(InvalidInputError, match="reserved"):
        parse_reference("__thv_registry_token,target=X")
    with pytest.raises(InvalidInputError, match="more than one secret targets X"):
        parse_references(["a,target=X", "b,target=X"])


def test_system_names_need_system_flag():
    assert check_user_name("mine") == "mine"
    with pytest.raises(InvalidInputError, match="reserved for ToolHive"):
        check_user_name("__thv_oauth_x")
    assert check_user_name("__thv_oauth_x", system=True) == "__thv_oauth_x"
    with pytest.raises(InvalidInputError, match="--system applies"):
        check_user_name("mine", system=True)
    with pytest.raises(InvalidInputError, match="empty"):
        check_user_name("")


def test_run_requests_keep_references_only():
    request = RunRequest(image="python3", secrets=[SecretReference("tok", "API_TOKEN")])
    assert build_runconfig(request).secrets == ["tok,target=API_TOKEN"]
    with pytest.raises(InvalidInputError):
        build_runconfig(RunRequest(image="python3", secrets=[SecretReference("tok", "BAD-ENV")]))


# --- selection --------------------------------------------------------------------------------


def test_no_implicit_provider(thv_home, thv_hooks):
    with pytest.raises(SecretsNotSetUpError, match="thv secret setup"):
        configured_name()
    configure("memory", thv_home)
    (thv_home.config / "toolhive" / "config.yaml").write_text(
        "secrets:\n  provider_type: memory\n  setup_completed: false\n"
    )
    with pytest.raises(SecretsNotSetUpError):
        open_secrets(thv_hooks)
    # Nothing set up: even a reference the environment could satisfy is an error, as ToolHive.
    with pytest.raises(SecretsNotSetUpError):
        resolve_references(thv_hooks, ["a,target=A"], {"TOOLHIVE_SECRET_a": "x"})
    assert resolve_references(thv_hooks, []) == {}


def test_env_variable_wins_over_config(thv_home, thv_hooks, monkeypatch):
    configure("memory", thv_home)
    assert configured_name() == "memory"
    monkeypatch.setenv("TOOLHIVE_SECRETS_PROVIDER", "environment")
    assert open_secrets(thv_hooks).name == "environment"
    monkeypatch.setenv("TOOLHIVE_SECRETS_PROVIDER", "nope")
    with pytest.raises(NotFoundError, match=r"unknown secrets provider 'nope' \(available: "):
        open_secrets(thv_hooks)


def test_provider_gets_its_config_section(thv_home, thv_hooks):
    configure("memory", thv_home, "plugins:\n  secrets:\n    memory:\n      prefix: 'p/'\n")
    secrets = open_secrets(thv_hooks)
    assert isinstance(secrets.provider, SecretsProvider)
    secrets.set("a", "1")
    assert STORE == {"p/a": "1"}
    configure("memory", thv_home, "plugins:\n  secrets:\n    memory:\n      bogus: 1\n")
    with pytest.raises(Exception, match=r"plugins\.secrets\.memory\.bogus"):
        open_secrets(thv_hooks)


def test_environment_fallback_chain(thv_home, thv_hooks):
    configure("memory", thv_home)
    STORE["in-store"] = "from-store"
    env = {"TOOLHIVE_SECRET_in-store": "from-env", "TOOLHIVE_SECRET_only-env": "env-value"}
    refs = ["in-store,target=A", "only-env,target=B"]
    assert resolve_references(thv_hooks, refs, env) == {"A": "from-store", "B": "env-value"}
    disabled = {**env, "TOOLHIVE_DISABLE_ENV_FALLBACK": "true"}
    with pytest.raises(SecretNotFoundError, match=r"'only-env' \(--secret only-env,target=B\)"):
        resolve_references(thv_hooks, refs, disabled)
    with pytest.raises(SecretNotFoundError, match="thv secret set missing"):
        check_references(thv_hooks, ["missing,target=C"], env)


def test_environment_provider_is_read_only(thv_hooks):
    env = {"TOOLHIVE_SECRETS_PROVIDER": "environment", "TOOLHIVE_SECRET_k": "v"}
    secrets = open_secrets(thv_hooks, environ=env)
    assert secrets.spec.capabilities.can_write is False
    secrets.provider = type(secrets.provider)(env)  # type: ignore[call-arg]
    assert secrets.get("k") == "v"
    with pytest.raises(SecretNotFoundError, match="TOOLHIVE_SECRET_nope"):
        secrets.get("nope")
    for call in (lambda: secrets.set("k", "x"), lambda: secrets.delete("k"), secrets.list):
        with pytest.raises(InvalidInputError, match="environment secrets provider"):
            call()


# --- the CLI ----------------------------------------------------------------------------------


def test_secret_commands(thv_cli, thv_home):
    result = thv_cli("secret", "list")
    assert result.exit_code == 1 and "thv secret setup" in str(result.exception)
    result = thv_cli("secret", "setup", input="memory\n")
    assert result.exit_code == 0, result.output
    assert "Secrets provider set to memory." in result.stdout
    assert "setup_completed: true" in (thv_home.config / "toolhive" / "config.yaml").read_text()

    assert thv_cli("secret", "set", "api-key", input="s3cr3t-value\n").exit_code == 0
    assert STORE == {"api-key": "s3cr3t-value"}  # one trailing newline stripped
    assert thv_cli("secret", "get", "api-key").stdout == "s3cr3t-value\n"
    STORE["__thv_registry_token"] = "sys"
    assert thv_cli("secret", "list").stdout == "api-key\n"
    listed = json.loads(thv_cli("secret", "list", "--system", "--format", "json").stdout)
    assert listed == [{"key": "__thv_registry_token", "description": ""}]
    result = thv_cli("secret", "delete", "__thv_registry_token")
    assert result.exit_code == 1 and "reserved" in str(result.exception)
    assert thv_cli("secret", "delete", "--system", "__thv_registry_token").exit_code == 0
    assert thv_cli("secret", "delete", "api-key").exit_code == 0
    assert thv_cli("secret", "list").stdout == "No secrets found.\n"
    assert thv_cli("secret", "get", "api-key").exit_code == 1


def test_set_never_takes_the_value_from_argv(thv_cli, thv_home):
    configure("memory", thv_home)
    result = thv_cli("secret", "set", "k", "the-value-itself")
    assert result.exit_code == 1
    assert "never read from the command line" in str(result.exception)
    assert "the-value-itself" not in result.output + str(result.exception)
    assert STORE == {}
    assert thv_cli("secret", "set", "k", input="").exit_code == 1  # empty value


def test_capabilities_are_enforced(thv_cli, thv_home):
    configure("environment", thv_home)
    for args in (["set", "k"], ["list"], ["delete", "k"]):
        result = thv_cli("secret", *args, input="v")
        assert result.exit_code == 1
        assert "the environment secrets provider cannot" in str(result.exception)


def test_provider_command_and_reset_keyring_without_encrypted(thv_cli, thv_home):
    result = thv_cli("secret", "provider", "ghost")
    assert result.exit_code == 1 and "install toolhive-secrets-ghost" in str(result.exception)
    assert not (thv_home.config / "toolhive" / "config.yaml").exists()
    assert thv_cli("secret", "provider", "environment").exit_code == 0
    assert thv_cli("secret", "reset-keyring").exit_code == 1
