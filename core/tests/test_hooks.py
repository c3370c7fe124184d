"""One ``test_hook_<name>`` per hook (tests/test_docs.py checks there is one), plus the registry
rules every hook shares: specs keyed by name, duplicates name both plugins, wrong types are errors.

Each test registers a throwaway plugin with ``build_plugin_manager(autoload=False, plugins=[...])``
and reads it back through the typed ``Hooks`` facade, the only code that calls hooks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from toolhive.contracts import (
    ClientSpec,
    CommandRef,
    MiddlewareSpec,
    PluginConfig,
    RegistrySourceSpec,
    RuntimeDetection,
    RuntimeSpec,
    SecretsProviderSpec,
    TransportSpec,
)
from toolhive.errors import DuplicatePluginError, NotFoundError, PluginError, ToolHiveError
from toolhive.plugins import BUILTIN_PLUGINS, Hooks, build_plugin_manager
from toolhive.testing import Distributions, ThvCli, make_plugin


def hooks_with(*plugins: object) -> Hooks:
    return Hooks(build_plugin_manager(autoload=False, plugins=plugins))


def _never(*_args: Any) -> Any:
    raise AssertionError("a spec's load/factory must not run while specs are collected")


def make_spec(kind: str, name: str) -> Any:
    """A minimal valid spec of each kind (its callables must not be called by collection)."""
    if kind == "runtimes":
        return RuntimeSpec(
            name=name,
            config_model=PluginConfig,
            detect=lambda env: RuntimeDetection(name=name, available=False),
            load=_never,
        )
    if kind == "transports":
        return TransportSpec(name=name, load=_never)
    if kind == "middleware":
        return MiddlewareSpec(name=name, config_model=PluginConfig, factory=_never)
    if kind == "secrets_providers":
        return SecretsProviderSpec(name=name, config_model=PluginConfig, load=_never)
    if kind == "registry_sources":
        return RegistrySourceSpec(name=name, config_model=PluginConfig, load=_never)
    if kind == "client_integrations":
        return ClientSpec(name=name, load=_never)
    if kind == "cli_commands":
        return CommandRef(name=name, help="A command", target="acme_never_imported.cli:command")
    raise AssertionError(kind)


KINDS = {
    "runtimes": "thv_runtimes",
    "transports": "thv_transports",
    "middleware": "thv_middleware",
    "secrets_providers": "thv_secrets_providers",
    "registry_sources": "thv_registry_sources",
    "client_integrations": "thv_client_integrations",
    "cli_commands": "thv_cli_commands",
}


def plugin_providing(plugin_name: str, kind: str, *specs: Any) -> Any:
    return make_plugin(plugin_name, **{KINDS[kind]: lambda: list(specs)})


# --- one test per hook -----------------------------------------------------------------------


class AcmeConfig(PluginConfig):
    socket: str = "/run/acme.sock"


class FakeRuntime:
    """Stands in for an engine: it has the Runtime protocol's members, nothing is deployed."""

    name = "acme"

    def __init__(self, config: AcmeConfig | None = None) -> None:
        self.config = config

    def ping(self) -> None: ...
    def ensure_image(self, image: str, progress: object = None) -> None: ...
    def check_request(self, request: object) -> None: ...
    def deploy(self, request: object) -> object: ...
    async def attach_stdio(self, name: str) -> object: ...
    def wait(self, name: str) -> int:
        return 0

    def stop(self, name: str, timeout: float = 30) -> None: ...
    def remove(self, name: str) -> None: ...
    def inspect(self, name: str) -> None: ...
    def list_workloads(self) -> list[object]:
        return []

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Any:
        return iter(())


def acme_runtime(load: Any = None) -> RuntimeSpec[AcmeConfig]:
    def detect(environ: Any) -> RuntimeDetection:
        return RuntimeDetection(name="acme", available="ACME" in environ, endpoint="unix:///x")

    return RuntimeSpec(
        name="acme",
        priority=5,
        config_model=AcmeConfig,
        detect=detect,
        load=load or (lambda _detection, config: FakeRuntime(config)),
    )


def test_hook_thv_runtimes() -> None:
    loaded: list[tuple[RuntimeDetection, AcmeConfig]] = []

    def load(detection: RuntimeDetection, config: AcmeConfig) -> FakeRuntime:
        loaded.append((detection, config))
        return FakeRuntime(config)

    spec = acme_runtime(load)
    hooks = hooks_with(make_plugin("acme_runtime", thv_runtimes=lambda: [spec]))

    assert hooks.runtimes() == {"acme": spec}
    assert hooks.provided_by("acme_runtime") == {"runtimes": ["acme"]}
    assert loaded == []  # declaring a runtime loads nothing

    from toolhive.workloads.runtimes import select_runtime

    chosen, detection = select_runtime(hooks, "acme", environ={"ACME": "1"})
    assert chosen is spec and detection.available
    runtime = hooks.load("runtimes", "acme", {"socket": "/s"}, detection=detection)
    assert isinstance(runtime, FakeRuntime)
    assert loaded == [(detection, AcmeConfig(socket="/s"))]


def test_hook_thv_transports() -> None:
    spec = make_spec("transports", "websocket")
    hooks = hooks_with(plugin_providing("acme_ws", "transports", spec))

    transports = hooks.transports()
    assert transports["websocket"] is spec
    # Core's own transports are plugins too, and still there.
    assert {"stdio", "sse", "streamable-http"} <= set(transports)
    assert hooks.provided_by("acme_ws") == {"transports": ["websocket"]}
    assert hooks.provided_by(BUILTIN_PLUGINS[0]) == {
        "transports": ["stdio", "sse", "streamable-http"]
    }


def test_hook_thv_middleware() -> None:
    class Greeting(PluginConfig):
        text: str = "hello"

    def factory(app: Any, config: Greeting, context: Any) -> Any:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            await app(scope, receive, send)

        wrapped.text = config.text  # type: ignore[attr-defined]
        return wrapped

    spec = MiddlewareSpec(name="greeting", config_model=Greeting, factory=factory)
    hooks = hooks_with(make_plugin("acme_mw", thv_middleware=lambda: [spec]))

    got = hooks.middleware()
    assert got["greeting"] is spec  # next to core's built-in middleware types
    assert hooks.provided_by("acme_mw") == {"middleware": ["greeting"]}
    config = got["greeting"].config_model.model_validate({"text": "hi"})
    assert got["greeting"].factory(object(), config, None).text == "hi"
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        got["greeting"].config_model.model_validate({"txet": "typo"})


def test_hook_thv_secrets_providers() -> None:
    spec = make_spec("secrets_providers", "acme-vault")
    hooks = hooks_with(plugin_providing("acme_secrets", "secrets_providers", spec))

    got = hooks.secrets_providers()
    assert got["acme-vault"] is spec
    assert got["acme-vault"].capabilities.can_read
    assert not got["acme-vault"].capabilities.can_write


def test_hook_thv_registry_sources() -> None:
    first = make_spec("registry_sources", "acme-api")
    second = make_spec("registry_sources", "acme-file")
    hooks = hooks_with(plugin_providing("acme_registry", "registry_sources", first, second))

    assert hooks.registry_sources() == {"acme-api": first, "acme-file": second}
    assert hooks.provided_by("acme_registry") == {"registry_sources": ["acme-api", "acme-file"]}


def test_hook_thv_client_integrations() -> None:
    spec = make_spec("client_integrations", "acme-editor")
    hooks = hooks_with(plugin_providing("acme_clients", "client_integrations", spec))

    got = hooks.client_integrations()  # next to core's built-in clients
    assert got["acme-editor"] is spec
    assert hooks.provided_by("acme_clients") == {"client_integrations": ["acme-editor"]}


def test_hook_thv_cli_commands(thv_distribution: Distributions, thv_cli: ThvCli) -> None:
    thv_distribution(
        "acme-cli",
        modules={
            "acme_cli.commands": (
                "import click\n\n"
                "@click.command()\n"
                "@click.argument('who', default='world')\n"
                "def hello(who):\n"
                "    '''Say hello.'''\n"
                "    click.echo(f'Hello, {who}!')\n"
            )
        },
    )
    ref = CommandRef(name="hello", help="Say hello", target="acme_cli.commands:hello")
    hooks = hooks_with(make_plugin("acme_cli", thv_cli_commands=lambda: [ref]))
    assert hooks.cli_commands()["hello"] is ref  # next to core's own (`thv runtime`)

    import sys

    help_result = thv_cli("--help", hooks=hooks)
    assert help_result.exit_code == 0, help_result.output
    assert "hello" in help_result.stdout and "Say hello" in help_result.stdout
    assert "acme_cli.commands" not in sys.modules  # listed from the ref, not imported

    result = thv_cli("hello", "ToolHive", hooks=hooks)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello, ToolHive!\n"


# --- rules shared by every hook --------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_specs_are_keyed_by_name_across_plugins(kind: str) -> None:
    one, two = make_spec(kind, "acme-one"), make_spec(kind, "acme-two")
    hooks = hooks_with(
        plugin_providing("plugin_a", kind, one), plugin_providing("plugin_b", kind, two)
    )

    registry = getattr(hooks, kind)()
    assert registry["acme-one"] is one
    assert registry["acme-two"] is two


@pytest.mark.parametrize("kind", list(KINDS))
def test_duplicate_names_are_an_error_naming_both_plugins(kind: str) -> None:
    hooks = hooks_with(
        plugin_providing("acme_first", kind, make_spec(kind, "dup")),
        plugin_providing("acme_second", kind, make_spec(kind, "dup")),
    )
    with pytest.raises(DuplicatePluginError) as info:
        getattr(hooks, kind)()
    message = str(info.value)
    assert "'dup'" in message
    assert "acme_first" in message and "acme_second" in message


def test_duplicate_of_a_builtin_names_core() -> None:
    hooks = hooks_with(
        plugin_providing("acme_stdio", "transports", make_spec("transports", "stdio"))
    )
    with pytest.raises(DuplicatePluginError, match=r"transport 'stdio' provided by both") as info:
        hooks.transports()
    assert "acme_stdio" in str(info.value) and "toolhive-core 0.1.0" in str(info.value)


@pytest.mark.parametrize("kind", list(KINDS))
def test_wrong_spec_type_is_a_plugin_error(kind: str) -> None:
    other = "transports" if kind != "transports" else "runtimes"
    wrong = make_spec(other, "wrong")
    hooks = hooks_with(make_plugin("acme_wrong", **{KINDS[kind]: lambda: [wrong]}))
    with pytest.raises(PluginError, match=rf"plugin 'acme_wrong': {KINDS[kind]}\(\) returned"):
        getattr(hooks, kind)()


@pytest.mark.parametrize("value", [{"name": "x"}, "stdio", 42])
def test_wrong_item_type_is_a_plugin_error(value: object) -> None:
    hooks = hooks_with(make_plugin("acme_wrong", thv_transports=lambda: [value]))
    with pytest.raises(PluginError, match="expected TransportSpec"):
        hooks.transports()


@pytest.mark.parametrize("value", [42, make_spec("transports", "bare")])
def test_a_non_list_result_is_a_plugin_error_naming_the_plugin(value: object) -> None:
    hooks = hooks_with(make_plugin("acme_scalar", thv_transports=lambda: value))
    with pytest.raises(PluginError, match=r"acme_scalar.*returned (int|TransportSpec)"):
        hooks.transports()


def test_none_and_empty_results_provide_nothing() -> None:
    hooks = hooks_with(
        make_plugin("acme_none", thv_runtimes=lambda: None),
        make_plugin("acme_empty", thv_runtimes=lambda: []),
    )
    assert hooks.runtimes() == {}
    assert hooks.provided_by("acme_none") == {}


def test_results_are_collected_once_per_facade() -> None:
    calls: list[int] = []

    def impl() -> list[TransportSpec]:
        calls.append(1)
        return [make_spec("transports", "counted")]

    hooks = hooks_with(make_plugin("acme_count", thv_transports=impl))
    hooks.transports()
    hooks.transports()
    hooks.provided_by("acme_count")
    assert calls == [1]


def test_specs_are_frozen_and_reject_unknown_fields() -> None:
    spec = make_spec("cli_commands", "frozen")
    with pytest.raises(ValueError, match="frozen"):
        spec.name = "other"
    with pytest.raises(ValueError, match="Extra inputs"):
        CommandRef(name="x", target="a:b", colour="red")  # type: ignore[call-arg]


@pytest.mark.parametrize("name", ["Upper", "-dash", "with space", ""])
def test_spec_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        make_spec("transports", name)


def test_a_plugin_command_may_not_shadow_a_builtin(thv_cli: ThvCli) -> None:
    ref = CommandRef(name="list", help="mine", target="acme.cli:list_")
    hooks = hooks_with(make_plugin("acme_list", thv_cli_commands=lambda: [ref]))
    result = thv_cli("--help", hooks=hooks)
    assert isinstance(result.exception, ToolHiveError)
    assert "plugin command 'list' (acme.cli:list_) clashes with a built-in command" in str(
        result.exception
    )


def test_implementations_may_take_fewer_arguments_but_not_unknown_ones() -> None:
    # Every hook takes no argument today; an implementation asking for one is refused at
    # registration, naming the argument, instead of failing at call time.
    import pluggy

    def impl(runtime: Any) -> list[RuntimeSpec]:
        return []

    with pytest.raises(pluggy.PluginValidationError, match="runtime"):
        hooks_with(make_plugin("acme_args", thv_runtimes=impl))


def test_thv_plugins_lists_what_each_plugin_provides(thv_cli: ThvCli) -> None:
    hooks = hooks_with(
        plugin_providing("acme_multi", "runtimes", make_spec("runtimes", "acme")),
        plugin_providing("acme_cmds", "cli_commands", make_spec("cli_commands", "acme-cmd")),
    )
    result = thv_cli("plugins", "--format", "json", hooks=hooks)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name["acme_multi"]["provides"] == {"runtimes": ["acme"]}
    assert by_name["acme_cmds"]["provides"] == {"cli_commands": ["acme-cmd"]}
    assert by_name[BUILTIN_PLUGINS[0]]["builtin"] is True
    assert data["failures"] == []


@pytest.mark.parametrize("kind", list(KINDS))
def test_collecting_specs_loads_nothing(kind: str) -> None:
    """Every spec's load/factory is `_never`: building the registry must not call it."""
    spec = make_spec(kind, "lazy")
    hooks = hooks_with(plugin_providing("acme_lazy", kind, spec))
    assert getattr(hooks, kind)()["lazy"] is spec
    assert hooks.provided_by("acme_lazy") == {kind: ["lazy"]}


# --- Hooks.load: settings validated, load called, result checked ------------------------------


LOADABLE = [
    "runtimes",
    "transports",
    "secrets_providers",
    "registry_sources",
    "client_integrations",
]


def spec_loading(kind: str, name: str, result: object) -> Any:
    """A spec of ``kind`` whose ``load`` returns ``result`` (whatever its arguments)."""
    spec = make_spec(kind, name)
    return spec.model_copy(update={"load": lambda *_args: result})


def test_load_validates_settings_and_hands_load_its_own_config_class() -> None:
    received: list[AcmeConfig] = []

    def load(_detection: RuntimeDetection, config: AcmeConfig) -> FakeRuntime:
        received.append(config)
        return FakeRuntime(config)

    hooks = hooks_with(make_plugin("acme_runtime", thv_runtimes=lambda: [acme_runtime(load)]))
    hooks.load("runtimes", "acme", {})
    hooks.load("runtimes", "acme", {"socket": "/other.sock"})
    assert received == [AcmeConfig(), AcmeConfig(socket="/other.sock")]
    assert all(type(c) is AcmeConfig for c in received)


def test_invalid_settings_are_an_error_naming_the_plugin_and_the_key_path() -> None:
    hooks = hooks_with(make_plugin("acme_runtime", thv_runtimes=lambda: [acme_runtime()]))
    with pytest.raises(PluginError) as info:
        hooks.load("runtimes", "acme", {"sokcet": "/typo.sock", "socket": 42})
    message = str(info.value)
    assert "runtime 'acme' (acme_runtime)" in message
    assert "plugins.runtimes.acme.sokcet: Extra inputs are not permitted" in message
    assert "plugins.runtimes.acme.socket: Input should be a valid string" in message


def test_settings_default_to_the_plugins_section_of_config_yaml(thv_home: Any) -> None:
    from toolhive.state import paths

    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(
        "plugins:\n  runtimes:\n    acme:\n      socket: /from/config.sock\n"
        "  secrets:\n    acme-vault:\n      mount: kv\n"
    )

    class VaultConfig(PluginConfig):
        mount: str = "secret"

    secrets = SecretsProviderSpec(
        name="acme-vault", config_model=VaultConfig, load=lambda config: FakeSecrets(config)
    )
    hooks = hooks_with(
        make_plugin("acme_runtime", thv_runtimes=lambda: [acme_runtime()]),
        make_plugin("acme_secrets", thv_secrets_providers=lambda: [secrets]),
    )
    runtime = hooks.load("runtimes", "acme")
    assert isinstance(runtime, FakeRuntime) and runtime.config == AcmeConfig(
        socket="/from/config.sock"
    )
    provider = hooks.load("secrets_providers", "acme-vault")
    assert isinstance(provider, FakeSecrets) and provider.config == VaultConfig(mount="kv")


class FakeSecrets:
    """Has the SecretsProvider protocol's methods; stores nothing."""

    def __init__(self, config: PluginConfig) -> None:
        self.config = config

    def get_secret(self, name: str) -> str:
        return ""

    def set_secret(self, name: str, value: str) -> None: ...
    def delete_secret(self, name: str) -> None: ...
    def list_secrets(self) -> list[Any]:
        return []

    def cleanup(self) -> None: ...


def test_a_runtime_is_detected_when_no_detection_is_given() -> None:
    seen: list[RuntimeDetection] = []

    def load(detection: RuntimeDetection, config: AcmeConfig) -> FakeRuntime:
        seen.append(detection)
        return FakeRuntime(config)

    hooks = hooks_with(make_plugin("acme_runtime", thv_runtimes=lambda: [acme_runtime(load)]))
    hooks.load("runtimes", "acme", {})
    assert [d.name for d in seen] == ["acme"]


@pytest.mark.parametrize("kind", LOADABLE)
def test_a_load_result_outside_the_kinds_protocol_is_an_error_naming_the_plugin(
    kind: str,
) -> None:
    hooks = hooks_with(plugin_providing("acme_bad", kind, spec_loading(kind, "bad", 42)))
    with pytest.raises(PluginError, match=r"'bad' \(acme_bad\): load\(\) returned int, not"):
        hooks.load(kind, "bad", {})  # type: ignore[call-overload]


@pytest.mark.parametrize("kind", LOADABLE)
def test_an_unknown_name_is_not_found_and_lists_what_is_installed(kind: str) -> None:
    hooks = hooks_with(plugin_providing("acme_one", kind, make_spec(kind, "acme-one")))
    with pytest.raises(NotFoundError, match=r"unknown .* 'nope' \(available: .*acme-one"):
        hooks.load(kind, "nope", {})  # type: ignore[call-overload]


@pytest.mark.parametrize("kind", ["transports", "client_integrations"])
def test_kinds_without_settings_refuse_settings(kind: str) -> None:
    hooks = hooks_with(plugin_providing("acme_plain", kind, make_spec(kind, "plain")))
    with pytest.raises(PluginError, match=r"'plain' \(acme_plain\) takes no settings, got colour"):
        hooks.load(kind, "plain", {"colour": "red"})  # type: ignore[call-overload]


def test_builtin_extensions_load_through_the_same_door() -> None:
    hooks = hooks_with()
    assert callable(hooks.load("transports", "stdio"))
    provider = hooks.load("secrets_providers", "environment", {})
    assert provider.list_secrets.__self__ is provider  # a bound provider, checked as one
    client = hooks.load("client_integrations", "cursor")
    assert client.name == "cursor"
