"""schemathesis runs the whole OpenAPI document (docs/api/openapi.json) against a real ``thv serve``.

Every operation, every phase schemathesis has (examples, coverage, fuzzing, stateful), with these
checks: no server error (5xx), every answer's status code, content type and body as the document
declares them. A failure prints schemathesis's report (with ``curl`` lines to reproduce it).

The server runs in an isolated home with the process runtime only (``TOOLHIVE_RUNTIME=process``:
no container engine is touched); its ``HOME`` is inside that home too, so client configs the
fuzzer registers (``~/.cursor/mcp.json`` …) land there; the keyring is the null one (a secrets
password it sets up stays in the server's memory, never the OS keyring); and every outbound HTTP
request goes to a proxy that refuses it, so a fuzzed registry URL never reaches the network.

What is limited, and why (each is explicit in :data:`FUZZ_CONFIG` or :func:`_keep_workloads_cheap`):

* ``POST /workloads`` and ``POST /workloads/{name}/edit`` would start real MCP servers. Their
  generated bodies keep every field but the ones that pick *what* runs: ``image`` is a path that
  does not exist, ``url``/``registry``/``server``/``from_config`` are cleared — so each is
  validated as far as the server goes and refused (400/404) before anything starts. The lifecycle
  they would have opened is covered by one explicit cheap example instead
  (:func:`test_one_cheap_workload_answers_as_documented_through_its_whole_lifecycle`: the echo
  server on stdio, every answer validated against the document).
* ``POST /workloads/{name}/upgrade`` restarts a workload on a newer registry image, but only an
  existing registry-sourced one: none exists here (every create is refused), so it answers 404 or
  400 and needs no rewrite. The cheap lifecycle example checks and "upgrades" its workload (not
  registry-sourced: a 200 that changes nothing).
* ``POST /registry`` answers 501 by ToolHive's design (one registry, ``default``).
* ``PUT /registry/{name}`` answers 502/504 when the source it would switch to, or the ``auth``
  issuer's OIDC discovery, cannot be read — here every URL, since the proxy refuses them. Both are
  documented for the operation. So no registry OAuth is ever configured, and
  ``POST /registry/auth/login`` (which would wait for a browser) answers its documented 400 at once.

After the run, nothing may have started: no workload in the list, no runconfig saved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from toolhive.testing.api import ApiServer, api_server, isolated_env
from toolhive.testing.workloads import ECHO_STDIO, require_process_runtime

pytestmark = pytest.mark.process_runtime

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = REPO / "docs" / "api" / "openapi.json"
#: Generated cases per operation and phase: enough to reach every validation path the document
#: describes, small enough for a 2-core CI (the whole run takes one to two minutes).
MAX_EXAMPLES = 20
#: An address nothing listens on: outbound HTTP from the fuzzed server fails at once, locally.
NO_NETWORK_PROXY = "http://127.0.0.1:9"
#: Operations whose generated bodies are rewritten so that nothing can start (see the docstring).
STARTS_WORKLOADS = ("create_workload", "update_workload")
MISSING_IMAGE = "/nonexistent/thv-schemathesis"

FUZZ_CONFIG = f"""
# One worker: with two, CPython 3.11's ast.parse (Hypothesis describing a lambda) races between
# threads ("SystemError: AST constructor recursion depth mismatch", fixed in later CPythons).
workers = 1
request-timeout = 60

[generation]
max-examples = {MAX_EXAMPLES}
database = "none"

[cache]
enabled = false

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_schema_conformance.enabled = true

# The event stream never ends by itself: read up to its first event (the empty snapshot's "ready").
[[operations]]
include-operation-id = "stream_workload_events"
max-stream-events = 1
request-timeout = 10

# A log stream never ends by itself either (no workload exists while fuzzing: 404s and 400s).
[[operations]]
include-operation-id = "stream_workload_logs"
max-stream-events = 1
request-timeout = 10

# ToolHive answers POST /registry with 501: it has one registry ("default"), changed with PUT.
[[operations]]
include-operation-id = "add_registry"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "501"]

# 502/504: the new source or the auth issuer's discovery cannot be read (every URL here: outbound
# HTTP goes to a proxy that refuses it). Documented for the operation.
[[operations]]
include-operation-id = "update_registry"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502", "504"]

# Registry OAuth is never configured here (see update_registry), so login answers 400 at once; the
# timeout only bounds a regression that would start a browser flow.
[[operations]]
include-operation-id = "registry_auth_login"
request-timeout = 10
"""


def _keep_workloads_cheap(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """schemathesis ``before_call`` hook (in the ``st`` process): a generated create or edit body
    names a command that does not exist and no URL, registry server or exported config."""
    if case.operation.definition.raw.get("operationId") not in STARTS_WORKLOADS:
        return
    if isinstance(case.body, dict):
        case.body = {
            **case.body,
            "image": MISSING_IMAGE,
            "url": "",
            "registry": "",
            "server": "",
        }
        case.body.pop("from_config", None)


if os.environ.get("THV_SCHEMATHESIS_HOOKS") == "1":  # only in the `st` subprocess
    schemathesis.hook("before_call")(_keep_workloads_cheap)


def _server_env(home: Path) -> dict[str, str]:
    env = isolated_env(home)
    env["HOME"] = str(home / "user")
    env["TOOLHIVE_RUNTIME"] = "process"
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    for name in list(env):
        if name.startswith(("VAULT_", "OP_")) or name.lower().endswith("_proxy"):
            del env[name]  # no real secrets backend, no proxy exemptions
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = NO_NETWORK_PROXY
    env.pop("TOOLHIVE_SECRETS_PASSWORD", None)
    return env


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[ApiServer]:
    require_process_runtime()
    home = tmp_path / "home"
    (home / "user").mkdir(parents=True)
    with api_server(_server_env(home), openapi=True) as server:
        yield server


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(
    fuzzed: ApiServer, tmp_path: Path
) -> None:
    served = fuzzed.client.get("/api/openapi.json").json()
    assert served == json.loads(DOCUMENT.read_text()), "run `uv run python scripts/openapi.py`"
    config = tmp_path / "schemathesis.toml"
    config.write_text(FUZZ_CONFIG)
    env = {
        **os.environ,
        "THV_SCHEMATHESIS_HOOKS": "1",
        "SCHEMATHESIS_HOOKS": "tests.test_api_schemathesis",
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    st = Path(sys.executable).with_name("st")
    url = ["--url", fuzzed.base_url]
    run = subprocess.run(
        [str(st), "--no-color", "--config-file", str(config), "run", str(DOCUMENT), *url],
        cwd=tmp_path,  # schemathesis's own files stay out of the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, (
        f"schemathesis found problems:\n{report}\n--- thv serve:\n{fuzzed.log()[-6000:]}"
    )
    # Every operation of the document was tested (none filtered out by accident).
    tested = [line for line in report.splitlines() if line.strip().startswith("Tested:")]
    operations = sum(len(ops) for ops in served["paths"].values())
    assert tested and tested[0].split()[-1] == str(operations), report[-3000:]
    # Nothing started: the rewritten create/edit bodies were all refused.
    listed = fuzzed.client.get("/api/v1beta/workloads", params={"all": "true"}).json()
    assert listed == {"workloads": []}
    runconfigs = Path(fuzzed.env["XDG_STATE_HOME"]) / "toolhive" / "runconfigs"
    assert not runconfigs.is_dir() or not any(runconfigs.iterdir())


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def cheap(tmp_path: Path) -> Iterator[ApiServer]:
    """A server that may start the echo server (no proxy games: its supervisor talks HTTP)."""
    require_process_runtime()
    home = tmp_path / "home"
    (home / "user").mkdir(parents=True)
    env = isolated_env(home)
    env["HOME"] = str(home / "user")
    env["TOOLHIVE_RUNTIME"] = "process"
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    with api_server(env) as server:
        try:
            yield server
        finally:
            server.client.post("/api/v1beta/workloads/delete", json={"group": "default"})


def test_one_cheap_workload_answers_as_documented_through_its_whole_lifecycle(
    cheap: ApiServer,
) -> None:
    schema = schemathesis.openapi.from_path(DOCUMENT)
    name = "st-echo"

    def call(method: str, path: str, status: int, **parts: Any) -> Any:
        case = schema[path][method].Case(**parts)
        response = case.call(base_url=cheap.base_url, timeout=120)
        case.validate_response(response, checks=CHECKS)
        assert response.status_code == status, response.text
        return response

    body = {"name": name, "image": sys.executable, "transport": "stdio"}
    body["cmd_arguments"] = [ECHO_STDIO[-2], "stdio"]
    created = call("POST", "/api/v1beta/workloads", 201, body=body).json()
    assert created["name"] == name
    one = {"path_parameters": {"name": name}}
    call("GET", "/api/v1beta/workloads", 200, query={"all": "true"})
    call("GET", "/api/v1beta/workloads/{name}", 200, **one)
    deadline = time.monotonic() + 60
    while call("GET", "/api/v1beta/workloads/{name}/status", 200, **one).json()["status"] != (
        "running"
    ):
        assert time.monotonic() < deadline, "the echo server did not start in 60 s"
        time.sleep(0.2)
    call("GET", "/api/v1beta/workloads/{name}/export", 200, **one)
    signed = call("GET", "/api/v1beta/workloads/{name}/auth", 200, **one).json()
    assert signed["authorization_url"] == ""  # a local workload: no sign-in
    checked = call("GET", "/api/v1beta/workloads/{name}/upgrade-check", 200, **one).json()
    assert checked["result"]["status"] == "not-registry-sourced"
    upgraded = call("POST", "/api/v1beta/workloads/{name}/upgrade", 200, body={}, **one).json()
    assert upgraded == checked
    listed = call("GET", "/api/v1beta/workloads/upgrade-check", 200, query={"all": "true"})
    assert listed.json()["results"] == [checked["result"]]
    call("GET", "/api/v1beta/workloads/{name}/logs", 200, **one)
    call("GET", "/api/v1beta/workloads/{name}/proxy-logs", 200, **one)
    # The playground's calls reach the server (the fuzz run has no workload to reach: 400/404).
    mcp = "/api/v1beta/workloads/{name}/mcp"
    call("GET", f"{mcp}/capabilities", 200, **one)
    echo = {"name": "echo", "arguments": {"text": "hi"}}
    call("POST", f"{mcp}/tools/call", 200, body=echo, **one)
    # (The echo server has no resources or prompts; the 502 of its MCP error is by design.)
    call("POST", f"{mcp}/resources/read", 400, body={"uri": ""}, **one)
    call("POST", f"{mcp}/prompts/get", 400, body={"name": "p", "arguments": {"a": 1}}, **one)
    call("POST", "/api/v1beta/workloads/{name}/stop", 202, **one)
    call("POST", "/api/v1beta/workloads/{name}/restart", 202, **one)
    call("DELETE", "/api/v1beta/workloads/{name}", 202, **one)
