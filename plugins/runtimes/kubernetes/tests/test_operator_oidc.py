"""MCPServer ``oidcConfigRef`` → MCPOIDCConfig and ``telemetryConfigRef`` → MCPTelemetryConfig,
against the in-memory API server (FakeKube: no cluster here; ``tests/test_k8s_operator_protection.py``
runs the same on the real one).

The RunConfig keys are the ones core's ``thv run --oidc-*`` / ``--otel-*`` write; core accepts the
RunConfig and its proxy, with the real auth plugin and a real OIDC issuer, refuses a request
without a token and answers one with a signed token.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from toolhive.testing.oidc import OIDCIssuer
from toolhive_runtime_kubernetes.crd.mcpserver import MCPServer
from toolhive_runtime_kubernetes.crd.oidc_config import MCPOIDCConfig
from toolhive_runtime_kubernetes.crd.remoteproxy import MCPRemoteProxy
from toolhive_runtime_kubernetes.crd.telemetry_config import MCPTelemetryConfig
from toolhive_runtime_kubernetes.operator import CONTROLLERS
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import API_VERSION, Key, Operator
from toolhive_runtime_kubernetes.operator.mcpserver import MCPServerController
from toolhive_runtime_kubernetes.operator.objects import RUNCONFIG_CHECKSUM_ANNOTATION
from toolhive_runtime_kubernetes.operator.remoteproxy import MCPRemoteProxyController
from toolhive_runtime_kubernetes.operator.runconfig import (
    OIDC_CLIENT_SECRET_ENV,
    ProtectionError,
    mcpserver_runconfig,
    remoteproxy_runconfig,
)
from toolhive_runtime_kubernetes.operator.status import get_condition
from toolhive_runtime_kubernetes.operator.toolconfig import (
    MCPOIDCConfigController,
    MCPTelemetryConfigController,
)

NS = "team"
IMAGE = "localhost/toolhive-test/mcp-servers:latest"
SECRET_VALUE = "s3cr3t-client-value"


def server(name: str = "time", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPServer",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"image": IMAGE, "transport": "stdio", "args": ["time"], **spec},
    }


def oidc_object(name: str = "idp", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPOIDCConfig",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def inline(**fields: Any) -> dict[str, Any]:
    return {"type": "inline", "inline": {"issuer": "https://idp.example.com", **fields}}


def telemetry_object(name: str = "otel", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPTelemetryConfig",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    import base64

    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": encoded,
    }


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def operator(kube: FakeKube) -> Operator:
    op = Operator(kube)
    for ctrl in (
        MCPServerController(),
        MCPRemoteProxyController(),
        MCPOIDCConfigController(),
        MCPTelemetryConfigController(),
    ):
        op.register(ctrl)
    return op


def put(kube: FakeKube, operator: Operator, obj: dict[str, Any]) -> dict[str, Any]:
    stored = kube.put(obj)
    operator.observe(stored)
    operator.drain()
    return stored


def get(kube: FakeKube, kind: str, name: str) -> dict[str, Any]:
    found = kube.find(kind, NS, name)
    assert found is not None, f"{kind} {name} missing"
    return found


def runconfig(kube: FakeKube, name: str = "time") -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        get(kube, "ConfigMap", f"{name}-runconfig")["data"]["runconfig.json"]
    )
    return loaded


def checksum(kube: FakeKube, name: str = "time") -> str:
    deploy = get(kube, "Deployment", name)
    return str(deploy["spec"]["template"]["metadata"]["annotations"][RUNCONFIG_CHECKSUM_ANNOTATION])


def assert_no_writes_on_resync(kube: FakeKube, operator: Operator, name: str = "time") -> None:
    n = len(kube.writes)
    operator.enqueue(Key("MCPServer", NS, name))
    operator.drain()
    assert kube.writes[n:] == []


REF = {"name": "idp", "audience": "mcp-time"}


# --- MCPOIDCConfig → oidc_config -----------------------------------------------------------


def test_the_controllers_are_registered() -> None:
    assert ("toolconfig", "MCPOIDCConfigController") in CONTROLLERS
    assert ("toolconfig", "MCPTelemetryConfigController") in CONTROLLERS


def test_inline_oidc_config_becomes_core_oidc_config(kube: FakeKube, operator: Operator) -> None:
    put(
        kube,
        operator,
        oidc_object(
            **inline(
                jwksUrl="https://idp.example.com/jwks",
                introspectionUrl="https://idp.example.com/introspect",
                clientId="toolhive",
                jwksAllowPrivateIP=True,
            )
        ),
    )
    put(kube, operator, server(oidcConfigRef=REF))
    # The keys core's `thv run --oidc-issuer … --oidc-audience … --oidc-jwks-url …` writes.
    assert runconfig(kube)["oidc_config"] == {
        "Issuer": "https://idp.example.com",
        "Audience": "mcp-time",
        "JWKSURL": "https://idp.example.com/jwks",
        "IntrospectionURL": "https://idp.example.com/introspect",
        "ClientID": "toolhive",
        "AllowPrivateIP": True,
        # Go's default resource: the proxy's Service in the cluster.
        "ResourceURL": "http://mcp-time-proxy.team.svc.cluster.local:8080",
    }
    obj = get(kube, "MCPServer", "time")
    assert (
        obj["status"]["oidcConfigHash"] == get(kube, "MCPOIDCConfig", "idp")["status"]["configHash"]
    )
    assert get_condition(obj, "OIDCConfigRefValidated")["status"] == "True"
    assert get(kube, "Deployment", "time")
    assert_no_writes_on_resync(kube, operator)


def test_the_refs_audience_scopes_and_resource_url_are_the_servers(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, oidc_object(**inline(insecureAllowHTTP=True)))
    ref = {**REF, "scopes": ["openid", "mcp"], "resourceUrl": "https://mcp.example.com/time"}
    put(kube, operator, server(oidcConfigRef=ref))
    config = runconfig(kube)["oidc_config"]
    assert config["Audience"] == "mcp-time"
    assert config["Scopes"] == ["openid", "mcp"]
    assert config["ResourceURL"] == "https://mcp.example.com/time"
    assert config["InsecureAllowHTTP"] is True


def test_kubernetes_service_account_type_uses_gos_defaults(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, oidc_object(type="kubernetesServiceAccount", kubernetesServiceAccount={}))
    put(kube, operator, server(oidcConfigRef=REF))
    config = runconfig(kube)
    assert config["oidc_config"] == {
        "Issuer": "https://kubernetes.default.svc",
        "Audience": "mcp-time",
        "CACertPath": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        "AuthTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "AllowPrivateIP": True,
        "ResourceURL": "http://mcp-time-proxy.team.svc.cluster.local:8080",
    }
    assert config["thv_ca_bundle"] == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    assert config["jwks_auth_token_file"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    # useClusterAuth false: neither the cluster CA nor the pod's token.
    put(
        kube,
        operator,
        oidc_object(
            type="kubernetesServiceAccount",
            kubernetesServiceAccount={"useClusterAuth": False, "issuer": "https://k8s.example"},
        ),
    )
    assert runconfig(kube)["oidc_config"] == {
        "Issuer": "https://k8s.example",
        "Audience": "mcp-time",
        "ResourceURL": "http://mcp-time-proxy.team.svc.cluster.local:8080",
    }


def test_client_secret_reaches_the_proxy_from_the_secret_never_the_configmap(
    kube: FakeKube, operator: Operator
) -> None:
    kube.put(secret("idp-client", {"secret": SECRET_VALUE}))
    ref = {"name": "idp-client", "key": "secret"}
    put(kube, operator, oidc_object(**inline(clientId="toolhive", clientSecretRef=ref)))
    put(kube, operator, server(oidcConfigRef=REF))
    cm = get(kube, "ConfigMap", "time-runconfig")
    assert SECRET_VALUE not in json.dumps(cm)
    assert "ClientSecret" not in runconfig(kube)["oidc_config"]
    container = get(kube, "Deployment", "time")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env[OIDC_CLIENT_SECRET_ENV] == {
        "name": OIDC_CLIENT_SECRET_ENV,
        "valueFrom": {"secretKeyRef": {"name": "idp-client", "key": "secret"}},
    }
    assert SECRET_VALUE not in json.dumps(get(kube, "Deployment", "time"))


@pytest.mark.parametrize("missing", ["secret", "key"])
def test_a_missing_client_secret_fails_closed(
    kube: FakeKube, operator: Operator, missing: str
) -> None:
    if missing == "key":
        kube.put(secret("idp-client", {"other": "x"}))
    put(kube, operator, server())
    ref = {"name": "idp-client", "key": "secret"}
    put(kube, operator, oidc_object(**inline(clientSecretRef=ref)))
    put(kube, operator, server(oidcConfigRef=REF))
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    assert "idp-client" in obj["status"]["message"]
    assert get_condition(obj, "OIDCConfigRefValidated")["status"] == "False"
    assert kube.find("Deployment", NS, "time") is None, "proxy left serving without OIDC"


def test_a_missing_oidc_config_fails_closed_and_its_arrival_runs_the_server(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, server())  # running unprotected
    put(kube, operator, server(oidcConfigRef=REF))
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    cond = get_condition(obj, "OIDCConfigRefValidated")
    assert cond["status"] == "False" and cond["reason"] == "OIDCConfigRefNotFound"
    assert kube.find("Deployment", NS, "time") is None
    assert_no_writes_on_resync(kube, operator)
    # The MCPOIDCConfig is created: its event reaches the server, which now runs protected.
    put(kube, operator, oidc_object(**inline()))
    assert runconfig(kube)["oidc_config"]["Issuer"] == "https://idp.example.com"
    assert get(kube, "Deployment", "time")
    assert get_condition(get(kube, "MCPServer", "time"), "OIDCConfigRefValidated")["status"] == (
        "True"
    )


def test_a_ca_bundle_is_refused_not_dropped(kube: FakeKube, operator: Operator) -> None:
    bundle = {"configMapRef": {"name": "ca", "key": "ca.crt"}}
    put(kube, operator, oidc_object(**inline(caBundleRef=bundle)))
    put(kube, operator, server(oidcConfigRef=REF))
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    assert "caBundleRef" in obj["status"]["message"]
    assert get_condition(obj, "Ready")["reason"] == "ProtectionNotMapped"
    assert kube.find("Deployment", NS, "time") is None


def test_an_oidc_config_change_rolls_out_its_servers(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, oidc_object(**inline()))
    put(kube, operator, server(oidcConfigRef=REF))
    before_sum = checksum(kube)
    before_hash = get(kube, "MCPServer", "time")["status"]["oidcConfigHash"]
    put(kube, operator, oidc_object(**inline(jwksUrl="https://idp.example.com/keys")))
    assert runconfig(kube)["oidc_config"]["JWKSURL"] == "https://idp.example.com/keys"
    assert checksum(kube) != before_sum
    assert get(kube, "MCPServer", "time")["status"]["oidcConfigHash"] != before_hash


def test_oidc_config_status_and_deletion_held_while_referenced(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, oidc_object(**inline()))
    cfg = get(kube, "MCPOIDCConfig", "idp")
    assert cfg["status"]["configHash"]
    valid = get_condition(cfg, "Valid")
    assert valid["status"] == "True" and valid["reason"] == "ConfigValid"
    assert "mcpoidcconfig.toolhive.stacklok.dev/finalizer" in cfg["metadata"]["finalizers"]
    put(kube, operator, server(oidcConfigRef=REF))
    kube.delete(API_VERSION, "MCPOIDCConfig", NS, "idp")
    put(kube, operator, get(kube, "MCPOIDCConfig", "idp"))
    cfg = get(kube, "MCPOIDCConfig", "idp")
    assert get_condition(cfg, "DeletionBlocked")["status"] == "True"
    assert "MCPServer/time" in get_condition(cfg, "DeletionBlocked")["message"]
    kube.delete(API_VERSION, "MCPServer", NS, "time")
    put(kube, operator, get(kube, "MCPServer", "time"))
    assert kube.find("MCPOIDCConfig", NS, "idp") is None


def test_an_invalid_oidc_config_is_not_valid(kube: FakeKube, operator: Operator) -> None:
    # type inline without inline: Go's CEL rule (Kubernetes 1.20 does not run it).
    put(kube, operator, oidc_object(type="inline"))
    valid = get_condition(get(kube, "MCPOIDCConfig", "idp"), "Valid")
    assert valid["status"] == "False" and valid["reason"] == "ConfigInvalid"
    assert "inline must be set" in valid["message"]
    put(kube, operator, server(oidcConfigRef=REF))
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    assert get_condition(obj, "OIDCConfigRefValidated")["reason"] == "OIDCConfigRefNotValid"


# --- MCPTelemetryConfig → telemetry_config -------------------------------------------------


OTEL = {
    "openTelemetry": {
        "enabled": True,
        "endpoint": "https://otel-collector.monitoring:4318",
        "headers": {"x-tenant": "team"},
        "resourceAttributes": {"deployment.environment": "test"},
        "tracing": {"enabled": True, "samplingRate": "0.25"},
        "metrics": {"enabled": True},
    },
    "prometheus": {"enabled": True},
}


def test_telemetry_config_becomes_core_telemetry_config(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, telemetry_object(**OTEL))
    put(kube, operator, server(telemetryConfigRef={"name": "otel"}))
    # The keys `thv run --otel-endpoint … --otel-tracing-enabled …` writes; the endpoint without
    # its scheme and the service name the server's (Go's NormalizeMCPTelemetryConfig).
    assert runconfig(kube)["telemetry_config"] == {
        "endpoint": "otel-collector.monitoring:4318",
        "serviceName": "time",
        "tracingEnabled": True,
        "metricsEnabled": True,
        "samplingRate": "0.25",
        "headers": {"x-tenant": "team"},
        "insecure": False,
        "enablePrometheusMetricsPath": True,
        "customAttributes": {"deployment.environment": "test"},
        "useLegacyAttributes": True,
    }
    obj = get(kube, "MCPServer", "time")
    assert (
        obj["status"]["telemetryConfigHash"]
        == get(kube, "MCPTelemetryConfig", "otel")["status"]["configHash"]
    )
    assert get_condition(obj, "TelemetryConfigRefValidated")["status"] == "True"
    assert_no_writes_on_resync(kube, operator)
    # The ref's service name wins; a change of the config object rolls the proxy out.
    before = checksum(kube)
    put(kube, operator, server(telemetryConfigRef={"name": "otel", "serviceName": "clock"}))
    assert runconfig(kube)["telemetry_config"]["serviceName"] == "clock"
    assert checksum(kube) != before
    before = checksum(kube)
    put(kube, operator, telemetry_object(prometheus={"enabled": True}))
    assert runconfig(kube)["telemetry_config"] == {
        "serviceName": "clock",
        "enablePrometheusMetricsPath": True,
    }
    assert checksum(kube) != before


def test_telemetry_with_nothing_enabled_configures_none(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, telemetry_object(openTelemetry={"enabled": False, "endpoint": "x:4318"}))
    put(kube, operator, server(telemetryConfigRef={"name": "otel"}))
    assert "telemetry_config" not in runconfig(kube)
    assert get(kube, "MCPServer", "time")["status"]["phase"] != "Failed"


def test_an_endpoint_without_signals_is_invalid(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, telemetry_object(openTelemetry={"enabled": True, "endpoint": "x:4318"}))
    valid = get_condition(get(kube, "MCPTelemetryConfig", "otel"), "Valid")
    assert valid["status"] == "False"
    assert "requires at least one of tracing or metrics" in valid["message"]
    put(kube, operator, server(telemetryConfigRef={"name": "otel"}))
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    assert get_condition(obj, "TelemetryConfigRefValidated")["status"] == "False"


def test_a_missing_telemetry_config_fails_the_server(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server(telemetryConfigRef={"name": "otel"}))
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    cond = get_condition(obj, "TelemetryConfigRefValidated")
    assert cond["status"] == "False" and cond["reason"] == "TelemetryConfigRefNotFound"


def test_secret_headers_are_refused_not_dropped(kube: FakeKube, operator: Operator) -> None:
    otel = {
        **OTEL["openTelemetry"],  # type: ignore[dict-item]
        "sensitiveHeaders": [{"name": "x-api-key", "secretKeyRef": {"name": "k", "key": "v"}}],
    }
    put(kube, operator, telemetry_object(openTelemetry=otel))
    put(kube, operator, server(telemetryConfigRef={"name": "otel"}))
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    assert "sensitiveHeaders" in obj["status"]["message"]


# --- MCPRemoteProxy ----------------------------------------------------------------------


def remote(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPRemoteProxy",
        "metadata": {"name": "r", "namespace": NS},
        "spec": {"remoteUrl": "https://mcp.example.com/mcp", **spec},
    }


def test_remote_proxy_maps_oidc_and_telemetry(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, oidc_object(**inline()))
    put(kube, operator, telemetry_object(**OTEL))
    put(kube, operator, remote(oidcConfigRef=REF, telemetryConfigRef={"name": "otel"}))
    config = runconfig(kube, "r")
    assert config["oidc_config"]["Issuer"] == "https://idp.example.com"
    assert config["oidc_config"]["ResourceURL"] == (
        "http://mcp-r-proxy.team.svc.cluster.local:8080"
    )
    assert config["telemetry_config"]["serviceName"] == "r"
    obj = get(kube, "MCPRemoteProxy", "r")
    assert obj["status"]["oidcConfigHash"] and obj["status"]["telemetryConfigHash"]


def test_remote_proxy_protection_refusal_is_reported_and_the_proxy_removed(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, remote())
    assert get(kube, "Deployment", "r")
    put(kube, operator, remote(authzConfig={"type": "configMap", "configMap": {"name": "p"}}))
    obj = get(kube, "MCPRemoteProxy", "r")
    assert obj["status"]["phase"] == "Failed"
    assert "ConfigMap 'p'" in obj["status"]["message"]
    ready = get_condition(obj, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ProtectionNotMapped"
    assert get_condition(obj, "AuthzConfigValidated")["status"] == "False"
    assert kube.find("Deployment", NS, "r") is None, "remote proxy left serving unprotected"
    # A missing MCPOIDCConfig: the same.
    put(kube, operator, remote())
    assert get(kube, "Deployment", "r")
    put(kube, operator, remote(oidcConfigRef=REF))
    assert kube.find("Deployment", NS, "r") is None
    assert get_condition(get(kube, "MCPRemoteProxy", "r"), "OIDCConfigRefValidated")["status"] == (
        "False"
    )


def test_runconfig_refuses_a_ref_without_its_object() -> None:
    proxy = MCPRemoteProxy.model_validate(remote(oidcConfigRef=REF))
    with pytest.raises(ProtectionError, match="MCPOIDCConfig idp not found"):
        remoteproxy_runconfig(proxy)


# --- core accepts and enforces what the operator writes -------------------------------------


def built(issuer: OIDCIssuer, **spec: Any) -> dict[str, Any]:
    oidc = MCPOIDCConfig.model_validate(
        oidc_object(
            type="inline",
            inline={
                "issuer": issuer.url,
                "jwksUrl": issuer.jwks_url,
                "insecureAllowHTTP": True,
                "jwksAllowPrivateIP": True,
            },
        )
    )
    telemetry = MCPTelemetryConfig.model_validate(telemetry_object(prometheus={"enabled": True}))
    data = mcpserver_runconfig(
        MCPServer.model_validate(
            server(
                oidcConfigRef={"name": "idp", "audience": issuer.audience},
                telemetryConfigRef={"name": "otel"},
                **spec,
            )
        ),
        oidc=oidc,
        telemetry=telemetry,
    )
    # Out of the cluster: the local runtime, no pod patch.
    return {**data, "runtime": "", "k8s_pod_template_patch": ""}


def auth_and_telemetry() -> Any:
    from toolhive.plugins import Hooks, build_plugin_manager

    return Hooks(
        build_plugin_manager(
            autoload=True,
            environ={"TOOLHIVE_LOAD_PLUGINS": "middleware-auth,middleware-telemetry"},
        )
    )


def test_core_plans_auth_and_telemetry_from_the_operator_runconfig() -> None:
    from toolhive.middleware.chain import checked_chain
    from toolhive.models.runconfig import RunConfig

    with OIDCIssuer() as issuer:
        config = RunConfig.model_validate(built(issuer))
    types = [item.entry.type for item in checked_chain(config, auth_and_telemetry().middleware())]
    assert "auth" in types and "telemetry" in types


def test_core_proxy_with_the_auth_plugin_wants_a_token_from_the_issuer() -> None:
    """The operator's RunConfig served by core's proxy with the real auth plugin and a real
    issuer: no token → 401, another issuer's signature → 401, the issuer's token → answered."""
    from toolhive.models.runconfig import RunConfig
    from toolhive.testing.chains import raw_session, workload_proxy

    async def calls(issuer: OIDCIssuer) -> None:
        config = RunConfig.model_validate(built(issuer))
        async with workload_proxy(auth_and_telemetry(), config) as proxy:
            async with raw_session(proxy.url, start=False) as anonymous:
                response = await anonymous.start()
                assert response.status_code == 401, response.text
                assert "www-authenticate" in response.headers
            forged = {"authorization": f"Bearer {issuer.foreign_token(sub='mallory')}"}
            async with raw_session(proxy.url, forged, start=False) as mallory:
                assert (await mallory.start()).status_code == 401
            bearer = {"authorization": f"Bearer {issuer.token(sub='alice')}"}
            async with raw_session(proxy.url, bearer) as alice:
                status, answer = await alice.rpc(
                    "tools/call", {"name": "echo", "arguments": {"text": "hi"}}
                )
                assert status == 200 and "error" not in answer, answer

    with OIDCIssuer() as issuer:
        asyncio.run(calls(issuer))
