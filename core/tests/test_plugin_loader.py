"""Entry-point discovery: filtering before import, isolating failures, strict mode, autoload.

The in-process tests give each throwaway plugin real metadata (a ``*.dist-info`` with an
``entry_points.txt`` on a temporary ``sys.path`` entry, see ``toolhive.testing``), so
``importlib.metadata`` discovers it exactly as an installed one. The last group installs throwaway
distributions into a fresh virtual environment and runs its ``thv plugins``.

Every build passes ``environ`` explicitly, so ``TOOLHIVE_*`` variables of the caller (CI sets
``TOOLHIVE_STRICT_PLUGINS=1``) do not leak in.
"""

from __future__ import annotations

import json
import sys

import pluggy
import pytest
from toolhive.errors import DuplicatePluginError, PluginError
from toolhive.plugins import (
    BUILTIN_PLUGINS,
    Hooks,
    PluginSource,
    build_plugin_manager,
)
from toolhive.testing import (
    Distributions,
    ThvCli,
    ThvHome,
    ThvVenv,
    build_wheel,
    write_plugin_project,
)


def transport_plugin(*names: str) -> str:
    """Source of a plugin module declaring transports ``names``."""
    specs = ", ".join(f'TransportSpec(name="{n}", load=_load)' for n in names)
    return (
        "from toolhive.contracts import hookimpl\n"
        "from toolhive.contracts.specs import TransportSpec\n\n"
        "def _load():\n"
        "    raise AssertionError('never loaded in these tests')\n\n"
        "@hookimpl\n"
        f"def thv_transports():\n    return [{specs}]\n"
    )


@pytest.fixture
def acme(thv_distribution: Distributions) -> Distributions:
    """Three installed-looking plugins: two good ones and one whose import fails."""
    thv_distribution(
        "acme-transport-one",
        version="1.2",
        entry_points={"transport-one": "acme_transport_one"},
        modules={"acme_transport_one": transport_plugin("one")},
    )
    thv_distribution(
        "acme-transport-two",
        version="2.0",
        entry_points={"transport-two": "acme_transport_two"},
        modules={"acme_transport_two": transport_plugin("two")},
    )
    thv_distribution(
        "acme-transport-broken",
        version="0.3",
        entry_points={"transport-broken": "acme_transport_broken"},
        modules={"acme_transport_broken": "import acme_sdk_that_is_not_installed\n"},
    )
    return thv_distribution


ACME = "transport-one,transport-two,transport-broken"


def loaded(pm: pluggy.PluginManager) -> set[str]:
    return {name for name, plugin in pm.list_name_plugin() if plugin is not None}


def test_entry_point_plugins_are_loaded_with_their_distribution(acme: Distributions) -> None:
    pm = build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "transport-one,transport-two"})

    assert {"transport-one", "transport-two", *BUILTIN_PLUGINS} <= loaded(pm)
    assert pm.sources["transport-one"] == PluginSource("acme-transport-one", "1.2")
    assert pm.sources["transport-two"] == PluginSource("acme-transport-two", "2.0")
    hooks = Hooks(pm)
    assert {"one", "two", "stdio"} <= set(hooks.transports())
    assert hooks.describe("transport-one") == "acme-transport-one 1.2"
    assert hooks.provided_by("transport-two") == {"transports": ["two"]}


def test_every_installed_plugin_loads_by_default(acme: Distributions) -> None:
    pm = build_plugin_manager(environ={})
    assert {"transport-one", "transport-two"} <= loaded(pm)
    assert "transport-broken" in {f.entry_point for f in pm.load_failures}


@pytest.mark.parametrize("disabled", ["transport-broken", "acme-transport-broken"])
def test_disable_plugins_by_entry_point_or_distribution_before_importing(
    acme: Distributions, disabled: str
) -> None:
    pm = build_plugin_manager(environ={"TOOLHIVE_DISABLE_PLUGINS": f" {disabled} , other"})

    assert "transport-broken" not in loaded(pm)
    assert pm.is_blocked("transport-broken")
    assert pm.load_failures == [] or all(
        f.entry_point != "transport-broken" for f in pm.load_failures
    )
    assert "acme_transport_broken" not in sys.modules  # filtered before import
    assert {"transport-one", "transport-two"} <= loaded(pm)


def test_disable_wins_over_the_allowlist(acme: Distributions) -> None:
    pm = build_plugin_manager(
        environ={"TOOLHIVE_LOAD_PLUGINS": ACME, "TOOLHIVE_DISABLE_PLUGINS": "transport-one"}
    )
    assert "transport-one" not in loaded(pm)
    assert "acme_transport_one" not in sys.modules
    assert "transport-two" in loaded(pm)


@pytest.mark.parametrize("allowed", ["transport-two", "acme-transport-two"])
def test_load_plugins_is_an_allowlist_of_entry_points_or_distributions(
    acme: Distributions, allowed: str
) -> None:
    pm = build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": allowed})

    assert loaded(pm) == {"transport-two", *BUILTIN_PLUGINS}
    assert pm.load_failures == []
    assert "acme_transport_one" not in sys.modules
    assert "acme_transport_broken" not in sys.modules


@pytest.mark.parametrize("value", ["", " , "])
def test_an_empty_allowlist_loads_no_entry_point_plugin(acme: Distributions, value: str) -> None:
    pm = build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": value})
    assert loaded(pm) == set(BUILTIN_PLUGINS)
    assert set(Hooks(pm).transports()) == {"stdio", "sse", "streamable-http"}


@pytest.mark.parametrize(
    ("target", "source", "error"),
    [
        ("acme_bad", "import acme_sdk_missing\n", "ModuleNotFoundError: No module named"),
        ("acme_bad", "raise RuntimeError('no config file')\n", "RuntimeError: no config file"),
        ("acme_bad", "def (:\n", "SyntaxError"),
        ("acme_bad:missing", "", "AttributeError"),
        ("acme_not_there", None, "ModuleNotFoundError: No module named 'acme_not_there'"),
    ],
)
def test_an_import_failure_is_recorded_not_raised(
    thv_distribution: Distributions, target: str, source: str | None, error: str
) -> None:
    thv_distribution(
        "acme-bad",
        version="0.1",
        entry_points={"bad": target},
        modules={} if source is None else {"acme_bad": source},
    )
    pm = build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "bad"})

    assert "bad" not in loaded(pm)
    [failure] = pm.load_failures
    assert (failure.entry_point, failure.distribution, failure.version) == (
        "bad",
        "acme-bad",
        "0.1",
    )
    assert error in failure.error
    assert "bad" not in pm.sources


def test_thv_plugins_shows_load_failures(acme: Distributions, thv_cli: ThvCli) -> None:
    hooks = Hooks(build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": ACME}))

    text = thv_cli("plugins", hooks=hooks)
    assert text.exit_code == 0, text.output
    rows = [line.split() for line in text.stdout.splitlines()]
    assert rows[0] == ["NAME", "DISTRIBUTION", "VERSION", "PROVIDES"]
    assert ["transport-one", "acme-transport-one", "1.2", "transports:", "one"] in rows
    assert text.stderr == (
        "FAILED transport-broken (acme-transport-broken 0.3): ModuleNotFoundError: "
        "No module named 'acme_sdk_that_is_not_installed'\n"
    )

    data = json.loads(thv_cli("plugins", "--format", "json", hooks=hooks).stdout)
    assert data["failures"] == [
        {
            "name": "transport-broken",
            "distribution": "acme-transport-broken",
            "version": "0.3",
            "error": "ModuleNotFoundError: No module named 'acme_sdk_that_is_not_installed'",
        }
    ]
    rows = {row["name"]: row for row in data["plugins"]}
    assert rows["transport-one"] == {
        "name": "transport-one",
        "distribution": "acme-transport-one",
        "version": "1.2",
        "builtin": False,
        "provides": {"transports": ["one"]},
    }
    assert rows[BUILTIN_PLUGINS[0]]["builtin"] is True


@pytest.mark.parametrize(
    ("environ", "strict"),
    [
        ({"TOOLHIVE_STRICT_PLUGINS": "1"}, None),
        ({"TOOLHIVE_STRICT_PLUGINS": "true"}, None),
        ({}, True),
    ],
)
def test_strict_mode_makes_a_load_failure_an_error(
    acme: Distributions, environ: dict[str, str], strict: bool | None
) -> None:
    with pytest.raises(PluginError) as info:
        build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": ACME, **environ}, strict=strict)
    assert str(info.value) == (
        "plugins failed to load: transport-broken (acme-transport-broken): "
        "ModuleNotFoundError: No module named 'acme_sdk_that_is_not_installed'"
    )


def test_strict_false_overrides_the_environment(acme: Distributions) -> None:
    environ = {"TOOLHIVE_LOAD_PLUGINS": ACME, "TOOLHIVE_STRICT_PLUGINS": "1"}
    pm = build_plugin_manager(environ=environ, strict=False)
    assert [f.entry_point for f in pm.load_failures] == ["transport-broken"]


def test_strict_mode_without_failures_is_quiet(acme: Distributions) -> None:
    pm = build_plugin_manager(
        environ={"TOOLHIVE_LOAD_PLUGINS": "transport-one", "TOOLHIVE_STRICT_PLUGINS": "1"}
    )
    assert "transport-one" in loaded(pm)


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "TRUE"])
def test_disable_plugin_autoload(acme: Distributions, value: str) -> None:
    pm = build_plugin_manager(environ={"TOOLHIVE_DISABLE_PLUGIN_AUTOLOAD": value})
    assert loaded(pm) == set(BUILTIN_PLUGINS)
    assert pm.load_failures == []
    # An explicit autoload=True still loads them.
    pm = build_plugin_manager(
        autoload=True,
        environ={
            "TOOLHIVE_DISABLE_PLUGIN_AUTOLOAD": value,
            "TOOLHIVE_LOAD_PLUGINS": "transport-one",
        },
    )
    assert "transport-one" in loaded(pm)


@pytest.mark.parametrize("value", ["0", "", "no"])
def test_autoload_stays_on_for_falsy_values(acme: Distributions, value: str) -> None:
    pm = build_plugin_manager(
        environ={
            "TOOLHIVE_DISABLE_PLUGIN_AUTOLOAD": value,
            "TOOLHIVE_LOAD_PLUGINS": "transport-one",
        }
    )
    assert "transport-one" in loaded(pm)


def test_blocked_names_cover_entry_points_and_builtins(acme: Distributions) -> None:
    pm = build_plugin_manager(
        blocked=["transport-one", BUILTIN_PLUGINS[0]],
        environ={"TOOLHIVE_LOAD_PLUGINS": "transport-one,transport-two"},
    )
    assert loaded(pm) == {"transport-two", *BUILTIN_PLUGINS[1:]}
    assert set(Hooks(pm).transports()) == {"two"}


def test_an_invalid_plugin_is_an_error_naming_its_distribution(
    thv_distribution: Distributions,
) -> None:
    thv_distribution(
        "acme-invalid",
        version="0.9",
        entry_points={"invalid": "acme_invalid"},
        modules={
            "acme_invalid": (
                "from toolhive.contracts import hookimpl\n\n"
                "@hookimpl\ndef thv_runtimes(settings):\n    return []\n"
            )
        },
    )
    # Never hidden, strict or not.
    with pytest.raises(PluginError, match=r"plugin 'invalid' from acme-invalid 0\.9 is invalid"):
        build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "invalid"}, strict=False)


def test_an_unknown_hook_is_an_error_naming_its_distribution(
    thv_distribution: Distributions,
) -> None:
    thv_distribution(
        "acme-typo",
        version="0.2",
        entry_points={"typo": "acme_typo"},
        modules={
            "acme_typo": (
                "from toolhive.contracts import hookimpl\n\n@hookimpl\ndef thv_runtime():\n    return []\n"
            )
        },
    )
    with pytest.raises(PluginError, match=r"acme-typo 0\.2.*thv_runtime"):
        build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "typo"})


def test_duplicate_specs_from_two_distributions_name_both(thv_distribution: Distributions) -> None:
    for dist, version in (("acme-a", "1.0"), ("acme-b", "2.5")):
        module = dist.replace("-", "_")
        thv_distribution(
            dist,
            version=version,
            entry_points={dist.removeprefix("acme-") + "-dup": module},
            modules={module: transport_plugin("dup")},
        )
    hooks = Hooks(build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "acme-a,acme-b"}))
    with pytest.raises(DuplicatePluginError) as info:
        hooks.transports()
    assert "transport 'dup' provided by both" in str(info.value)
    assert "acme-a 1.0" in str(info.value) and "acme-b 2.5" in str(info.value)


def test_the_same_entry_point_name_in_two_distributions_is_an_error(
    thv_distribution: Distributions,
) -> None:
    for dist in ("acme-first", "acme-second"):
        module = dist.replace("-", "_")
        thv_distribution(
            dist,
            entry_points={"transport-same": module},
            modules={module: transport_plugin(dist)},
        )
    with pytest.raises(PluginError, match=r"acme-first.*acme-second|acme-second.*acme-first"):
        build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "transport-same"})


def test_an_entry_point_may_name_an_object(thv_distribution: Distributions) -> None:
    thv_distribution(
        "acme-object",
        entry_points={"object": "acme_object:plugin"},
        modules={
            "acme_object": (
                "from toolhive.contracts import hookimpl\n"
                "from toolhive.contracts.specs import CommandRef\n\n"
                "class Plugin:\n"
                "    @hookimpl\n"
                "    def thv_cli_commands(self):\n"
                "        return [CommandRef(name='obj', target='acme_object:cmd')]\n\n"
                "plugin = Plugin()\n"
            )
        },
    )
    pm = build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "object"})
    assert pm.sources["object"] == PluginSource("acme-object", "1.0")
    assert Hooks(pm).provided_by("object") == {"cli_commands": ["obj"]}


def test_trace_plugins_prints_hook_calls(
    acme: Distributions, capsys: pytest.CaptureFixture[str]
) -> None:
    pm = build_plugin_manager(
        environ={"TOOLHIVE_LOAD_PLUGINS": "transport-one", "TOOLHIVE_TRACE_PLUGINS": "1"}
    )
    Hooks(pm).transports()
    assert "thv_transports" in capsys.readouterr().err


# --- installed for real, in a fresh environment ----------------------------------------------


@pytest.fixture(scope="module")
def acme_venv(tmp_path_factory: pytest.TempPathFactory, thv_core_wheel: str) -> ThvVenv:
    """core + a good and a broken throwaway plugin, installed into a fresh environment."""
    root = tmp_path_factory.mktemp("acme-installed")
    good = write_plugin_project(
        root,
        "acme-transport-good",
        entry_points={"transport-good": "acme_transport_good"},
        modules={"acme_transport_good": transport_plugin("good")},
    )
    broken = write_plugin_project(
        root,
        "acme-transport-broken",
        version="0.3.0",
        entry_points={"transport-broken": "acme_transport_broken"},
        modules={"acme_transport_broken": "import acme_sdk_that_is_not_installed\n"},
    )
    venv = ThvVenv.create(root / "venv")
    venv.install(
        thv_core_wheel, build_wheel(good, root / "dist"), build_wheel(broken, root / "dist")
    )
    return venv


def run_plugins(venv: ThvVenv, home: ThvHome, *args: str, **environ: str) -> tuple[int, str, str]:
    env = {k: v for k, v in home.env.items() if not k.startswith("TOOLHIVE_")}
    proc = venv.thv("plugins", *args, env={**env, **environ})
    return proc.returncode, proc.stdout, proc.stderr


def test_installed_plugins_and_failures_in_thv_plugins(
    acme_venv: ThvVenv, thv_home: ThvHome
) -> None:
    code, out, err = run_plugins(acme_venv, thv_home, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert {p["name"]: p["distribution"] for p in data["plugins"]} == {
        "transport-good": "acme-transport-good",
        **dict.fromkeys(BUILTIN_PLUGINS, "toolhive-core"),
    }
    assert data["failures"] == [
        {
            "name": "transport-broken",
            "distribution": "acme-transport-broken",
            "version": "0.3.0",
            "error": "ModuleNotFoundError: No module named 'acme_sdk_that_is_not_installed'",
        }
    ]

    code, out, err = run_plugins(acme_venv, thv_home)
    assert code == 0, err
    assert "transport-good" in out and "transports: good" in out
    assert "FAILED transport-broken (acme-transport-broken 0.3.0): ModuleNotFoundError" in err


def test_installed_strict_mode_fails_with_one_line(acme_venv: ThvVenv, thv_home: ThvHome) -> None:
    code, out, err = run_plugins(acme_venv, thv_home, TOOLHIVE_STRICT_PLUGINS="1")
    assert code == 1
    assert out == ""
    assert err == (
        "Error: plugins failed to load: transport-broken (acme-transport-broken): "
        "ModuleNotFoundError: No module named 'acme_sdk_that_is_not_installed'\n"
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TOOLHIVE_DISABLE_PLUGINS": "acme-transport-broken"}, {"transport-good"}),
        ({"TOOLHIVE_LOAD_PLUGINS": "transport-good"}, {"transport-good"}),
        ({"TOOLHIVE_LOAD_PLUGINS": ""}, set()),
        ({"TOOLHIVE_DISABLE_PLUGIN_AUTOLOAD": "1"}, set()),
    ],
)
def test_installed_filters(
    acme_venv: ThvVenv, thv_home: ThvHome, environ: dict[str, str], expected: set[str]
) -> None:
    code, out, err = run_plugins(acme_venv, thv_home, "--format", "json", **environ)
    assert code == 0, err
    data = json.loads(out)
    assert {p["name"] for p in data["plugins"] if not p["builtin"]} == expected
    assert data["failures"] == []


def test_the_fresh_environment_holds_only_core_and_the_throwaway_plugins(
    acme_venv: ThvVenv,
) -> None:
    names = set(acme_venv.distributions())
    assert {"toolhive-core", "acme-transport-good", "acme-transport-broken"} <= names
    # no workspace plugin leaked in
    assert not {n for n in names if n.startswith("toolhive-")} - {"toolhive-core"}
