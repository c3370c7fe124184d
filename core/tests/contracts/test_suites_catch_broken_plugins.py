"""The contract suites can fail: each runs against a plugin broken on purpose, and exactly the tests
of the broken promises fail (the rest pass, so nothing fails for an unrelated reason).

Each broken plugin is a real distribution (``*.dist-info`` with its entry point) on ``PYTHONPATH``
of a fresh ``pytest`` process, so the suites load it as they load any plugin; results come from that
run's JUnit XML.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def run_suite(tmp_path: Path, entry_point: str, plugin: str, tests: str) -> dict[str, str]:
    """Install ``plugin`` as distribution ``broken-<entry point>``, run ``tests`` against it and
    return each test's outcome by name (``passed``, ``failed``, ``skipped``)."""
    module = entry_point.replace("-", "_")
    site = tmp_path / "site"
    dist_info = site / f"broken_{module}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: broken-{entry_point}\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[toolhive]\n{entry_point} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(plugin))
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / f"test_broken_{module}.py").write_text(textwrap.dedent(tests))
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLHIVE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "toolhive.testing",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
            f"--rootdir={suite}",
            str(suite),
        ],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert report.exists(), proc.stdout + proc.stderr
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):
        kinds = {child.tag for child in case}
        outcome = (
            "failed"
            if kinds & {"failure", "error"}
            else "skipped"
            if "skipped" in kinds
            else "passed"
        )
        outcomes[case.attrib["name"]] = outcome
    assert outcomes, proc.stdout + proc.stderr
    return outcomes


def failed(outcomes: dict[str, str]) -> set[str]:
    assert "skipped" not in outcomes.values(), outcomes
    return {name for name, outcome in outcomes.items() if outcome == "failed"}


def test_the_secrets_suite_catches_a_leaky_forgetful_provider(tmp_path: Path) -> None:
    plugin = """
        from pydantic import ConfigDict
        from toolhive.contracts import PluginConfig, SecretsCapabilities, SecretsProviderSpec, hookimpl
        from toolhive.contracts.secrets import SecretDescription, SecretsProviderBase

        class Loose(PluginConfig):
            model_config = ConfigDict(extra="allow", frozen=False)
            vault: str = "main"

        class Leaky(SecretsProviderBase):
            name = "leaky"
            def __init__(self):
                self.data = {}                              # another load sees nothing
            def get_secret(self, name):
                return self.data.get(name, "")              # missing is "", not an error
            def set_secret(self, name, value):
                self.data[name] = value
            def delete_secret(self, name):
                self.data.pop(name, None)
            def list_secrets(self):
                return [SecretDescription(k, v) for k, v in self.data.items()]  # values shown
            def cleanup(self):
                self.data.clear()

        @hookimpl
        def thv_secrets_providers():
            caps = SecretsCapabilities(can_write=True, can_delete=True, can_list=True, can_cleanup=True)
            return [SecretsProviderSpec(name="leaky", description="broken on purpose",
                                        capabilities=caps, config_model=Loose, load=lambda c: Leaky())]
    """
    tests = """
        from toolhive.testing import SecretsProviderContract

        class TestLeaky(SecretsProviderContract):
            name = "leaky"
            entry_point = "secrets-leaky"
    """
    assert failed(run_suite(tmp_path, "secrets-leaky", plugin, tests)) == {
        "test_its_settings_refuse_unknown_keys",
        "test_its_settings_are_frozen",
        "test_a_missing_secret_is_not_found_naming_it",
        "test_writing_follows_its_capabilities",
        "test_deleting_follows_its_capabilities",
        "test_listing_follows_its_capabilities",
        "test_cleanup_follows_its_capabilities",
        "test_values_never_show_in_errors_or_its_repr",
    }


def test_the_middleware_suite_catches_a_heavy_body_dropping_middleware(tmp_path: Path) -> None:
    plugin = """
        import httpx  # at hook time: every thv command would pay for it
        from toolhive.contracts import MiddlewareParameters, MiddlewareSpec, hookimpl

        class Params(MiddlewareParameters):
            level: int = 1                                 # no bounds: -1 is accepted

        def factory(app, params, context):
            async def dropping(scope, receive, send):
                async def empty():
                    message = await receive()
                    return {**message, "body": b"", "more_body": False}
                await app(scope, empty, send)
            return dropping

        @hookimpl
        def thv_middleware():
            return [MiddlewareSpec(name="dropper", description="broken on purpose",
                                   config_model=Params, factory=factory)]
    """
    tests = """
        from toolhive.testing import MiddlewareContract

        class TestDropper(MiddlewareContract):
            name = "dropper"
            entry_point = "middleware-dropper"
            heavy_modules = ("httpx",)
            invalid_parameters = ({"level": -1},)
    """
    assert failed(run_suite(tmp_path, "middleware-dropper", plugin, tests)) == {
        "test_declaring_it_imports_nothing_heavy",
        "test_invalid_parameters_are_refused",
        "test_an_acceptable_request_passes_through",
        "test_it_runs_in_a_workloads_chain",
    }


def test_the_registry_suite_catches_a_sloppy_source(tmp_path: Path) -> None:
    plugin = """
        from toolhive.contracts import PluginConfig, RegistrySourceSpec, hookimpl

        class Sloppy:
            kind = "file"
            location = "/nowhere"
            def list_servers(self):
                from toolhive.contracts.registry_data import ImageMetadata
                names = ["io.x/zeta", "io.x/alpha", "io.x/alpha"]    # unsorted, a duplicate
                return [ImageMetadata(name=n, description=n, image=f"x/{n}:1") for n in names]
            def get(self, name):
                entries = self.list_servers()
                return next((e for e in entries if e.name == name), entries[0])  # never None
            def search(self, query):
                return self.list_servers()                          # everything matches

        @hookimpl
        def thv_registry_sources():
            return [RegistrySourceSpec(name="sloppy", description="broken on purpose",
                                       config_model=PluginConfig, load=lambda c: Sloppy())]
    """
    tests = """
        from toolhive.testing import RegistrySourceContract

        class TestSloppy(RegistrySourceContract):
            name = "sloppy"
            entry_point = "registry-sloppy"
            known_server = "io.x/zeta"
    """
    assert failed(run_suite(tmp_path, "registry-sloppy", plugin, tests)) == {
        "test_it_lists_valid_entries_sorted_by_unique_name",
        "test_its_entries_form_a_valid_registry_document",
        "test_an_unknown_server_is_not_found",
    }


def test_the_client_suite_catches_a_clobbering_integration(tmp_path: Path) -> None:
    plugin = """
        import json
        from pathlib import Path
        from toolhive.contracts import ClientSpec, hookimpl

        class Clobber:
            name = "clobber"
            description = "broken on purpose"
            def config_path(self):
                return Path.home() / ".clobber" / "mcp.json"
            def installed(self):
                return False
            def render(self, server):
                return {"url": server.url}
            def entries(self):
                try:
                    return json.loads(self.config_path().read_text()).get("servers", {})
                except (FileNotFoundError, ValueError):
                    return {}
            def _write(self, servers):
                path = self.config_path()
                path.parent.mkdir(parents=True, exist_ok=True)
                (path.parent / "mcp.json.tmp~").write_text("left behind")
                path.write_text(json.dumps({"servers": servers}))   # the rest of the file is lost
            def upsert(self, server):
                self._write({**self.entries(), server.name: self.render(server)})
            def remove(self, name):
                servers = self.entries()
                servers.pop(name, None)
                self._write(servers)
                return True                                         # even when it was not there

        @hookimpl
        def thv_client_integrations():
            return [ClientSpec(name="clobber", description="broken on purpose", load=Clobber)]
    """
    tests = """
        from toolhive.testing import ClientIntegrationContract

        class TestClobber(ClientIntegrationContract):
            name = "clobber"
            entry_point = "client-clobber"
            existing_config = '{"theme": "dark", "servers": {"mine": {"command": "x"}}}'
            preserved = ('"theme": "dark"', '"mine"')
    """
    assert failed(run_suite(tmp_path, "client-clobber", plugin, tests)) == {
        "test_removing_reports_whether_it_was_there",
        "test_edits_keep_everything_else_in_the_file",
        "test_writes_leave_no_temporary_files",
        "test_a_damaged_file_is_refused_and_left_alone",
    }


def test_the_transport_suite_catches_a_transport_that_pings_a_dead_server(tmp_path: Path) -> None:
    plugin = """
        from toolhive.contracts import TransportSpec, hookimpl

        def load():
            from toolhive.transports.stdio import StdioBridge

            class Deaf(StdioBridge):
                async def ping(self, timeout=5.0):
                    return None                                  # "healthy", whatever happens

            return Deaf

        @hookimpl
        def thv_transports():
            return [TransportSpec(name="deaf", description="broken on purpose",
                                  needs_stdio=True, load=load)]
    """
    tests = """
        from toolhive.testing import TransportContract

        class TestDeaf(TransportContract):
            name = "deaf"
            entry_point = "transport-deaf"
    """
    assert failed(run_suite(tmp_path, "transport-deaf", plugin, tests)) == {
        "test_ping_fails_promptly_once_the_server_is_gone"
    }


@pytest.mark.process_runtime
def test_the_runtime_suite_catches_a_runtime_that_does_not_wait_or_stop(tmp_path: Path) -> None:
    plugin = """
        from toolhive.contracts import PluginConfig, RuntimeDetection, RuntimeSpec, hookimpl

        def detect(environ):
            from toolhive_runtime_process import detect
            return RuntimeDetection(**{**detect(environ).model_dump(), "name": "hasty"})

        def load(detection, config):
            from toolhive_runtime_process.runtime import ProcessRuntime

            class Hasty(ProcessRuntime):
                name = "hasty"
                def wait(self, name):
                    self.inspect(name)
                    return 0                                   # without waiting
                def stop(self, name, timeout=30):
                    return None                                # never stops anything

            return Hasty(bwrap=detection.endpoint)

        @hookimpl
        def thv_runtimes():
            return [RuntimeSpec(name="hasty", description="broken on purpose", is_container=False,
                                config_model=PluginConfig, detect=detect, load=load)]
    """
    tests = """
        from toolhive.testing import RuntimeContract

        class TestHasty(RuntimeContract):
            name = "hasty"
            entry_point = "runtime-hasty"
            light_modules = ("toolhive_runtime_process",)
    """
    outcomes = run_suite(tmp_path, "runtime-hasty", plugin, tests)
    assert failed(outcomes) == {
        "test_wait_returns_the_exit_code",
        "test_the_servers_environment_is_set",
        "test_read_only_mounts_are_enforced",
        "test_stop_is_prompt_and_idempotent",
    }
