"""What every plugin promises, whatever its kind: the base of the contract suites.

A suite loads the plugin the way ToolHive does: a fresh plugin manager that autoloads only the
plugin's entry point (``TOOLHIVE_LOAD_PLUGINS``, strict, so an import error fails the test), the
typed :class:`~toolhive.plugins.Hooks` facade, and ``Hooks.load`` (settings validated by the spec's
``config_model``, result checked against the kind's protocol). Core's built-ins have no entry
point (``entry_point = None``): they are registered by every plugin manager.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from toolhive.testing.fixtures import ThvHome

if TYPE_CHECKING:
    from toolhive.plugins import Hooks

#: What ``thv plugins`` and config.yaml call a spec: lower-case, digits, ``.``, ``_`` and ``-``.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

#: Third-party modules core itself has imported by the time any hook runs.
CORE_IMPORTS = frozenset(
    {"toolhive", "pluggy", "pydantic", "pydantic_core", "typing_extensions", "annotated_types",
     "typing_inspection"}
)  # fmt: skip

#: Collects the kind's specs in a fresh interpreter, first with core's built-ins only, then with
#: the plugin, and prints the modules the second step added (for runtimes, after ``detect``).
_IMPORT_PROBE = """
import json, os, sys
from toolhive.plugins import Hooks, build_plugin_manager
entry_point, kind, name = sys.argv[1:4]
build_plugin_manager(autoload=False)
before = set(sys.modules)
env = {"TOOLHIVE_LOAD_PLUGINS": entry_point, "TOOLHIVE_STRICT_PLUGINS": "1"}
hooks = Hooks(build_plugin_manager(autoload=bool(entry_point), environ=env))
spec = getattr(hooks, kind)()[name]
if kind == "runtimes":
    spec.detect(os.environ)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def plugin_hooks_for(entry_point: str | None) -> Hooks:
    """A plugin manager like ``thv``'s, with only ``entry_point`` loaded (none: built-ins only)."""
    from toolhive.plugins import Hooks, build_plugin_manager

    if entry_point is None:
        return Hooks(build_plugin_manager(autoload=False))
    env = {"TOOLHIVE_LOAD_PLUGINS": entry_point, "TOOLHIVE_STRICT_PLUGINS": "1"}
    pm = build_plugin_manager(autoload=True, environ=env)
    if entry_point not in pm.sources:
        pytest.fail(
            f"no entry point {entry_point!r} in the 'toolhive' group: is the plugin installed "
            "(pip install -e .) and its pyproject.toml's [project.entry-points.toolhive] right?",
            pytrace=False,
        )
    return Hooks(pm)


class PluginContract:
    """The base of every kind's suite. A subclass sets:

    ``name``
        The spec's name (what config.yaml, RunConfigs and ``thv plugins`` call it).
    ``entry_point``
        The plugin's entry point in the ``toolhive`` group; ``None`` for core's built-ins.
    ``heavy_modules``
        Top-level modules that the hook (and a runtime's ``detect``) must never import, e.g. the
        plugin's client SDK. Any third-party module beyond ``light_modules`` fails anyway; naming
        the SDK here makes the failure say so.
    ``light_modules``
        Third-party modules the hook may import besides core's own (rarely needed).

    and overrides the ``plugin_config`` fixture when the plugin needs settings to load (the
    mapping a user writes in config.yaml ``plugins.<section>.<name>``).
    """

    #: The ``Hooks`` registry of this kind (``runtimes``, ``secrets_providers`` …); set by each suite.
    kind: ClassVar[str]
    name: ClassVar[str]
    entry_point: ClassVar[str | None] = None
    heavy_modules: ClassVar[tuple[str, ...]] = ()
    light_modules: ClassVar[tuple[str, ...]] = ()

    # -- fixtures -----------------------------------------------------------------------------

    @pytest.fixture
    def plugin_config(self) -> dict[str, Any]:
        """The plugin's settings for these tests (default: none, so every default must work)."""
        return {}

    @pytest.fixture
    def plugin_hooks(self, thv_home: ThvHome) -> Hooks:
        """The hooks with the plugin loaded as ``thv`` loads it, in a temporary ToolHive home."""
        return plugin_hooks_for(self.entry_point)

    @pytest.fixture
    def plugin_spec(self, plugin_hooks: Hooks) -> Any:
        """The plugin's spec, as the host sees it."""
        registry: dict[str, Any] = getattr(plugin_hooks, self.kind)()
        if self.name not in registry:
            owner = self.entry_point or "core's built-ins"
            pytest.fail(
                f"{owner} provides no {self.kind} named {self.name!r} "
                f"(it has: {', '.join(sorted(registry)) or 'none'})",
                pytrace=False,
            )
        return registry[self.name]

    def load_with(self, hooks: Hooks, config: dict[str, Any]) -> object:
        """Load the extension with ``config`` as the host would (suites of each kind override)."""
        return hooks.load(self.kind, self.name, config)  # type: ignore[call-overload]

    # -- the spec -----------------------------------------------------------------------------

    def test_its_entry_point_provides_it(self, plugin_hooks: Hooks) -> None:
        if self.entry_point is None:
            owners = [p for p in plugin_hooks.pm.sources if plugin_hooks.pm.sources[p].builtin]
        else:
            owners = [self.entry_point]
            assert not plugin_hooks.pm.sources[self.entry_point].builtin
        provided = [
            owner
            for owner in owners
            if self.name in plugin_hooks.provided_by(owner).get(self.kind, [])
        ]
        assert provided, f"{self.name!r} is not among the {self.kind} of {owners}"

    def test_its_name_and_description_are_well_formed(self, plugin_spec: Any) -> None:
        assert NAME_PATTERN.match(plugin_spec.name), plugin_spec.name
        assert plugin_spec.description.strip(), "thv plugins shows the description: write one"

    def test_declaring_it_imports_nothing_heavy(self) -> None:
        """Every ``thv`` command collects the specs: that must cost the plugin's own package and
        the standard library, nothing else (checked in a fresh interpreter)."""
        proc = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, self.entry_point or "", self.kind, self.name],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("TOOLHIVE_")},
        )
        assert proc.returncode == 0, proc.stderr
        added = {m.split(".")[0] for m in json.loads(proc.stdout)}
        own = self._own_packages()
        heavy = sorted(added & set(self.heavy_modules))
        assert not heavy, f"declaring {self.name!r} imported {heavy}: import them in load()"
        allowed = set(sys.stdlib_module_names) | CORE_IMPORTS | own | set(self.light_modules)
        unexpected = sorted(m for m in added - allowed if m != "__main__")
        assert not unexpected, (
            f"declaring {self.name!r} imported third-party {unexpected}: every `thv` command "
            "pays for that; import them inside load()/factory"
        )

    def _own_packages(self) -> set[str]:
        from importlib import metadata

        if self.entry_point is None:
            return set()
        return {
            ep.value.split(":")[0].split(".")[0]
            for ep in metadata.entry_points(group="toolhive", name=self.entry_point)
        }


class SettingsContract(PluginContract):
    """For kinds whose specs carry a ``config_model``: the settings a user writes are checked."""

    def test_its_settings_refuse_unknown_keys(
        self, plugin_hooks: Hooks, plugin_config: dict[str, Any]
    ) -> None:
        with pytest.raises(Exception, match="no_such_setting") as caught:
            self.load_with(plugin_hooks, {**plugin_config, "no_such_setting": 1})
        from toolhive.errors import ToolHiveError

        assert isinstance(caught.value, ToolHiveError), caught.value

    def test_its_settings_are_frozen(self, plugin_spec: Any, plugin_config: dict[str, Any]) -> None:
        """Settings are a value: a plugin cannot change what the user configured under it."""
        model: type[BaseModel] = plugin_spec.config_model
        assert model.model_config.get("frozen") is True, f"{model.__name__} is not frozen"
        settings = model.model_validate(plugin_config)
        for field in model.model_fields:
            with pytest.raises(ValidationError, match="frozen"):
                setattr(settings, field, getattr(settings, field))
