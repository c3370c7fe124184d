"""The CRD models against ToolHive's own example resources, and their defaults and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from toolhive_runtime_kubernetes.crd import (
    ALL_KINDS,
    MCPExternalAuthConfig,
    MCPGroup,
    MCPServer,
    VirtualMCPServer,
)
from toolhive_runtime_kubernetes.crd.mcpserver import MCPServerSpec

FIXTURES = Path(__file__).parent / "fixtures" / "crs"
KINDS = {k.kind_name(): k for k in ALL_KINDS}


def example_documents(folder: Path = FIXTURES) -> list[tuple[str, dict[str, Any]]]:
    """(file#index, document) of every ToolHive kind we model in the folder's YAML files."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if doc and doc.get("kind") in KINDS:
                found.append((f"{path.name}#{index}", doc))
    return found


EXAMPLES = example_documents()


def test_the_examples_cover_every_kind() -> None:
    assert {doc["kind"] for _, doc in EXAMPLES} == set(KINDS)


@pytest.mark.parametrize(("where", "doc"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_example_round_trips(where: str, doc: dict[str, Any]) -> None:
    model = KINDS[doc["kind"]].model_validate(doc)
    # Nothing dropped, renamed or added: the same document comes back.
    assert model.model_dump(mode="json", by_alias=True, exclude_unset=True) == doc


def test_stale_example_is_refused_naming_the_field() -> None:
    (doc,) = [
        d
        for d in yaml.safe_load_all(
            (FIXTURES / "refused" / "mcpexternalauthconfig_basic.yaml").read_text()
        )
        if d and d.get("kind") == "MCPExternalAuthConfig"
    ]
    with pytest.raises(ValidationError) as caught:
        MCPExternalAuthConfig.model_validate(doc)
    assert "tokenExchange.scope" in str(caught.value)


def test_go_defaults_apply() -> None:
    server = MCPServer.model_validate({"metadata": {"name": "s"}, "spec": {"image": "img"}})
    spec = server.spec
    assert (spec.transport, spec.proxy_mode, spec.proxy_port) == ("stdio", "streamable-http", 8080)
    assert (spec.session_affinity, spec.trust_proxy_headers) == ("ClientIP", False)
    assert spec.replicas is None  # unset: the operator must not force a count (#3329)
    assert server.api_version == "toolhive.stacklok.dev/v1beta1"
    assert MCPGroup.model_validate({"status": {}}).status.phase == "Pending"  # type: ignore[union-attr]


def test_to_json_uses_go_names() -> None:
    spec = MCPServerSpec(image="img", proxy_port=9090, mcp_port=8000, backend_replicas=2)
    body = MCPServer(metadata={"name": "s"}, spec=spec).to_json()
    assert body["kind"] == "MCPServer"
    assert body["spec"]["proxyPort"] == 9090
    assert body["spec"]["mcpPort"] == 8000
    assert body["spec"]["backendReplicas"] == 2
    assert "status" not in body


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"image": "i", "transport": "websocket"}, "transport"),
        ({"image": "i", "proxyPort": 0}, "proxyPort"),
        ({"image": "i", "proxyPort": 70000}, "proxyPort"),
        ({"image": "i", "replicas": -1}, "replicas"),
        ({"image": "i", "unknownField": True}, "unknownField"),
        ({"transport": "stdio"}, "image"),
    ],
)
def test_invalid_spec_is_refused(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MCPServer.model_validate({"spec": spec})
    assert field in str(caught.value)


def test_wrong_kind_or_version_is_refused() -> None:
    with pytest.raises(ValidationError):
        MCPServer.model_validate({"kind": "MCPRemoteProxy", "spec": {"image": "i"}})
    with pytest.raises(ValidationError):
        MCPServer.model_validate(
            {"apiVersion": "toolhive.stacklok.dev/v1alpha1", "spec": {"image": "i"}}
        )


def test_free_form_parts_are_kept_as_written() -> None:
    config = {"aggregation": {"conflictResolution": "prefix", "x": [1, {"y": None}]}}
    pod = {"spec": {"containers": [{"name": "mcp", "resources": {"limits": {"cpu": "1"}}}]}}
    vmcp = VirtualMCPServer.model_validate(
        {
            "spec": {
                "groupRef": {"name": "g"},
                "incomingAuth": {"type": "anonymous"},
                "config": config,
                "podTemplateSpec": pod,
            }
        }
    )
    assert vmcp.spec.config == config
    assert vmcp.spec.pod_template_spec == pod


# --- Go's CEL rules: Kubernetes 1.20 cannot run them, so the models do ----------------------------

_REDIS = {"provider": "redis", "address": "redis:6379"}
_BUCKET = {"maxTokens": 10, "refillPeriod": "1m"}
_OIDC_REF = {"name": "oidc", "audience": "mcp"}
_INLINE_AUTHZ = {"type": "inline", "inline": {"policies": ["permit(principal, action, resource);"]}}


@pytest.mark.parametrize(
    ("kind", "spec", "message"),
    [
        (
            MCPServer,
            {"image": "i", "authzConfig": _INLINE_AUTHZ, "authzConfigRef": {"name": "a"}},
            "authzConfig and authzConfigRef are mutually exclusive",
        ),
        (
            MCPServer,
            {"image": "i", "authzConfig": {"inline": _INLINE_AUTHZ["inline"]}},
            "configMap must be set when type is 'configMap'",
        ),
        (
            MCPServer,
            {"image": "i", "authzConfig": {**_INLINE_AUTHZ, "configMap": {"name": "c"}}},
            "configMap must be set when type is 'configMap', and must not be set otherwise",
        ),
        (
            MCPServer,
            {"image": "i", "sessionStorage": {"provider": "redis"}},
            "address is required",
        ),
        (
            MCPServer,
            {"image": "i", "rateLimiting": {"shared": _BUCKET}},
            "rateLimiting requires sessionStorage with provider 'redis'",
        ),
        (
            MCPServer,
            {"image": "i", "sessionStorage": _REDIS, "rateLimiting": {"perUser": _BUCKET}},
            "rateLimiting.perUser requires authentication",
        ),
        (
            MCPServer,
            {
                "image": "i",
                "sessionStorage": _REDIS,
                "rateLimiting": {"tools": [{"name": "t", "perUser": _BUCKET}]},
            },
            "per-tool perUser rate limiting requires authentication",
        ),
        (
            MCPServer,
            {"image": "i", "sessionStorage": _REDIS, "rateLimiting": {"tools": []}},
            "at least one of shared, perUser, or tools must be configured",
        ),
        (
            MCPServer,
            {"image": "i", "sessionStorage": _REDIS, "rateLimiting": {"tools": [{"name": "t"}]}},
            "at least one of shared or perUser must be configured",
        ),
        (
            MCPExternalAuthConfig,
            {"type": "headerInjection"},
            "headerInjection configuration must be set if and only if type is 'headerInjection'",
        ),
        (
            MCPExternalAuthConfig,
            {
                "type": "headerInjection",
                "headerInjection": {"headerName": "X", "valueSecretRef": {"name": "s", "key": "k"}},
                "bearerToken": {"tokenSecretRef": {"name": "s", "key": "k"}},
            },
            "bearerToken configuration must be set if and only if type is 'bearerToken'",
        ),
        (
            MCPExternalAuthConfig,
            {"type": "unauthenticated", "upstreamInject": {"providerName": "github"}},
            "no configuration must be set when type is 'unauthenticated'",
        ),
        (
            VirtualMCPServer,
            {"groupRef": {"name": "g"}, "incomingAuth": {"type": "oidc"}},
            "spec.incomingAuth.oidcConfigRef is required when type is oidc",
        ),
        (
            VirtualMCPServer,
            {
                "groupRef": {"name": "g"},
                "incomingAuth": {"type": "anonymous"},
                "config": {"rateLimiting": {"shared": _BUCKET}},
            },
            "config.rateLimiting requires sessionStorage with provider 'redis'",
        ),
        (
            VirtualMCPServer,
            {
                "groupRef": {"name": "g"},
                "incomingAuth": {"type": "anonymous"},
                "sessionStorage": _REDIS,
                "config": {"rateLimiting": {"perUser": _BUCKET}},
            },
            "config.rateLimiting.perUser requires incomingAuth.type oidc",
        ),
        (
            VirtualMCPServer,
            {
                "groupRef": {"name": "g"},
                "incomingAuth": {"type": "anonymous"},
                "embeddingServerRef": {"name": "tei"},
                "config": {"optimizer": {"embeddingProvider": "openai"}},
            },
            "cannot be combined with optimizer.embeddingProvider 'openai'",
        ),
    ],
)
def test_go_cel_rules_are_enforced(kind: Any, spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        kind.model_validate({"spec": spec})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        (MCPServer, {"image": "i", "authzConfig": _INLINE_AUTHZ}),
        (MCPServer, {"image": "i", "authzConfig": {"configMap": {"name": "c"}}}),
        (
            MCPServer,
            {
                "image": "i",
                "oidcConfigRef": _OIDC_REF,
                "sessionStorage": _REDIS,
                "rateLimiting": {"perUser": _BUCKET, "tools": [{"name": "t", "shared": _BUCKET}]},
            },
        ),
        (MCPExternalAuthConfig, {"type": "unauthenticated"}),
        (
            MCPExternalAuthConfig,
            {"type": "upstreamInject", "upstreamInject": {"providerName": "gh"}},
        ),
        (
            VirtualMCPServer,
            {
                "groupRef": {"name": "g"},
                "incomingAuth": {"type": "oidc", "oidcConfigRef": _OIDC_REF},
                "sessionStorage": _REDIS,
                "config": {"rateLimiting": {"perUser": _BUCKET}},
            },
        ),
    ],
)
def test_what_go_allows_is_accepted(kind: Any, spec: dict[str, Any]) -> None:
    kind.model_validate({"spec": spec})


def _auth_server(**extra: Any) -> dict[str, Any]:
    provider = {
        "name": "github",
        "type": "oauth2",
        "oauth2Config": {
            "authorizationEndpoint": "https://github.com/login/oauth/authorize",
            "tokenEndpoint": "https://github.com/login/oauth/access_token",
            "clientId": "abc",
        },
    }
    return {
        "type": "embeddedAuthServer",
        "embeddedAuthServer": {
            "issuer": "https://auth.example.com",
            "upstreamProviders": [provider],
            **extra,
        },
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"allowConfidentialClientRegistration": True, "insecureAllowHTTP": True},
            "allowConfidentialClientRegistration cannot be combined with insecureAllowHTTP",
        ),
        (
            {"forceConfidentialRedirectUris": ["https://app.example.com/cb"]},
            "forceConfidentialRedirectUris requires allowConfidentialClientRegistration",
        ),
        (
            {
                "storage": {
                    "type": "redis",
                    "redis": {"aclUserConfig": {"passwordSecretRef": {"name": "r", "key": "p"}}},
                }
            },
            "exactly one of addr or sentinelConfig must be set",
        ),
        (
            {"trustedIssuers": [{"issuerUrl": "https://idp", "actorClaim": "sub"}]},
            "actorClaim must name a readable claim",
        ),
        (
            {"upstreamProviders": [{"name": "x", "type": "oidc"}]},
            "type must be 'oidc' or 'oauth2'",
        ),
        ({"issuer": "https://auth.example.com/"}, "String should match pattern"),
    ],
)
def test_embedded_auth_server_rules(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MCPExternalAuthConfig.model_validate({"spec": _auth_server(**extra)})
    assert message in str(caught.value)


def test_embedded_auth_server_is_typed() -> None:
    config = MCPExternalAuthConfig.model_validate({"spec": _auth_server()})
    server = config.spec.embedded_auth_server
    assert server is not None
    (provider,) = server.upstream_providers
    assert provider.oauth2_config is not None and provider.oauth2_config.client_id == "abc"
    assert server.insecure_allow_http is False
    assert "insecureAllowHTTP" in server.model_dump(by_alias=True)
