"""End to end: `thv run --from-config` with an exported RunConfig that carries an ``oidc_config``
runs the echo server on the process runtime behind this plugin, in the detached supervisor that
finds it through its entry point — 401 without a token, an MCP session with one."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from toolhive.testing import ThvHome
from toolhive.testing.mcp_servers import INITIALIZE_PARAMS, echo_session
from toolhive.testing.oidc import OIDCIssuer
from toolhive.testing.workloads import (
    ECHO_STDIO,
    ThvConsole,
    exported_echo,
    run_from_config,
    thv_console,
    workload_url,
)

pytestmark = pytest.mark.timeout(240)

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE_PARAMS}


@pytest.fixture
def thv(thv_home: ThvHome) -> Iterator[ThvConsole]:
    with thv_console({**thv_home.env, "TOOLHIVE_STRICT_PLUGINS": "1"}) as runner:
        yield runner


def test_thv_run_from_an_exported_config_with_oidc_is_protected(
    thv: ThvConsole, issuer: OIDCIssuer, tmp_path: Path
) -> None:
    # A RunConfig as `thv export` writes it, for the echo server on the process runtime, given
    # the oidc_config ToolHive's --oidc-* flags write (Go's keys).
    config = exported_echo(thv, "guarded")
    config["oidc_config"] = issuer.oidc_config()
    url = run_from_config(thv, config, tmp_path)

    accept = {"accept": "application/json, text/event-stream"}
    refused = httpx.post(url, json=INIT, headers=accept, timeout=30)
    assert refused.status_code == 401, refused.text
    assert 'error="invalid_request"' in refused.headers["www-authenticate"]
    assert f'realm="{issuer.url}"' in refused.headers["www-authenticate"]
    forged = httpx.post(
        url, json=INIT, headers={**accept, "authorization": f"Bearer {issuer.unsigned()}"}
    )
    assert forged.status_code == 401

    token = issuer.token(sub="e2e-user")
    result = asyncio.run(
        echo_session(url, headers={"authorization": f"Bearer {token}"}, text="guarded ✓")
    )
    assert result.echoed == "guarded ✓"
    assert result.added == "42"
    assert issuer.jwks_fetches == 1  # fetched by the supervisor on the first token, then cached


def test_thv_run_with_toolhives_oidc_flags_introspects_with_a_stored_client_secret(
    thv: ThvConsole, issuer: OIDCIssuer, thv_home: ThvHome
) -> None:
    """`--oidc-*` flags fill oidc_config; `thv run` keeps the client secret in the secrets
    provider and the RunConfig holds a reference the supervisor resolves for introspection."""
    try:
        importlib.metadata.distribution("toolhive-secrets-encrypted")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("toolhive-secrets-encrypted is not installed (this plugin tested alone)")
    thv.env["TOOLHIVE_SECRETS_PASSWORD"] = "auth-e2e-password"
    thv.env.pop("TOOLHIVE_SECRETS_PROVIDER", None)
    thv("secret", "provider", "encrypted")
    thv("run", "--name", "flagged", "--runtime", "process",
        "--oidc-issuer", issuer.url, "--oidc-audience", issuer.audience,
        "--oidc-insecure-allow-http", "--jwks-allow-private-ip",
        "--oidc-introspection-url", issuer.introspection_url,
        "--oidc-client-id", issuer.client_id, "--oidc-client-secret", issuer.client_secret,
        *ECHO_STDIO,
    )  # fmt: skip
    exported = json.loads(thv("export", "flagged", "-"))["oidc_config"]
    assert exported["ClientSecret"].endswith(",target=oidc_client_secret")
    url = workload_url(thv, "flagged")

    accept = {"accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=INIT, headers=accept, timeout=30).status_code == 401
    opaque = issuer.opaque(sub="flag-user")
    answered = httpx.post(
        url, json=INIT, headers={**accept, "authorization": f"Bearer {opaque}"}, timeout=30
    )
    assert answered.status_code == 200, answered.text
    assert issuer.introspections == 1  # with the client's Basic credentials (else 401 above)
    for path in thv_home.root.rglob("*"):
        if path.is_file():
            assert issuer.client_secret.encode() not in path.read_bytes(), path
