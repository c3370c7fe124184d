"""The workloads endpoints in-process (httpx over the ASGI app, an isolated home): what a client can
get wrong answers 400/404/409 with a message (and the field), never a 500; the saved-state
endpoints (get, status, export, stop, delete) on a workload that exists only as state; and the
CLI and the API building the same RunConfig from the same request."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
import pytest
from api_in_process import InProcess
from toolhive.api.models.workloads import CreateRequest, run_request
from toolhive.cli.run_cmd import request_for
from toolhive.models.runconfig import RunConfig
from toolhive.state import store
from toolhive.workloads.service import Workloads

WORKLOADS = "/api/v1beta/workloads"


@pytest.fixture
def api(thv_home, thv_hooks) -> InProcess:
    return InProcess(thv_hooks)


def save_stopped_workload(name: str, **fields: Any) -> RunConfig:
    """A workload that exists only as state (stopped, no process): what the saved-state
    endpoints read."""
    config = RunConfig(
        name=name,
        base_name=name,
        container_name=name,
        image="example/echo:1",
        transport="streamable-http",
        port=43210,
        target_port=8080,
        secrets=["api-key,target=API_KEY"],
        env_vars={"A": "1"},
        **fields,
    )
    store.save_runconfig(config)
    return config


def error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == status and body["message"]
    return body


# --- list --------------------------------------------------------------------------------------


def test_an_empty_home_lists_no_workloads(api):
    answer = api.get(WORKLOADS)
    assert answer.status_code == 200
    assert answer.json() == {"workloads": []}


def test_listing_hides_stopped_workloads_unless_all_is_true(api):
    save_stopped_workload("echo")
    assert api.get(WORKLOADS).json() == {"workloads": []}
    rows = api.get(WORKLOADS, params={"all": "true"}).json()["workloads"]
    assert [(w["name"], w["status"], w["port"], w["group"]) for w in rows] == [
        ("echo", "stopped", 43210, "default")
    ]
    assert set(rows[0]) >= {
        "name", "package", "url", "port", "transport_type", "proxy_mode", "status",
        "status_context", "created_at", "started_at", "labels", "group", "tools", "remote",
    }  # fmt: skip


def test_listing_an_unknown_group_is_a_404_and_an_invalid_one_a_400(api):
    assert "nope" in error(api.get(WORKLOADS, params={"group": "nope"}), 404)["message"]
    assert error(api.get(WORKLOADS, params={"group": "Bad/Name"}), 400)["field"] == "group"
    assert api.get(WORKLOADS, params={"group": "default"}).status_code == 200


# --- create: what a client can get wrong --------------------------------------------------------


def test_a_create_without_image_url_or_registry_server_says_which_fields_are_needed(api):
    body = error(api.post(WORKLOADS, json={"name": "x"}), 400)
    assert "'image', 'url', or 'registry'+'server'" in body["message"]


def test_registry_and_server_go_together(api):
    body = error(api.post(WORKLOADS, json={"registry": "default"}), 400)
    assert "both 'registry' and 'server'" in body["message"]
    body = error(api.post(WORKLOADS, json={"registry": "other", "server": "fetch"}), 400)
    assert body["field"] == "registry"


def test_a_bad_field_is_a_400_naming_its_path(api):
    body = error(api.post(WORKLOADS, json={"image": "x/y:1", "proxy_port": "many"}), 400)
    assert body["field"] == "proxy_port"
    body = error(api.post(WORKLOADS, json={"image": "x/y:1", "secrets": [{"name": "k"}]}), 400)
    assert body["field"] == "secrets.0.target"
    body = error(api.post(WORKLOADS, json={"image": "x/y:1", "target_port": 70000}), 400)
    assert body["field"] == "target_port"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"image": "x\u0000y"}, "image"),
        ({"cmd_arguments": ["ok", "n\u0000ul"]}, "cmd_arguments.1"),
        ({"authz_config": "/tmp/\u0000"}, "authz_config"),
        ({"env_vars": {"A=B": "1"}}, "env_vars.A=B"),
        ({"env_vars": {"": "1"}}, "env_vars."),
        ({"host": "not a host"}, "host"),
        ({"host": "192.0.2.1"}, "host"),  # TEST-NET-1: never an address of this machine
        ({"url": "ftp://files.example", "image": ""}, "url"),
        ({"url": "https://", "image": ""}, "url"),
        ({"url": "http://[unbalanced", "image": ""}, "url"),
        ({"oauth_config": {"resource": "https://[x"}}, "oauth_config.resource"),
        ({"oauth_config": {"resource": "not a uri"}}, "oauth_config.resource"),
        ({"host": "h\u00e9\U0001f600st"}, "host"),  # IDNA cannot encode it
        ({"group": "Not A Group!"}, "group"),
    ],
)
def test_input_the_machine_cannot_use_is_a_400_naming_the_field(api, fields, field):
    # json.dumps escapes what httpx's encoder would refuse (a lone surrogate), as JSON allows.
    raw = json.dumps({"image": "example/echo:1", **fields})
    answer = api.post(WORKLOADS, content=raw, headers={"content-type": "application/json"})
    body = error(answer, 400)
    assert body["field"] == field
    assert store.list_runconfig_names() == []


def test_a_lone_surrogate_is_a_400(api):
    raw = '{"image": "example/echo:1", "env_vars": {"A": "lone \\ud800"}}'
    answer = api.post(WORKLOADS, content=raw, headers={"content-type": "application/json"})
    assert error(answer, 400)
    assert store.list_runconfig_names() == []


def test_an_invalid_name_is_a_400_naming_the_field(api):
    assert (
        error(api.post(WORKLOADS, json={"image": "x/y:1", "name": "a b"}), 400)["field"] == "name"
    )


def test_a_body_that_is_not_json_is_a_400(api):
    answer = api.post(WORKLOADS, content=b"{not json", headers={"content-type": "application/json"})
    assert "not valid JSON" in error(answer, 400)["message"]


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"transport": "carrier-pigeon"}, "unknown transport"),
        ({"proxy_mode": "websocket"}, "invalid proxy_mode"),
        ({"runtime_config": {"build_with": ["mcp<2"]}}, "build_with"),
        ({"runtime_config": {"builder_image": "python:3.13-slim"}}, "uvx://"),
        ({"volumes": ["relative-only"]}, "invalid volume"),
        ({"secrets": [{"name": "k", "target": "not an env"}]}, "environment variable"),
        ({"authz_config": "/no/such/authz.json"}, "no such file"),
        ({"header_forward": {"add_plaintext_headers": {"X-Tenant": "a"}}}, "remote"),
        ({"oauth_config": {"client_id": "c"}}, "remote servers"),
        ({"permission_profile": {"read": ["/etc/../root"]}}, "unsafe mount"),
        # A ~user that does not exist: pathlib's RuntimeError was a 500 (schemathesis found it).
        ({"authz_config": "~thv-no-such-user/authz.json"}, "names no user on this machine"),
        ({"authz_config": "~\u0003"}, "names no user on this machine"),
        ({"volumes": ["~thv-no-such-user/data:/data"]}, "names no user on this machine"),
        ({"permission_profile": {"read": ["~thv-no-such-user/d:/d"]}}, "names no user"),
        ({"authz_config": "/"}, "not a regular file"),
    ],
)
def test_a_create_the_resolver_refuses_is_a_400_and_saves_nothing(api, fields, words):
    body = error(api.post(WORKLOADS, json={"image": "example/echo:1", "name": "e", **fields}), 400)
    assert words in body["message"]
    assert store.list_runconfig_names() == []


def test_an_authz_config_that_is_a_pipe_or_a_device_is_refused_unread(api, tmp_path):
    # Reading /dev/zero filled the server's memory; opening a FIFO waited for a writer forever.
    pipe = tmp_path / "authz.fifo"
    os.mkfifo(pipe)
    for path in (str(pipe), "/dev/zero"):
        body = {"image": "example/echo:1", "name": "e", "authz_config": path}
        assert "not a regular file" in error(api.post(WORKLOADS, json=body), 400)["message"]
    assert store.list_runconfig_names() == []


def test_a_protection_no_installed_plugin_enforces_is_refused_with_the_install_hint(api):
    # thv_hooks has core's built-ins only: no auth middleware plugin.
    body = {"image": "example/echo:1", "name": "guarded", "oidc": {"issuer": "https://idp"}}
    message = error(api.post(WORKLOADS, json=body), 400)["message"]
    assert "oidc" in message.lower() and "install" in message.lower()
    assert store.list_runconfig_names() == []


def test_from_config_takes_only_a_name_beside_it(api):
    exported = json.loads(save_stopped_workload("echo").to_json())
    body = {"from_config": exported, "image": "other/image:2"}
    assert (
        "cannot be combined with from_config"
        in error(api.post(WORKLOADS, json=body), 400)["message"]
    )
    body = {"from_config": {"port": "not a port"}}
    assert "from_config" in error(api.post(WORKLOADS, json=body), 400)["message"]


def test_creating_a_name_that_exists_is_a_409(api):
    save_stopped_workload("echo")
    body = {"image": "example/echo:1", "name": "echo"}
    assert "already exists" in error(api.post(WORKLOADS, json=body), 409)["message"]


def test_a_registry_server_the_registry_lacks_is_a_404(api):
    body = {"registry": "default", "server": "io.example/none-such"}
    assert "not found in the registry" in error(api.post(WORKLOADS, json=body), 404)["message"]


# --- one workload ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("GET", "/status"),
        ("GET", "/logs"),
        ("GET", "/proxy-logs"),
        ("GET", "/export"),
        ("POST", "/stop"),
        ("POST", "/restart"),
        ("DELETE", ""),
    ],
)
def test_an_unknown_workload_is_a_404_everywhere(api, method, path):
    assert "ghost" in error(api.request(method, f"{WORKLOADS}/ghost{path}"), 404)["message"]


def test_editing_an_unknown_workload_is_a_404(api):
    assert error(api.post(f"{WORKLOADS}/ghost/edit", json={"image": "x/y:1"}), 404)


def test_a_workload_name_no_workload_can_have_is_not_found_and_touches_no_file(api):
    assert "no workload named 'a b'" in error(api.get(f"{WORKLOADS}/a%20b/export"), 404)["message"]
    assert error(api.delete(f"{WORKLOADS}/..%2F..%2Fetc"), 404)


def test_get_answers_the_configuration_as_a_create_request_with_secret_references(api):
    save_stopped_workload("echo", tools_filter=["echo"], group="default")
    answer = api.get(f"{WORKLOADS}/echo")
    assert answer.status_code == 200
    config = answer.json()
    assert config["name"] == "echo" and config["image"] == "example/echo:1"
    assert config["proxy_port"] == 43210 and config["target_port"] == 8080
    assert config["secrets"] == [{"name": "api-key", "target": "API_KEY"}]
    assert config["env_vars"] == {"A": "1"} and config["tools"] == ["echo"]
    assert config["network_isolation"] is True
    # It is a valid create request: what a client edits and sends back.
    CreateRequest.model_validate(config)


def test_status_and_export_read_the_saved_state(api):
    save_stopped_workload("echo")
    assert api.get(f"{WORKLOADS}/echo/status").json() == {"status": "stopped"}
    exported = api.get(f"{WORKLOADS}/echo/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/json")
    config = exported.json()
    assert config["schema_version"] == "v0.1.0" and config["name"] == "echo"
    assert config["secrets"] == ["api-key,target=API_KEY"]  # a reference, never a value


def test_a_workload_with_no_output_yet_has_empty_logs_and_an_unknown_one_is_a_404(api):
    """Right after a create the workload exists but has written nothing: 200 and no text."""
    save_stopped_workload("echo")
    answer = api.get(f"{WORKLOADS}/echo/proxy-logs")
    assert answer.status_code == 200, answer.text
    assert answer.text == ""
    for kind in ("proxy-logs", "logs"):
        assert "not found" in error(api.get(f"{WORKLOADS}/ghost/{kind}"), 404)["message"]


def test_proxy_logs_are_the_last_thousand_lines_as_text(api, thv_home):
    save_stopped_workload("echo")
    from toolhive.state import paths

    log = paths.proxy_log_path("echo")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {i}\n" for i in range(1500)))
    answer = api.get(f"{WORKLOADS}/echo/proxy-logs")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert len(lines) == 1000 and lines[0] == "line 500" and lines[-1] == "line 1499"


def wait_gone(name: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while store.runconfig_exists(name):
        assert time.monotonic() < deadline, f"{name} still exists"
        time.sleep(0.05)


def test_stopping_a_stopped_workload_is_accepted_and_changes_nothing(api):
    save_stopped_workload("echo")
    for _ in range(2):
        answer = api.post(f"{WORKLOADS}/echo/stop")
        assert answer.status_code == 202 and answer.content == b""
    time.sleep(0.2)
    assert api.get(f"{WORKLOADS}/echo/status").json() == {"status": "stopped"}


def test_delete_is_accepted_then_done_in_the_background(api):
    save_stopped_workload("echo")
    assert api.delete(f"{WORKLOADS}/echo").status_code == 202
    wait_gone("echo")
    assert error(api.get(f"{WORKLOADS}/echo"), 404)


def test_an_edit_the_resolver_refuses_leaves_the_workload_as_it_was(api):
    before = save_stopped_workload("echo")
    body = {"image": "example/echo:2", "transport": "carrier-pigeon"}
    assert error(api.post(f"{WORKLOADS}/echo/edit", json=body), 400)
    assert store.load_runconfig("echo") == before


# --- bulk --------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["stop", "restart", "delete"])
def test_bulk_operations_take_names_or_a_group_not_both_nor_neither(api, op):
    both = {"names": ["a"], "group": "default"}
    assert "both" in error(api.post(f"{WORKLOADS}/{op}", json=both), 400)["message"]
    assert "either" in error(api.post(f"{WORKLOADS}/{op}", json={}), 400)["message"]
    missing = {"group": "nope"}
    assert "nope" in error(api.post(f"{WORKLOADS}/{op}", json=missing), 404)["message"]
    assert error(api.post(f"{WORKLOADS}/{op}", json={"group": "Bad!"}), 400)["field"] == "group"
    invalid = {"names": ["ok", "not ok"]}
    assert error(api.post(f"{WORKLOADS}/{op}", json=invalid), 400)["field"] == "names.1"


def test_bulk_delete_by_group_removes_the_groups_workloads_only(api):
    from toolhive.groups import store as groups

    groups.create_group("team")
    save_stopped_workload("mine", group="team")
    save_stopped_workload("other")
    assert api.post(f"{WORKLOADS}/delete", json={"group": "team"}).status_code == 202
    wait_gone("mine")
    assert store.runconfig_exists("other")


def test_bulk_stop_by_names_is_accepted_for_names_already_gone(api):
    # As ToolHive: the names are acted on in the background; one removed meanwhile is skipped.
    assert api.post(f"{WORKLOADS}/stop", json={"names": ["gone"]}).status_code == 202


# --- one implementation: the CLI and the API build the same RunConfig ---------------------------


def same_config(hooks: Any, argv: list[str], body: dict[str, Any]) -> RunConfig:
    workloads = Workloads(hooks)
    from_cli = workloads.resolve(request_for(argv))
    request, patch = run_request(CreateRequest.model_validate(body))
    from_api = patch.apply(workloads.resolve(request))
    assert from_api == from_cli
    return from_api


def test_the_cli_and_the_api_build_the_same_runconfig_for_an_image(thv_home, thv_hooks, tmp_path):
    authz = tmp_path / "authz.json"
    authz.write_text('{"version": "1.0", "type": "cedarv1", "cedar": {"policies": []}}')
    overrides = {"fetch": {"name": "get", "description": "Fetch a URL"}}
    (tmp_path / "override.json").write_text(json.dumps({"toolsOverride": overrides}))
    argv = [
        "ghcr.io/example/fetch:1.2", "--name", "fetch", "--transport", "sse",
        "--proxy-port", "23456", "--target-port", "8080", "-e", "A=1", "-e", "B=two",
        "--secret", "api-key,target=API_KEY", "-v", f"{tmp_path}:/data:ro",
        "--isolate-network=false", "--trust-proxy-headers", "--tools", "fetch,other",
        "--tools-override", str(tmp_path / "override.json"), "--authz-config", str(authz),
        "--oidc-issuer", "https://idp.example", "--oidc-audience", "thv",
        "--oidc-jwks-url", "https://idp.example/jwks", "--oidc-client-id", "cid",
        "--oidc-scopes", "openid,mcp", "--group", "default",
        "--", "--flag", "value",
    ]  # fmt: skip
    body = {
        "image": "ghcr.io/example/fetch:1.2", "name": "fetch", "transport": "sse",
        "proxy_port": 23456, "target_port": 8080, "env_vars": {"A": "1", "B": "two"},
        "secrets": [{"name": "api-key", "target": "API_KEY"}],
        "volumes": [f"{tmp_path}:/data:ro"], "network_isolation": False,
        "trust_proxy_headers": True, "tools": ["fetch", "other"], "tools_override": overrides,
        "authz_config": str(authz),
        "oidc": {
            "issuer": "https://idp.example", "audience": "thv",
            "jwks_url": "https://idp.example/jwks", "client_id": "cid",
            "scopes": ["openid", "mcp"],
        },
        "group": "default", "cmd_arguments": ["--flag", "value"],
        "proxy_mode": "streamable-http",  # ToolHive clients send it; an sse server ignores it
    }  # fmt: skip
    config = same_config(thv_hooks, argv, body)
    assert config.transport == "sse" and config.port == 23456 and not config.isolate_network
    assert config.oidc_config and config.oidc_config["Issuer"] == "https://idp.example"
    assert config.authz_config and config.tools_filter == ["fetch", "other"]


def test_the_cli_and_the_api_build_the_same_runconfig_for_a_package_and_a_remote(
    thv_home, thv_hooks
):
    same_config(
        thv_hooks,
        ["uvx://mcp-server-time@1.0", "--runtime-image", "python:3.13-slim",
         "--runtime-add-package", "git", "--proxy-mode", "sse"],
        {"image": "uvx://mcp-server-time@1.0", "proxy_mode": "sse",
         "runtime_config": {"builder_image": "python:3.13-slim", "additional_packages": ["git"]}},
    )  # fmt: skip
    same_config(
        thv_hooks,
        ["https://mcp.example.com/mcp", "--name", "remote",
         "--remote-forward-headers", "X-Tenant=acme",
         "--remote-forward-headers-secret", "Authorization=token"],
        {"url": "https://mcp.example.com/mcp", "name": "remote",
         "header_forward": {"add_plaintext_headers": {"X-Tenant": "acme"},
                            "add_headers_from_secret": {"Authorization": "token"}}},
    )  # fmt: skip


def test_an_inline_permission_profile_is_the_workloads_profile(thv_home, thv_hooks):
    body = {
        "image": "example/echo:1",
        "permission_profile": {
            "read": ["/srv/data"],
            "network": {"outbound": {"allow_host": ["example.com"], "allow_port": [443]}},
        },
    }
    request, patch = run_request(CreateRequest.model_validate(body))
    config = patch.apply(Workloads(thv_hooks).resolve(request))
    assert config.permission_profile is not None
    assert config.permission_profile.read == ["/srv/data"]
    assert config.permission_profile.network is not None
    assert config.permission_profile.network.outbound.allow_host == ["example.com"]


def test_the_api_only_fields_of_a_remote_become_its_remote_auth_config(thv_home, thv_hooks):
    body = {
        "url": "https://mcp.example.com/mcp",
        "oauth_config": {
            "issuer": "https://idp.example", "client_id": "cid",
            "client_secret": {"name": "oauth-secret", "target": "CLIENT_SECRET"},
            "scopes": ["openid"], "use_pkce": True, "callback_port": 8666,
        },
    }  # fmt: skip
    request, patch = run_request(CreateRequest.model_validate(body))
    config = patch.apply(Workloads(thv_hooks).resolve(request))
    auth = config.remote_auth_config
    assert auth is not None and auth.issuer == "https://idp.example"
    assert auth.client_secret == "oauth-secret,target=CLIENT_SECRET"  # a reference only
    assert auth.callback_port == 8666 and auth.scopes == ["openid"]


def test_the_openapi_document_describes_every_workloads_operation(thv_home, thv_hooks):
    from toolhive.api.openapi import openapi_document
    from toolhive.api.routes import all_endpoints

    paths = openapi_document(all_endpoints())["paths"]
    operations = {(m, p) for p, ops in paths.items() for m in ops if p.startswith(WORKLOADS)}
    assert operations == {
        ("get", WORKLOADS), ("post", WORKLOADS),
        ("post", f"{WORKLOADS}/stop"), ("post", f"{WORKLOADS}/restart"),
        ("post", f"{WORKLOADS}/delete"),
        ("get", f"{WORKLOADS}/{{name}}"), ("delete", f"{WORKLOADS}/{{name}}"),
        ("post", f"{WORKLOADS}/{{name}}/edit"), ("post", f"{WORKLOADS}/{{name}}/stop"),
        ("post", f"{WORKLOADS}/{{name}}/restart"), ("get", f"{WORKLOADS}/{{name}}/status"),
        ("get", f"{WORKLOADS}/{{name}}/logs"), ("get", f"{WORKLOADS}/{{name}}/proxy-logs"),
        ("get", f"{WORKLOADS}/{{name}}/export"),
        # ToolHive's upgrades
        ("get", f"{WORKLOADS}/upgrade-check"), ("get", f"{WORKLOADS}/{{name}}/upgrade-check"),
        ("post", f"{WORKLOADS}/{{name}}/upgrade"),
        # ours, for the web UI: the live log tail and the playground
        ("get", f"{WORKLOADS}/{{name}}/logs/stream"),
        ("get", f"{WORKLOADS}/{{name}}/mcp/capabilities"),
        ("post", f"{WORKLOADS}/{{name}}/mcp/tools/call"),
        ("post", f"{WORKLOADS}/{{name}}/mcp/resources/read"),
        ("post", f"{WORKLOADS}/{{name}}/mcp/prompts/get"),
        # ours: a remote server's pending sign-in
        ("get", f"{WORKLOADS}/{{name}}/auth"),
    }  # fmt: skip
    assert paths[WORKLOADS]["post"]["responses"].keys() >= {"201", "400", "409"}
