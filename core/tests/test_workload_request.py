"""The request model and the run flags: `thv run`'s flags and a hand-built RunRequest (what the
REST API will send) resolve to the same RunConfig; Go's boolean flag; transports from plugins;
secrets checked once with one provider opening."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from pydantic import ValidationError
from toolhive.contracts import PluginConfig, SecretsProviderSpec, TransportSpec
from toolhive.contracts.secrets import SecretNotFoundError, SecretsProviderBase
from toolhive.errors import InvalidInputError
from toolhive.models.remote import HeaderForwardConfig
from toolhive.models.runconfig import RunConfig
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive.secrets.names import SecretReference
from toolhive.testing import make_plugin
from toolhive.workloads.request import BuildSettings, RunRequest
from toolhive.workloads.resolve import resolve
from toolhive.workloads.secrets_check import check_secrets


def flags_to_request(*argv: str, debug: bool = False) -> RunRequest:
    """What `thv run ARGV` hands to the use case (click's own parsing, nothing run)."""
    from toolhive.cli.run_cmd import request_for

    return request_for(list(argv), debug=debug)


@pytest.fixture
def hooks(thv_home) -> Hooks:
    return Hooks(build_plugin_manager(autoload=False))


def test_flags_and_a_hand_built_request_give_the_same_runconfig(hooks, tmp_path: Path):
    env_file = tmp_path / "app.env"
    env_file.write_text("FROM_FILE=1\nSHARED=file\n")
    from_flags = flags_to_request(
        "uvx://mcp-server-time@1.0",
        "--name",
        "clock",
        "--proxy-mode",
        "sse",
        "--proxy-port",
        "18080",
        "--env-file",
        str(env_file),
        "-e",
        "SHARED=flag",
        "--secret",
        "tok,target=API_TOKEN",
        "-l",
        "team=red",
        "--group",
        "default",
        "--session-ttl",
        "30m",
        "--allowed-origins",
        "https://a.example,https://b.example",
        "--runtime-add-package",
        "git",
        "--isolate-network=false",
        "--stateless",
        "--",
        "--local-timezone",
        "UTC",
    )
    by_hand = RunRequest(
        image="uvx://mcp-server-time@1.0",
        name="clock",
        proxy_mode="sse",
        proxy_port=18080,
        env_files=[env_file],
        env_vars={"SHARED": "flag"},
        secrets=[SecretReference("tok", "API_TOKEN")],
        labels={"team": "red"},
        session_ttl="30m",
        allowed_origins=["https://a.example,https://b.example"],
        runtime_config=BuildSettings(additional_packages=["git"]),
        network_isolation=False,
        stateless=True,
        cmd_arguments=["--local-timezone", "UTC"],
    )
    assert from_flags == by_hand
    config = resolve(hooks, from_flags)
    assert config == resolve(hooks, by_hand)
    assert config.env_vars == {"FROM_FILE": "1", "SHARED": "flag"}
    assert config.secrets == ["tok,target=API_TOKEN"]
    assert config.allowed_origins == ["https://a.example", "https://b.example"]
    assert not config.isolate_network and config.stateless and config.port == 18080
    assert config.runtime_config == {"additional_packages": ["git"]}


def test_a_request_round_trips_through_json_as_the_rest_api_will_send_it():
    request = RunRequest(
        url="https://mcp.example.com/mcp",
        secrets=[SecretReference("tok", "TOKEN")],
        header_forward=HeaderForwardConfig(add_headers_from_secret={"X-Key": "key"}),
    )
    body = json.loads(request.model_dump_json())
    assert body["secrets"] == [{"name": "tok", "target": "TOKEN"}]
    assert RunRequest.model_validate(body) == request


def test_a_request_names_one_thing_to_run():
    with pytest.raises(ValidationError, match="not image and url"):
        RunRequest(image="img:1", url="https://h/mcp")
    with pytest.raises(ValidationError, match="extra"):
        RunRequest.model_validate({"image": "img:1", "imagee": "typo"})


def test_a_url_flag_becomes_the_requests_url(hooks):
    request = flags_to_request("https://mcp.example.com/sse", "--remote-forward-headers", "X-A=1")
    assert request.url == "https://mcp.example.com/sse" and not request.image
    config = resolve(hooks, request)
    assert config.remote_url == request.url and config.transport == "sse"
    assert config.header_forward == HeaderForwardConfig(add_plaintext_headers={"X-A": "1"})


def test_from_config_keeps_the_exported_config_and_applies_name_and_debug(hooks, tmp_path):
    exported = RunConfig(name="orig", base_name="orig", image="img:1", port=1234)
    path = tmp_path / "export.json"
    path.write_text(exported.to_json())
    request = flags_to_request("--from-config", str(path), "--name", "copy", debug=True)
    config = resolve(hooks, request)
    assert (config.name, config.base_name, config.container_name) == ("copy",) * 3
    assert config.debug and config.image == "img:1" and config.port == 1234
    with pytest.raises(InvalidInputError, match="not both"):
        flags_to_request("img:1", "--from-config", str(path))


def test_the_global_debug_flag_is_recorded_in_the_runconfig(hooks):
    assert resolve(hooks, flags_to_request("uvx://x", debug=True)).debug
    assert not resolve(hooks, flags_to_request("uvx://x")).debug


# --- --isolate-network is a Go boolean flag ----------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "isolate", "target"),
    [
        (["--isolate-network", "img:1"], True, "img:1"),
        (["img:1", "--isolate-network"], True, "img:1"),
        (["--isolate-network=false", "img:1"], False, "img:1"),
        (["--isolate-network=0", "img:1"], False, "img:1"),
        (["--isolate-network=True", "img:1"], True, "img:1"),
        (["img:1"], True, "img:1"),
        # Go never takes the next argument as the flag's value: here it is what to run.
        (["--isolate-network", "false"], True, "false"),
    ],
)
def test_isolate_network_is_a_bare_flag_with_an_optional_equals_value(argv, isolate, target):
    request = flags_to_request(*argv)
    assert request.network_isolation is isolate and request.image == target


def test_isolate_network_with_a_bad_value_is_a_usage_error():
    with pytest.raises(click.UsageError, match='invalid argument "maybe" for "--isolate-network"'):
        flags_to_request("--isolate-network=maybe", "img:1")


def test_server_arguments_after_the_separator_are_left_alone():
    request = flags_to_request("img:1", "--", "--isolate-network=maybe")
    assert request.cmd_arguments == ["--isolate-network=maybe"] and request.network_isolation


# --- transports come from plugins ----------------------------------------------------------------


def test_an_unknown_transport_is_refused_listing_the_installed_ones(hooks):
    with pytest.raises(InvalidInputError) as err:
        resolve(hooks, flags_to_request("img:1", "--transport", "pigeon"))
    assert str(err.value) == (
        "unknown transport 'pigeon'; available transports: sse, stdio, streamable-http"
    )


def test_a_transport_a_plugin_adds_can_be_asked_for(thv_home):
    def factory() -> object:
        raise AssertionError("not loaded while resolving")

    plugin = make_plugin(
        "acme-pigeon",
        thv_transports=lambda: [TransportSpec(name="pigeon", load=factory)],  # type: ignore[arg-type]
    )
    hooks = Hooks(build_plugin_manager(autoload=False, plugins=[plugin]))
    assert resolve(hooks, flags_to_request("img:1", "--transport", "pigeon")).transport == "pigeon"


# --- secrets: one provider opening for every reference --------------------------------------------


class CountingProvider(SecretsProviderBase):
    """A real provider (a dict) that counts how often it is built and read."""

    name = "counting"
    built = 0

    def __init__(self) -> None:
        type(self).built += 1
        self.reads: list[str] = []
        self.values = {"tok": "t0k", "key": "k3y"}

    def get_secret(self, name: str) -> str:
        self.reads.append(name)
        if name not in self.values:
            raise SecretNotFoundError(name)
        return self.values[name]

    def child_environment(self) -> dict[str, str]:
        return {"COUNTING_PASSWORD": "typed"}


@pytest.fixture
def counting_hooks(thv_home, monkeypatch) -> Hooks:
    CountingProvider.built = 0
    spec = SecretsProviderSpec(
        name="counting", config_model=PluginConfig, load=lambda _c: CountingProvider()
    )
    plugin = make_plugin("counting-secrets", thv_secrets_providers=lambda: [spec])
    monkeypatch.setenv("TOOLHIVE_SECRETS_PROVIDER", "counting")
    return Hooks(build_plugin_manager(autoload=False, plugins=[plugin]))


def test_secrets_and_header_secrets_are_checked_with_one_provider(counting_hooks):
    config = RunConfig(
        name="r",
        remote_url="https://h/mcp",
        secrets=["tok,target=TOKEN"],
        header_forward=HeaderForwardConfig(add_headers_from_secret={"X-Key": "key"}),
    )
    assert check_secrets(counting_hooks, config) == {"COUNTING_PASSWORD": "typed"}
    assert CountingProvider.built == 1


def test_a_missing_header_secret_is_named(counting_hooks):
    config = RunConfig(
        name="r",
        remote_url="https://h/mcp",
        header_forward=HeaderForwardConfig(add_headers_from_secret={"X-Key": "absent"}),
    )
    with pytest.raises(SecretNotFoundError, match=r"'absent' \(header X-Key\).*thv secret set"):
        check_secrets(counting_hooks, config)


def test_no_references_open_no_provider(counting_hooks):
    assert check_secrets(counting_hooks, RunConfig(name="r", image="img:1")) == {}
    assert CountingProvider.built == 0


class SharedMemoryProvider(SecretsProviderBase):
    """A real writable provider over one dict shared by every instance (like a file would be)."""

    name = "memory"
    values: dict[str, str] = {}

    def get_secret(self, name: str) -> str:
        if name not in self.values:
            raise SecretNotFoundError(name)
        return self.values[name]

    def set_secret(self, name: str, value: str) -> None:
        self.values[name] = value


def test_a_literal_oidc_client_secret_moves_into_the_secrets_provider(thv_home, monkeypatch):
    from toolhive.workloads.secrets_check import stash_literal_secrets

    SharedMemoryProvider.values = {}
    spec = SecretsProviderSpec(
        name="memory", config_model=PluginConfig, load=lambda _c: SharedMemoryProvider()
    )
    plugin = make_plugin("memory-secrets", thv_secrets_providers=lambda: [spec])
    monkeypatch.setenv("TOOLHIVE_SECRETS_PROVIDER", "memory")
    hooks = Hooks(build_plugin_manager(autoload=False, plugins=[plugin]))
    config = RunConfig(
        name="guarded",
        base_name="guarded",
        oidc_config={"Issuer": "https://idp", "ClientID": "c", "ClientSecret": "s3cr3t"},
    )
    stashed = stash_literal_secrets(hooks, config)
    reference = "__thv_oidc_client_secret_guarded,target=oidc_client_secret"
    assert stashed.oidc_config is not None
    assert stashed.oidc_config["ClientSecret"] == reference
    assert "s3cr3t" not in stashed.to_json()  # not in the file, nor in `thv export`
    assert SharedMemoryProvider.values == {"__thv_oidc_client_secret_guarded": "s3cr3t"}
    check_secrets(hooks, stashed)  # the reference resolves
    # A reference is left as it is (thv start, a re-import of our own export).
    assert stash_literal_secrets(hooks, stashed) == stashed
    SharedMemoryProvider.values = {}
    with pytest.raises(SecretNotFoundError, match="the OIDC client secret"):
        check_secrets(hooks, stashed)
