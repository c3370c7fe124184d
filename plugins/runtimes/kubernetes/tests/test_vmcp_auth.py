"""VirtualMCPServer ``spec.incomingAuth``: oidc via an MCPOIDCConfig and Cedar ``authzConfig``
(inline or a ConfigMap), against the in-memory API server (FakeKube: no cluster here;
``tests/test_k8s_vmcp_auth.py`` runs the gateway on the real one).

The config the operator writes is checked by the real gateway's validator (``thv vmcp validate``,
run as a command: plugins do not import core's vMCP package).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import API_VERSION, Key, Operator, Settings
from toolhive_runtime_kubernetes.operator.group import MCPGroupController
from toolhive_runtime_kubernetes.operator.status import get_condition
from toolhive_runtime_kubernetes.operator.toolconfig import MCPOIDCConfigController
from toolhive_runtime_kubernetes.operator.vmcp import (
    CHECKSUM_ANNOTATION,
    OIDC_CLIENT_SECRET_ENV,
    VirtualMCPServerController,
)

NS = "team"
IMAGE = "localhost/toolhive/proxyrunner:dev"
KEY = Key("VirtualMCPServer", NS, "gw")
SECRET_VALUE = "s3cr3t-client-value"
ALLOW = 'permit(principal, action == Action::"call_tool", resource == Tool::"fetch_fetch");'
REF = {"name": "idp", "audience": "vmcp-gw"}


def cr(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def vmcp(incoming: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return cr(
        "VirtualMCPServer", "gw", {"groupRef": {"name": "g"}, "incomingAuth": incoming, **spec}
    )


def oidc_object(**inline: Any) -> dict[str, Any]:
    return cr(
        "MCPOIDCConfig",
        "idp",
        {"type": "inline", "inline": {"issuer": "https://idp.example.com", **inline}},
    )


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS},
        "data": encoded,
    }


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": {"toolhive": "true"}},
        "data": data,
    }


def cedar_document(*policies: str) -> str:
    return yaml.safe_dump(
        {
            "version": "1.0",
            "type": "cedarv1",
            "cedar": {"policies": list(policies), "entities_json": "[]"},
        }
    )


class World:
    def __init__(self) -> None:
        self.kube = FakeKube()
        self.operator = Operator(self.kube, Settings(runner_image=IMAGE))
        for ctrl in (MCPGroupController(), VirtualMCPServerController(), MCPOIDCConfigController()):
            self.operator.register(ctrl)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A user's apply, and the watch events it causes, processed."""
        stored = self.kube.put(obj)
        self.operator.observe(stored)
        self.operator.drain()
        return stored

    def settle(self) -> None:
        self.operator.enqueue(KEY)
        self.operator.drain()

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = self.kube.find(kind, NS, name)
        assert found is not None, f"{kind} {name} missing"
        return found

    def config(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.get("ConfigMap", "gw-vmcp-config")["data"]["config.yaml"]))

    def status(self) -> dict[str, Any]:
        return dict(self.get("VirtualMCPServer", "gw").get("status") or {})

    def condition(self, kind: str) -> dict[str, Any]:
        found = get_condition(self.get("VirtualMCPServer", "gw"), kind)
        assert found is not None, f"no {kind} in {self.status().get('conditions')}"
        return found

    def checksum(self) -> str:
        deployment = self.get("Deployment", "gw")
        return str(deployment["spec"]["template"]["metadata"]["annotations"][CHECKSUM_ANNOTATION])

    def no_writes_on_resync(self) -> None:
        n = len(self.kube.writes)
        self.settle()
        assert self.kube.writes[n:] == []


@pytest.fixture
def world() -> World:
    w = World()
    w.put(cr("MCPGroup", "g", {}))
    return w


def validate(config: dict[str, Any], tmp_path: Path, env: dict[str, str] | None = None) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "toolhive", "vmcp", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


# --- the mapping -------------------------------------------------------------------------------


def test_oidc_and_inline_cedar_become_the_gateways_incoming_auth(
    world: World, tmp_path: Path
) -> None:
    world.put(secret("idp-client", {"secret": SECRET_VALUE}))
    world.put(
        oidc_object(
            clientId="gw-client",
            clientSecretRef={"name": "idp-client", "key": "secret"},
            jwksUrl="https://idp.example.com/keys",
            introspectionUrl="https://idp.example.com/introspect",
            jwksAllowPrivateIP=True,
        )
    )
    ref = {**REF, "scopes": ["openid", "mcp"]}
    authz = {"type": "inline", "inline": {"policies": [ALLOW]}}
    world.put(vmcp({"type": "oidc", "oidcConfigRef": ref, "authzConfig": authz}))

    assert world.config()["incomingAuth"] == {
        "type": "oidc",
        "oidc": {
            "issuer": "https://idp.example.com",
            "clientId": "gw-client",
            "audience": "vmcp-gw",
            # Unset in the ref: the gateway Service's URL (the status url).
            "resource": f"http://vmcp-gw.{NS}.svc.cluster.local:4483",
            "jwksUrl": "https://idp.example.com/keys",
            "introspectionUrl": "https://idp.example.com/introspect",
            "scopes": ["openid", "mcp"],
            "clientSecretEnv": OIDC_CLIENT_SECRET_ENV,
            "jwksAllowPrivateIp": True,
        },
        "authz": {"type": "cedar", "policies": [ALLOW], "entitiesJson": "[]"},
    }
    # The client secret: an env var from the Secret, never in the ConfigMap or the pod spec.
    (container,) = world.get("Deployment", "gw")["spec"]["template"]["spec"]["containers"]
    assert {
        "name": OIDC_CLIENT_SECRET_ENV,
        "valueFrom": {"secretKeyRef": {"name": "idp-client", "key": "secret"}},
    } in container["env"]
    for kind, name in (("ConfigMap", "gw-vmcp-config"), ("Deployment", "gw")):
        assert SECRET_VALUE not in str(world.get(kind, name))
    assert world.condition("OIDCConfigRefValidated")["status"] == "True"
    assert world.condition("OIDCConfigRefValidated")["reason"] == "OIDCConfigRefValid"
    assert world.condition("AuthConfigured")["reason"] == "AuthValid"
    idp_hash = world.get("MCPOIDCConfig", "idp")["status"]["configHash"]
    assert world.status()["oidcConfigHash"] == idp_hash
    world.no_writes_on_resync()
    validate(world.config(), tmp_path, {OIDC_CLIENT_SECRET_ENV: SECRET_VALUE})


def test_kubernetes_service_account_type_uses_the_cluster_ca(world: World, tmp_path: Path) -> None:
    world.put(
        cr(
            "MCPOIDCConfig",
            "idp",
            {"type": "kubernetesServiceAccount", "kubernetesServiceAccount": {}},
        )
    )
    world.put(vmcp({"type": "oidc", "oidcConfigRef": {**REF, "resourceUrl": "https://gw.example"}}))
    assert world.config()["incomingAuth"] == {
        "type": "oidc",
        "oidc": {
            "issuer": "https://kubernetes.default.svc",
            "audience": "vmcp-gw",
            "resource": "https://gw.example",
            "jwksAllowPrivateIp": True,
            "caBundlePath": "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        },
    }
    assert "env" not in world.get("Deployment", "gw")["spec"]["template"]["spec"]["containers"][0]
    validate(world.config(), tmp_path)


def test_anonymous_with_a_cedar_configmap(world: World, tmp_path: Path) -> None:
    world.put(configmap("policy", {"authz.json": cedar_document(ALLOW)}))
    authz = {"type": "configMap", "configMap": {"name": "policy"}}
    world.put(vmcp({"type": "anonymous", "authzConfig": authz}))
    assert world.config()["incomingAuth"] == {
        "type": "anonymous",
        "authz": {"type": "cedar", "policies": [ALLOW], "entitiesJson": "[]"},
    }
    assert world.condition("AuthConfigured")["status"] == "True"
    assert get_condition(world.get("VirtualMCPServer", "gw"), "OIDCConfigRefValidated") is None
    assert "oidcConfigHash" not in world.status()
    validate(world.config(), tmp_path)

    # The policy changes: the gateway rolls (its config checksum is on the pod template).
    before = world.checksum()
    deny_all = "forbid(principal, action, resource);"
    world.put(configmap("policy", {"authz.json": cedar_document(ALLOW, deny_all)}))
    assert world.config()["incomingAuth"]["authz"]["policies"] == [ALLOW, deny_all]
    assert world.checksum() != before


def test_cedar_claim_mappings_reach_the_gateway(world: World, tmp_path: Path) -> None:
    authz = {
        "type": "inline",
        "inline": {"policies": [ALLOW]},
        "groupClaimName": "groups",
        "roleClaimName": "roles",
    }
    world.put(vmcp({"type": "anonymous", "authzConfig": authz}))
    section = world.config()["incomingAuth"]["authz"]
    assert (section["groupClaimName"], section["roleClaimName"]) == ("groups", "roles")
    assert world.condition("AuthConfigured")["status"] == "True"
    validate(world.config(), tmp_path)


def test_spec_config_cannot_replace_the_specs_incoming_auth(world: World) -> None:
    world.put(oidc_object())
    world.put(
        vmcp({"type": "oidc", "oidcConfigRef": REF}, config={"incomingAuth": {"type": "anonymous"}})
    )
    assert world.config()["incomingAuth"]["type"] == "oidc"


# --- rollout -----------------------------------------------------------------------------------


def test_an_oidc_config_change_rolls_the_gateway(world: World) -> None:
    world.put(oidc_object())
    world.put(vmcp({"type": "oidc", "oidcConfigRef": REF}))
    before_sum, before_hash = world.checksum(), world.status()["oidcConfigHash"]
    # The user's edit of the MCPOIDCConfig alone re-reconciles the gateway (its watch event).
    world.put(oidc_object(jwksUrl="https://idp.example.com/rotated"))
    assert world.config()["incomingAuth"]["oidc"]["jwksUrl"] == "https://idp.example.com/rotated"
    assert world.checksum() != before_sum
    assert world.status()["oidcConfigHash"] != before_hash
    assert (
        world.status()["oidcConfigHash"]
        == world.get("MCPOIDCConfig", "idp")["status"]["configHash"]
    )


def test_the_oidc_config_is_held_while_the_gateway_references_it(world: World) -> None:
    world.put(oidc_object())
    world.put(vmcp({"type": "oidc", "oidcConfigRef": REF}))
    world.kube.delete(API_VERSION, "MCPOIDCConfig", NS, "idp")
    world.put(world.get("MCPOIDCConfig", "idp"))
    blocked = get_condition(world.get("MCPOIDCConfig", "idp"), "DeletionBlocked")
    assert blocked is not None and "VirtualMCPServer/gw" in blocked["message"]


# --- refusals, fail closed ---------------------------------------------------------------------


def assert_failed(world: World, message: str, cond: str, reason: str) -> None:
    status = world.status()
    assert status["phase"] == "Failed", status
    assert message in status["message"]
    found = world.condition(cond)
    assert (found["status"], found["reason"]) == ("False", reason), found
    assert world.condition("Ready")["status"] == "False"
    assert world.kube.find("Deployment", NS, "gw") is None


@pytest.mark.parametrize(
    ("setup", "incoming", "message", "cond", "reason"),
    [
        (
            [],
            {"type": "oidc", "oidcConfigRef": REF},
            "MCPOIDCConfig idp not found",
            "OIDCConfigRefValidated",
            "OIDCConfigRefNotFound",
        ),
        (
            [oidc_object(clientSecretRef={"name": "nope", "key": "secret"})],
            {"type": "oidc", "oidcConfigRef": REF},
            "client secret Secret nope not found",
            "OIDCConfigRefValidated",
            "OIDCConfigRefError",
        ),
        (
            [oidc_object(caBundleRef={"configMapRef": {"name": "ca", "key": "ca.crt"}})],
            {"type": "oidc", "oidcConfigRef": REF},
            "caBundleRef cannot be honoured",
            "OIDCConfigRefValidated",
            "OIDCConfigRefError",
        ),
        (
            [],
            {"type": "anonymous", "authzConfigRef": {"name": "shared"}},
            "MCPAuthzConfig is not installed",
            "AuthzConfigRefValidated",
            "AuthzConfigRefError",
        ),
        (
            [],
            {
                "type": "anonymous",
                "authzConfig": {"type": "configMap", "configMap": {"name": "nope"}},
            },
            "ConfigMap nope not found",
            "AuthConfigured",
            "AuthzConfigMapNotFound",
        ),
        (
            [configmap("policy", {"other.json": cedar_document(ALLOW)})],
            {
                "type": "anonymous",
                "authzConfig": {"type": "configMap", "configMap": {"name": "policy"}},
            },
            "has no key 'authz.json'",
            "AuthConfigured",
            "AuthzConfigMapNotFound",
        ),
        (
            [configmap("policy", {"authz.json": "{not yaml: ["})],
            {
                "type": "anonymous",
                "authzConfig": {"type": "configMap", "configMap": {"name": "policy"}},
            },
            "neither JSON nor YAML",
            "AuthConfigured",
            "AuthzConfigMapInvalid",
        ),
        (
            [configmap("policy", {"authz.json": '{"version": "1.0", "type": "opa"}'})],
            {
                "type": "anonymous",
                "authzConfig": {"type": "configMap", "configMap": {"name": "policy"}},
            },
            "is not a Cedar config",
            "AuthConfigured",
            "AuthzConfigMapInvalid",
        ),
        (
            [configmap("policy", {"authz.json": cedar_document()})],
            {
                "type": "anonymous",
                "authzConfig": {"type": "configMap", "configMap": {"name": "policy"}},
            },
            "has no Cedar policies",
            "AuthConfigured",
            "AuthzConfigMapInvalid",
        ),
    ],
)
def test_auth_the_gateway_cannot_honour_fails_closed(
    world: World,
    setup: list[dict[str, Any]],
    incoming: dict[str, Any],
    message: str,
    cond: str,
    reason: str,
) -> None:
    # A gateway serving anonymously first: asking for auth it cannot get removes it.
    world.put(vmcp({"type": "anonymous"}))
    assert world.kube.find("Deployment", NS, "gw") is not None
    for obj in setup:
        world.put(obj)
    world.put(vmcp(incoming))
    assert_failed(world, message, cond, reason)
    world.no_writes_on_resync()


def test_the_missing_oidc_config_arriving_runs_the_gateway(world: World) -> None:
    world.put(vmcp({"type": "oidc", "oidcConfigRef": REF}))
    assert_failed(
        world, "MCPOIDCConfig idp not found", "OIDCConfigRefValidated", "OIDCConfigRefNotFound"
    )
    world.put(oidc_object())  # its event alone re-reconciles the gateway
    assert world.status()["phase"] == "Pending"
    assert world.condition("OIDCConfigRefValidated")["status"] == "True"
    assert world.config()["incomingAuth"]["type"] == "oidc"
    assert world.kube.find("Deployment", NS, "gw") is not None


def test_an_invalid_spec_asking_for_auth_removes_the_running_gateway(world: World) -> None:
    world.put(vmcp({"type": "anonymous"}))
    assert world.kube.find("Deployment", NS, "gw") is not None
    world.put(vmcp({"type": "oidc"}))  # no oidcConfigRef: Go's CEL rule, checked by the model
    status = world.status()
    assert status["phase"] == "Failed"
    assert "oidcConfigRef is required" in status["message"]
    assert world.kube.find("Deployment", NS, "gw") is None


def test_a_gateway_with_other_auth_goes_while_its_group_is_missing(world: World) -> None:
    world.put(oidc_object())
    world.put(vmcp({"type": "anonymous"}))
    world.kube.delete(API_VERSION, "MCPGroup", NS, "g")
    world.put(vmcp({"type": "oidc", "oidcConfigRef": REF}))
    assert world.status()["phase"] == "Failed"
    assert world.kube.find("Deployment", NS, "gw") is None  # it served anonymously


def test_a_gateway_with_the_same_auth_stays_while_its_group_is_missing(world: World) -> None:
    world.put(oidc_object())
    world.put(vmcp({"type": "oidc", "oidcConfigRef": REF}))
    world.kube.delete(API_VERSION, "MCPGroup", NS, "g")
    world.settle()
    assert world.status()["phase"] == "Failed"
    assert world.kube.find("Deployment", NS, "gw") is not None
