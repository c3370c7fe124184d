"""MCPServer protection fields → the proxy runner's RunConfig, against the in-memory API server.

What is mapped (authzConfig inline and from a ConfigMap, audit) lands in core's RunConfig keys and
core's proxy enforces it (served here in-process with the real plugins); everything asked for that
cannot be mapped leaves the MCPServer Failed with a condition naming the field and no proxy.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from toolhive_runtime_kubernetes.crd.mcpserver import MCPServer
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import API_VERSION, Key, Operator
from toolhive_runtime_kubernetes.operator.mcpserver import MCPServerController
from toolhive_runtime_kubernetes.operator.objects import RUNCONFIG_CHECKSUM_ANNOTATION
from toolhive_runtime_kubernetes.operator.runconfig import (
    DEFAULT_AUDIT_CONFIG,
    ProtectionError,
    mcpserver_runconfig,
)
from toolhive_runtime_kubernetes.operator.status import get_condition

NS = "team"
IMAGE = "localhost/toolhive-test/mcp-servers:latest"
ALLOW_ECHO = 'permit(principal, action == Action::"call_tool", resource == Tool::"echo");'
ALLOW_ADD = 'permit(principal, action == Action::"call_tool", resource == Tool::"add");'


def server(name: str = "time", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPServer",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"image": IMAGE, "transport": "stdio", "args": ["time"], **spec},
    }


def inline_authz(*policies: str, **extra: Any) -> dict[str, Any]:
    return {"type": "inline", "inline": {"policies": list(policies)}, **extra}


def cedar_document(*policies: str) -> str:
    doc = {"version": "1.0", "type": "cedarv1", "cedar": {"policies": list(policies)}}
    return json.dumps(doc)


def configmap(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def operator(kube: FakeKube) -> Operator:
    op = Operator(kube)
    op.register(MCPServerController())
    return op


def put(kube: FakeKube, operator: Operator, obj: dict[str, Any]) -> dict[str, Any]:
    stored = kube.put(obj)
    operator.observe(stored)
    operator.drain()
    return stored


def mcpserver(kube: FakeKube, name: str = "time") -> dict[str, Any]:
    found = kube.find("MCPServer", NS, name)
    assert found is not None
    return found


def runconfig(kube: FakeKube, name: str = "time") -> dict[str, Any]:
    cm = kube.find("ConfigMap", NS, f"{name}-runconfig")
    assert cm is not None, "no RunConfig ConfigMap"
    loaded: dict[str, Any] = json.loads(cm["data"]["runconfig.json"])
    return loaded


def checksum(kube: FakeKube, name: str = "time") -> str:
    deploy = kube.find("Deployment", NS, name)
    assert deploy is not None
    return str(deploy["spec"]["template"]["metadata"]["annotations"][RUNCONFIG_CHECKSUM_ANNOTATION])


def assert_no_writes_on_resync(kube: FakeKube, operator: Operator, name: str = "time") -> None:
    n = len(kube.writes)
    operator.enqueue(Key("MCPServer", NS, name))
    operator.drain()
    assert kube.writes[n:] == []


# --- what is mapped -------------------------------------------------------------------------


def test_inline_cedar_policies_become_the_runconfig_authz_config(
    kube: FakeKube, operator: Operator
) -> None:
    put(
        kube,
        operator,
        server(authzConfig=inline_authz(ALLOW_ECHO, groupClaimName="groups")),
    )
    assert runconfig(kube)["authz_config"] == {
        "version": "1.0",
        "type": "cedarv1",
        "cedar": {"policies": [ALLOW_ECHO], "entities_json": "[]", "group_claim_name": "groups"},
    }
    obj = mcpserver(kube)
    assert obj["status"]["authzConfigHash"]
    assert kube.find("Deployment", NS, "time") is not None
    assert_no_writes_on_resync(kube, operator)


def test_authz_configmap_document_goes_into_the_runconfig_and_a_change_rolls_out(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, configmap("policy", {"authz.json": cedar_document(ALLOW_ECHO)}))
    put(
        kube,
        operator,
        server(authzConfig={"type": "configMap", "configMap": {"name": "policy"}}),
    )
    assert runconfig(kube)["authz_config"]["cedar"]["policies"] == [ALLOW_ECHO]
    before_sum, before_hash = checksum(kube), mcpserver(kube)["status"]["authzConfigHash"]
    assert_no_writes_on_resync(kube, operator)

    # The policy changes in the ConfigMap: new RunConfig, new checksum on the pod template
    # (the proxy rolls out), new authzConfigHash. Here the resync notices (no toolhive label).
    kube.put(configmap("policy", {"authz.json": cedar_document(ALLOW_ADD)}))
    operator.enqueue(Key("MCPServer", NS, "time"))
    operator.drain()
    assert runconfig(kube)["authz_config"]["cedar"]["policies"] == [ALLOW_ADD]
    assert checksum(kube) != before_sum
    assert mcpserver(kube)["status"]["authzConfigHash"] != before_hash


def test_a_labelled_authz_configmap_change_reaches_its_mcpserver_by_event(
    kube: FakeKube, operator: Operator
) -> None:
    labels = {"toolhive": "true"}
    put(kube, operator, configmap("policy", {"p.yaml": "x: 1"}, labels))
    yaml_doc = "version: '1.0'\ntype: cedarv1\ncedar:\n  policies:\n  - " + json.dumps(ALLOW_ECHO)
    put(kube, operator, configmap("policy", {"p.yaml": yaml_doc}, labels))
    put(
        kube,
        operator,
        server(
            authzConfig={
                "type": "configMap",
                "configMap": {"name": "policy", "key": "p.yaml"},
                "roleClaimName": "roles",
            }
        ),
    )
    cedar = runconfig(kube)["authz_config"]["cedar"]
    assert cedar == {"policies": [ALLOW_ECHO], "role_claim_name": "roles"}
    doc = "version: '1.0'\ntype: cedarv1\ncedar:\n  policies:\n  - " + json.dumps(ALLOW_ADD)
    put(kube, operator, configmap("policy", {"p.yaml": doc}, labels))  # the event alone
    assert runconfig(kube)["authz_config"]["cedar"]["policies"] == [ALLOW_ADD]


def test_audit_enabled_is_core_enable_audit_default(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server(audit={"enabled": True}))
    assert runconfig(kube)["audit_config"] == DEFAULT_AUDIT_CONFIG
    put(kube, operator, server(audit={"enabled": False}))
    assert "audit_config" not in runconfig(kube)


def test_no_protection_asked_none_written(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server())
    config = runconfig(kube)
    for key in ("oidc_config", "authz_config", "audit_config", "telemetry_config"):
        assert key not in config
    assert "authzConfigHash" not in mcpserver(kube)["status"]


# --- what is refused (fail closed) ----------------------------------------------------------


REFUSED = [
    ({"authzConfigRef": {"name": "pdp"}}, "authzConfigRef", "AuthzConfigRefValidated"),
    ({"webhookConfigRef": {"name": "hooks"}}, "webhookConfigRef", "WebhookConfigValidated"),
    ({"authServerRef": {"name": "as"}}, "authServerRef", "ProtectionSupported"),
    (
        {
            "sessionStorage": {"provider": "redis", "address": "redis:6379"},
            "rateLimiting": {"shared": {"maxTokens": 10, "refillPeriod": "1m"}},
        },
        "rateLimiting",
        "ProtectionSupported",
    ),
    (
        {"sessionStorage": {"provider": "redis", "address": "redis:6379"}},
        "sessionStorage",
        "ProtectionSupported",
    ),
]


@pytest.mark.parametrize(("spec", "field", "condition"), REFUSED, ids=[r[1] for r in REFUSED])
def test_what_cannot_be_mapped_fails_naming_the_field(
    kube: FakeKube, operator: Operator, spec: dict[str, Any], field: str, condition: str
) -> None:
    put(kube, operator, server(**spec))
    obj = mcpserver(kube)
    assert obj["status"]["phase"] == "Failed"
    assert f"spec.{field}" in obj["status"]["message"]
    cond = get_condition(obj, condition)
    assert cond is not None and cond["status"] == "False"
    ready = get_condition(obj, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ProtectionNotMapped"
    assert kube.find("Deployment", NS, "time") is None
    assert_no_writes_on_resync(kube, operator)


def test_a_running_proxy_is_removed_when_protection_it_cannot_honour_is_asked(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, server())
    assert kube.find("Deployment", NS, "time") is not None
    put(kube, operator, server(oidcConfigRef={"name": "idp", "audience": "mcp"}))
    assert kube.find("Deployment", NS, "time") is None, "proxy left serving without OIDC"
    assert mcpserver(kube)["status"]["phase"] == "Failed"
    # Asking no more: it runs again and the refusal's condition is gone.
    put(kube, operator, server())
    assert kube.find("Deployment", NS, "time") is not None
    assert get_condition(mcpserver(kube), "OIDCConfigRefValidated") is None


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (None, "ConfigMap policy not found"),
        ({"other.json": "{}"}, "has no key 'authz.json'"),
        ({"authz.json": "  "}, "is empty"),
        ({"authz.json": "[1, 2]"}, "is not an authz config"),
        ({"authz.json": "{: nope"}, "neither JSON nor YAML"),
    ],
    ids=["missing", "no-key", "empty", "not-a-config", "unparsable"],
)
def test_an_unusable_authz_configmap_fails_closed(
    kube: FakeKube, operator: Operator, data: dict[str, str] | None, words: str
) -> None:
    put(kube, operator, server())  # running, unprotected so far
    if data is not None:
        kube.put(configmap("policy", data))
    put(
        kube,
        operator,
        server(authzConfig={"type": "configMap", "configMap": {"name": "policy"}}),
    )
    obj = mcpserver(kube)
    assert obj["status"]["phase"] == "Failed"
    assert words in obj["status"]["message"]
    cond = get_condition(obj, "AuthzConfigValidated")
    assert cond is not None and cond["status"] == "False"
    assert kube.find("Deployment", NS, "time") is None
    assert_no_writes_on_resync(kube, operator)


def test_remote_proxy_runconfig_maps_inline_authz_and_refuses_a_configmap() -> None:
    from toolhive_runtime_kubernetes.crd.remoteproxy import MCPRemoteProxy
    from toolhive_runtime_kubernetes.operator.runconfig import remoteproxy_runconfig

    def proxy(**spec: Any) -> MCPRemoteProxy:
        return MCPRemoteProxy.model_validate(
            {
                "apiVersion": API_VERSION,
                "kind": "MCPRemoteProxy",
                "metadata": {"name": "r", "namespace": NS},
                "spec": {"remoteUrl": "https://mcp.example.com/mcp", **spec},
            }
        )

    config = remoteproxy_runconfig(
        proxy(authzConfig=inline_authz(ALLOW_ECHO), audit={"enabled": True})
    )
    assert config["authz_config"]["cedar"]["policies"] == [ALLOW_ECHO]
    assert config["audit_config"] == DEFAULT_AUDIT_CONFIG
    with pytest.raises(ProtectionError, match="ConfigMap 'policy'"):
        remoteproxy_runconfig(
            proxy(authzConfig={"type": "configMap", "configMap": {"name": "policy"}})
        )
    with pytest.raises(ProtectionError, match=r"spec\.oidcConfigRef"):
        remoteproxy_runconfig(proxy(oidcConfigRef={"name": "idp", "audience": "mcp"}))


# --- core accepts and enforces what the operator writes -------------------------------------


def built(**spec: Any) -> dict[str, Any]:
    return mcpserver_runconfig(MCPServer.model_validate(server(**spec)))


def test_core_plans_the_protection_chain_of_the_operator_runconfig() -> None:
    """Core's ``thv run --from-config`` path: the RunConfig validates and every protection in
    it has an installed plugin (the proxy runner image holds the same middleware plugins)."""
    from toolhive.middleware.chain import checked_chain
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks, build_plugin_manager

    config = RunConfig.model_validate(
        built(authzConfig=inline_authz(ALLOW_ECHO), audit={"enabled": True})
    )
    hooks = Hooks(
        build_plugin_manager(
            autoload=True,
            environ={"TOOLHIVE_LOAD_PLUGINS": "middleware-authz,middleware-audit"},
        )
    )
    types = [item.entry.type for item in checked_chain(config, hooks.middleware())]
    assert types == ["audit", "mcp-parser", "authorization", "recovery"]


def test_core_proxy_enforces_the_operator_cedar_policy() -> None:
    """The operator's RunConfig served by core's proxy with the real authz plugin: the allowed
    tool answers, another is denied (the caller is the local user: no OIDC here)."""
    from toolhive.models.runconfig import RunConfig
    from toolhive.testing.chains import raw_session, workload_proxy
    from toolhive.testing.plugin_contract import plugin_hooks_for

    async def calls() -> None:
        data = built(authzConfig=inline_authz(ALLOW_ECHO))
        config = RunConfig.model_validate({**data, "runtime": "", "k8s_pod_template_patch": ""})
        async with (
            workload_proxy(plugin_hooks_for("middleware-authz"), config) as proxy,
            raw_session(proxy.url) as mcp,
        ):
            status, answer = await mcp.rpc(
                "tools/call", {"name": "echo", "arguments": {"text": "hi"}}
            )
            assert status == 200 and "error" not in answer, answer
            status, answer = await mcp.rpc(
                "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}
            )
            assert status == 403, answer

    asyncio.run(calls())
