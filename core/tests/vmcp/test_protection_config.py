"""What the gateway's ``incomingAuth`` becomes in the RunConfig its middleware chain is built from.

Every OIDC and Cedar field of ToolHive's vMCP format must arrive: one dropped silently means a
gateway that validates or authorizes less than its config says (the Kubernetes operator maps
MCPOIDCConfig's CA bundle and private-address flags, and Cedar claim mappings, into these).
"""

from __future__ import annotations

from pathlib import Path

from toolhive.vmcp.config import VmcpConfig, parse_config
from toolhive.vmcp.gateway import protection_config


def config(oidc: dict[str, object], authz: dict[str, object]) -> VmcpConfig:
    return parse_config(
        {
            "name": "gw",
            "groupRef": "g",
            "incomingAuth": {"type": "oidc", "oidc": oidc, "authz": authz},
            "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
        }
    )


def test_oidc_ca_bundle_and_private_addresses_reach_the_validator(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    oidc = {
        "issuer": "https://issuer.example",
        "audience": "gw",
        "caBundlePath": str(bundle),
        "protectedResourceAllowPrivateIp": True,
    }
    run = protection_config(config(oidc, {"type": "none"}), "http://127.0.0.1:4483/mcp")
    assert run.oidc_config is not None
    assert run.oidc_config["CACertPath"] == str(bundle)
    assert run.oidc_config["AllowPrivateIP"] is True


def test_cedar_claim_mappings_reach_the_authorizer() -> None:
    authz = {
        "type": "cedar",
        "policies": ['permit(principal, action, resource) when { principal in THVGroup::"ops" };'],
        "groupClaimName": "groups",
        "roleClaimName": "roles",
        "groupEntityType": "THVGroup",
    }
    oidc = {"issuer": "https://issuer.example", "audience": "gw"}
    run = protection_config(config(oidc, authz), "http://127.0.0.1:4483/mcp")
    assert run.authz_config is not None
    cedar = run.authz_config["cedar"]
    assert cedar["group_claim_name"] == "groups"
    assert cedar["role_claim_name"] == "roles"
    assert cedar["group_entity_type"] == "THVGroup"
    assert "primary_upstream_provider" not in cedar
