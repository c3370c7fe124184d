"""The workload's middleware chain, end to end: a RunConfig's ``middleware_configs`` and protection
fields become real ASGI middleware in the detached supervisor, from an installed plugin, in
ToolHive's order (first entry outermost); and a RunConfig asking for protection that nothing
installed enforces is refused at `thv run --from-config` and `thv start` — never run open.

The plugin here is a real distribution (dist-info + entry point) on ``PYTHONPATH``, so the `thv`
CLI and the supervisor it spawns both discover it the way they discover any installed plugin.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES, Thv, require_or_skip
from tests.mcp_client import call_tool, list_tools

pytestmark = pytest.mark.timeout(180)

ECHO = [sys.executable, "--transport", "stdio", "--", str(FIXTURES / "echo_server.py"), "stdio"]

PLUGIN_SOURCE = textwrap.dedent(
    '''
    """Test middleware: tags responses, reads the parsed request, filters tool calls."""
    from toolhive.contracts import hookimpl
    from toolhive.contracts.middleware import (
        MiddlewareParameters, MiddlewareSpec, parsed_request, read_mcp_request,
    )


    class Tag(MiddlewareParameters):
        value: str


    class Filter(MiddlewareParameters):
        filter_tools: list[str] = []
        tools_override: dict = {}


    def tag(app, config, ctx):
        async def wrapped(scope, receive, send):
            async def tagging(message):
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-chain", config.value.encode())]
                await send(message)
            await app(scope, receive, tagging)
        return wrapped


    def seen(app, config, ctx):
        """Inside mcp-parser: reports the method it parsed and the workload it serves."""
        async def wrapped(scope, receive, send):
            parsed = parsed_request(scope)
            async def tagging(message):
                if message["type"] == "http.response.start" and parsed is not None:
                    extra = [(b"x-parsed", parsed.method.encode()), (b"x-workload", ctx.workload.encode())]
                    message["headers"] = [*message["headers"], *extra]
                await send(message)
            await app(scope, receive, tagging)
        return wrapped


    def call_filter(app, config, ctx):
        """Outside mcp-parser (ToolHive's order): reads the body itself."""
        async def wrapped(scope, receive, send):
            parsed, receive = await read_mcp_request(scope, receive)
            if parsed and parsed.method == "tools/call" and parsed.resource_id not in config.filter_tools:
                body = (
                    b'{"jsonrpc":"2.0","id":' + str(parsed.id).encode()
                    + b',"error":{"code":-32602,"message":"tool not found"}}'
                )
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
            await app(scope, receive, send)
        return wrapped


    def passthrough(app, config, ctx):
        return app


    @hookimpl
    def thv_middleware():
        return [
            MiddlewareSpec(name="test-tag", config_model=Tag, factory=tag),
            MiddlewareSpec(name="test-seen", config_model=MiddlewareParameters, factory=seen),
            MiddlewareSpec(name="tool-filter", config_model=Filter, factory=passthrough),
            MiddlewareSpec(name="tool-call-filter", config_model=Filter, factory=call_filter),
        ]
    '''
)


def install_test_plugin(root: Path) -> Path:
    """A minimal installed distribution: module + dist-info with a ``toolhive`` entry point."""
    site = root / "site"
    (site / "thv_chain_test.py").parent.mkdir(parents=True, exist_ok=True)
    (site / "thv_chain_test.py").write_text(PLUGIN_SOURCE)
    info = site / "thv_chain_test-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thv-chain-test\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[toolhive]\nchain-test = thv_chain_test\n")
    return site


#: The real distributions providing what this file's tests provide themselves or need absent.
REAL_PLUGINS = "toolhive-middleware-auth,toolhive-middleware-authz,toolhive-middleware-tools"


def without_real_plugins(env: dict[str, str]) -> None:
    """As if the workspace's middleware distributions were not installed."""
    env["TOOLHIVE_DISABLE_PLUGINS"] = REAL_PLUGINS


def with_plugin(env: dict[str, str], tmp_path: Path) -> None:
    site = str(install_test_plugin(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")]))
    without_real_plugins(env)  # the test plugin provides tool-filter itself


def needs_bwrap() -> None:
    if not Path("/usr/bin/bwrap").exists():
        require_or_skip("bubblewrap")


def exported_echo(thv: Thv, tmp_path: Path, name: str) -> dict:
    """A RunConfig the way `thv export` writes it, for the echo server on the process runtime."""
    thv("run", "--name", name, "--runtime", "process", *ECHO)
    exported = json.loads(thv("export", name, "-").stdout)
    thv("rm", name)
    return {**exported, "port": 0}


def run_from(thv: Thv, tmp_path: Path, config: dict, *, check: bool = True):
    path = tmp_path / f"{config['name']}.json"
    path.write_text(json.dumps(config))
    return thv("run", "--from-config", str(path), check=check)


def url_of(thv: Thv, name: str) -> str:
    return json.loads(thv("status", name, "--format", "json").stdout)["url"]


def post(url: str, body: dict, session: str | None = None) -> httpx.Response:
    headers = {"accept": "application/json, text/event-stream"}
    if session:
        headers["mcp-session-id"] = session
    return httpx.post(url, json=body, headers=headers, timeout=30)


INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "chain-test", "version": "1"},
    },
}


def test_the_chain_runs_in_order_from_an_installed_plugin(thv: Thv, thv_env, tmp_path: Path):
    needs_bwrap()
    with_plugin(thv_env, tmp_path)
    config = exported_echo(thv, tmp_path, "chain-src")
    config.update(
        name="chained",
        base_name="chained",
        container_name="chained",
        middleware_configs=[
            {"type": "test-tag", "parameters": {"value": "outer"}},
            {"type": "test-tag", "parameters": {"value": "inner"}},
            {"type": "test-seen", "parameters": {}},
        ],
        tools_filter=["echo"],
    )
    run_from(thv, tmp_path, config)
    url = url_of(thv, "chained")

    init = post(url, INIT)
    assert init.status_code == 200, init.text
    # Response headers are added on the way out: the innermost entry first.
    assert init.headers.get_list("x-chain") == ["inner", "outer"]
    # test-seen was placed inside mcp-parser, so it saw the decoded request.
    assert init.headers["x-parsed"] == "initialize"
    assert init.headers["x-workload"] == "chained"

    # tools_filter derived tool-filter + tool-call-filter entries from the plugin.
    assert call_tool(url, "echo", {"text": "through the chain"}) == "through the chain"
    assert sorted(list_tools(url)) == ["add", "echo"]  # this test plugin's tool-filter passes all
    session = init.headers["mcp-session-id"]
    post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    refused = post(
        url,
        {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 1, "b": 2}},
        },
        session,
    )
    assert refused.json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32602, "message": "tool not found"},
    }

    # Explicit entries keep their order; derived ones and core's parser/recovery take ToolHive's
    # places around them (third-party types sit just inside the parser).
    proxy_log = thv("logs", "chained", "--proxy").stdout
    assert (
        "middleware: tool-filter > tool-call-filter > mcp-parser > test-tag > test-tag > test-seen > recovery"
        in proxy_log
    )


def test_a_workload_without_protection_runs_with_no_chain(thv: Thv, tmp_path: Path):
    needs_bwrap()
    thv("run", "--name", "plain", "--runtime", "process", *ECHO)
    url = url_of(thv, "plain")
    assert call_tool(url, "echo", {"text": "hi"}) == "hi"
    assert "middleware:" not in thv("logs", "plain", "--proxy").stdout


CEDAR_FORBID_ALL = {
    "version": "1.0",
    "type": "cedarv1",
    "cedar": {"policies": ["forbid(principal, action, resource);"], "entities_json": "[]"},
}


def state_names(env: dict[str, str]) -> list[str]:
    folder = Path(env["XDG_STATE_HOME"]) / "toolhive" / "runconfigs"
    return sorted(p.stem for p in folder.iterdir()) if folder.is_dir() else []


def test_the_toolhive_export_asking_for_auth_authz_and_a_filter_is_refused(
    thv: Thv, thv_env, tmp_path: Path
):
    needs_bwrap()
    without_real_plugins(thv_env)
    config = exported_echo(thv, tmp_path, "export-src")
    config.update(
        name="guarded",
        base_name="guarded",
        container_name="guarded",
        oidc_config={"Issuer": "https://issuer.example", "Audience": "mcp"},
        authz_config=CEDAR_FORBID_ALL,
        tools_filter=["echo"],
    )
    proc = run_from(thv, tmp_path, config, check=False)
    assert proc.returncode != 0
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ")
    assert "oidc_config" in error and "pip install toolhive-middleware-auth" in error
    assert "Traceback" not in proc.stderr
    assert "guarded" not in state_names(thv_env)  # nothing half-created, nothing ran open


def test_start_refuses_a_saved_workload_whose_protection_is_no_longer_installed(
    thv: Thv, thv_env, tmp_path: Path
):
    needs_bwrap()
    with_plugin(thv_env, tmp_path)
    config = exported_echo(thv, tmp_path, "start-src")
    config.update(
        name="filtered", base_name="filtered", container_name="filtered", tools_filter=["echo"]
    )
    run_from(thv, tmp_path, config)
    thv("stop", "filtered")
    thv_env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")  # the filter's plugin is gone

    proc = thv("start", "filtered", check=False)
    assert proc.returncode != 0
    assert "tools_filter" in proc.stderr and "pip install toolhive-middleware-tools" in proc.stderr
    status = json.loads(thv("status", "filtered", "--format", "json").stdout)
    assert status["status"] != "running"
