"""A pytest plugin for testing ToolHive plugins, and the contract suite of every plugin kind.

Enable it in your plugin's top-level ``conftest.py`` (or with ``pytest -p toolhive.testing``)::

    pytest_plugins = ["toolhive.testing"]

Fixtures (:mod:`toolhive.testing.fixtures`):

``thv_home``
    Temporary ``XDG_CONFIG_HOME``/``XDG_DATA_HOME``/``XDG_STATE_HOME``/``XDG_CACHE_HOME`` so a test
    never reads or writes the user's ToolHive state. ``thv_home.env`` is an environment for
    subprocesses (``subprocess.run([...], env=thv_home.env)``).
``thv_plugins``, ``thv_autoload``
    What ``thv_pm`` registers: override them in a ``conftest.py`` or a module, or parametrize them
    (``@pytest.mark.parametrize("thv_plugins", [[my_plugin]])``). Defaults: no extra plugins and
    no entry-point loading, so a test sees only core's built-ins plus what it names.
``thv_pm``, ``thv_hooks``
    A fresh :class:`~toolhive.plugins.ToolHivePluginManager` per test, and the typed
    :class:`~toolhive.plugins.Hooks` facade over it.
``thv_cli``
    Runs ``thv`` in-process with click's ``CliRunner`` against those hooks, in ``thv_home``:
    ``result = thv_cli("plugins", "--format", "json")``.
``thv_distribution``
    Makes an *installed-looking* distribution for one test: a ``*.dist-info`` with an
    ``entry_points.txt`` (and optional modules) on a temporary ``sys.path`` entry, so
    :mod:`importlib.metadata` and the entry-point loader see real metadata without installing.
``thv_core_wheel`` (session)
    What to install as core (``toolhive-core``) in a fresh environment: a wheel built once per
    session from the source tree under test, or the requirement ``toolhive-core==<version>``.

Helpers: :func:`make_plugin` builds a throwaway plugin module from hook functions;
:func:`write_plugin_project` writes a minimal plugin project, :func:`build_wheel` builds it and
:class:`ThvVenv` installs wheels into a fresh virtual environment and runs its ``thv``
(:mod:`toolhive.testing.packaging`, needs ``uv``).

Contract suites, one per plugin kind: a base class your test module subclasses, naming the
extension and (for a distribution) its entry point. The suite loads the plugin the way ToolHive
does (entry point, ``Hooks``, settings validated by its ``config_model``) and checks what the
kind's protocol promises::

    from toolhive.testing import SecretsProviderContract

    class TestAcmeVault(SecretsProviderContract):
        name = "acme-vault"                  # the spec's name
        entry_point = "secrets-acme-vault"   # None for core's built-ins

- :class:`RuntimeContract` (:mod:`~toolhive.testing.runtime_contract`),
- :class:`TransportContract` (:mod:`~toolhive.testing.transport_contract`),
- :class:`MiddlewareContract` (:mod:`~toolhive.testing.middleware_contract`),
- :class:`SecretsProviderContract` (:mod:`~toolhive.testing.secrets_contract`),
- :class:`RegistrySourceContract` (:mod:`~toolhive.testing.registry_contract`),
- :class:`ClientIntegrationContract` (:mod:`~toolhive.testing.client_contract`),

all built on :class:`PluginContract` (:mod:`~toolhive.testing.plugin_contract`). Each class's
docstring lists what a subclass sets. Real MCP traffic in the suites goes to a small server on the
official SDK, :mod:`toolhive.testing.echo_server` (``python -m toolhive.testing.echo_server stdio``).
Tests of bearer-token validation use :class:`OIDCIssuer` (:mod:`toolhive.testing.oidc`): a real
issuer on 127.0.0.1 (discovery, JWKS, introspection) that signs its own tokens.

This package is imported by pytest at start-up, so it imports nothing here: names are loaded on
first use (PEP 562), and the fixtures come from ``pytest_plugins`` below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolhive.testing.client_contract import ClientIntegrationContract
    from toolhive.testing.fixtures import Distributions, ThvCli, ThvHome, make_plugin
    from toolhive.testing.middleware_contract import MiddlewareContract
    from toolhive.testing.oidc import OIDCIssuer
    from toolhive.testing.packaging import ThvVenv, build_wheel, write_plugin_project
    from toolhive.testing.plugin_contract import PluginContract, plugin_hooks_for
    from toolhive.testing.registry_contract import RegistrySourceContract
    from toolhive.testing.runtime_contract import RuntimeContract, skip_or_fail
    from toolhive.testing.secrets_contract import SecretsProviderContract
    from toolhive.testing.transport_contract import TransportContract

#: The fixtures, registered with this plugin (pytest honours ``pytest_plugins`` of a ``-p`` plugin).
pytest_plugins = ["toolhive.testing.fixtures"]

_EXPORTS: dict[str, str] = {
    "Distributions": "fixtures",
    "ThvCli": "fixtures",
    "ThvHome": "fixtures",
    "make_plugin": "fixtures",
    "ThvVenv": "packaging",
    "build_wheel": "packaging",
    "write_plugin_project": "packaging",
    "PluginContract": "plugin_contract",
    "plugin_hooks_for": "plugin_contract",
    "skip_or_fail": "runtime_contract",
    "RuntimeContract": "runtime_contract",
    "TransportContract": "transport_contract",
    "MiddlewareContract": "middleware_contract",
    "OIDCIssuer": "oidc",
    "SecretsProviderContract": "secrets_contract",
    "RegistrySourceContract": "registry_contract",
    "ClientIntegrationContract": "client_contract",
}

__all__ = [
    "ClientIntegrationContract",
    "Distributions",
    "MiddlewareContract",
    "OIDCIssuer",
    "PluginContract",
    "RegistrySourceContract",
    "RuntimeContract",
    "SecretsProviderContract",
    "ThvCli",
    "ThvHome",
    "ThvVenv",
    "TransportContract",
    "build_wheel",
    "make_plugin",
    "plugin_hooks_for",
    "skip_or_fail",
    "write_plugin_project",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
