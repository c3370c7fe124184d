"""Signing in to a remote MCP server before its proxy starts (ToolHive's remote authentication).

``thv run <URL>``, ``thv restart``, ``thv proxy`` and the REST API call :func:`sign_in` for a
remote workload before its supervisor is spawned, in the front end's process — where a browser
can be opened or the authorization URL shown. In ToolHive's order:

1. a static bearer token (``--remote-auth-bearer-token[-file]``): nothing to do here;
2. ask the server (:func:`toolhive.oauth.probe`): no 401, no authentication;
3. tokens a previous login left in the secrets provider (``cached_refresh_token_ref``): a silent
   refresh proves them — a restart or a reboot needs no new login;
4. otherwise a login: the authorization server discovered from the 401 (RFC 9728 → RFC 8414 /
   OIDC) or configured, a client registered on the fly (RFC 7591) when no client id is known,
   the authorization-code flow with PKCE and the RFC 8707 ``resource``, the loopback callback
   on ``http://localhost:<callback port>/callback``.

The tokens go to the secrets provider only — the refresh token under ``OAUTH_REFRESH_TOKEN_<name>``
and the current access token beside it (:class:`toolhive.oauth.TokenSession`'s layout) — and the
RunConfig keeps their names and the expiry (ToolHive's ``cached_*`` fields). The supervisor then
refreshes on its own (:mod:`toolhive.workloads.upstream_auth`).

While a login waits for the user, its authorization URL is kept in a pending-login file
(:func:`pending_login`), so the REST API and the web UI can offer it; it carries no secret (the
PKCE verifier stays in this process), and the file goes when the login ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from toolhive.errors import InvalidInputError, ToolHiveError
from toolhive.models.remote import DEFAULT_CALLBACK_PORT, RemoteAuthConfig
from toolhive.models.runconfig import RunConfig
from toolhive.secrets.names import REFERENCE
from toolhive.state import paths
from toolhive.state.atomic import write_atomic

if TYPE_CHECKING:
    from toolhive.oauth import ProviderMetadata, TokenSession
    from toolhive.plugins import Hooks
    from toolhive.secrets.selection import Secrets

log = logging.getLogger("toolhive.remote_auth")

REFRESH_PREFIX = "OAUTH_REFRESH_TOKEN_"
CLIENT_SECRET_PREFIX = "OAUTH_CLIENT_SECRET_"
DCR_SECRET_PREFIX = "OAUTH_DCR_CLIENT_SECRET_"
DCR_REG_TOKEN_PREFIX = "OAUTH_DCR_REGISTRATION_TOKEN_"
BEARER_PREFIX = "BEARER_TOKEN_"
#: Seconds a login waits for the browser when the RunConfig says nothing.
DEFAULT_LOGIN_TIMEOUT = 300.0


class RemoteSignInError(ToolHiveError):
    """The login to a remote server did not complete (refused, timed out, misconfigured)."""


# --- literal secrets out of the RunConfig -----------------------------------------------------


def stash_remote_secrets(
    hooks: Hooks, config: RunConfig, environ: Mapping[str, str] | None = None
) -> RunConfig:
    """``config`` with a literal ``--remote-auth-client-secret`` / ``--remote-auth-bearer-token``
    moved into the secrets provider, a ``NAME,target=…`` reference in its place (ToolHive's
    names and targets), so no RunConfig, export or API answer shows it."""
    auth = config.remote_auth_config
    if auth is None or not config.is_remote:
        return config
    literal = {
        "client_secret": (CLIENT_SECRET_PREFIX, "oauth_secret"),
        "bearer_token": (BEARER_PREFIX, "bearer_token"),
    }
    updates: dict[str, str] = {}
    secrets: Secrets | None = None
    for field, (prefix, target) in literal.items():
        value = getattr(auth, field)
        if not value or REFERENCE.match(value):
            continue
        if secrets is None:
            secrets = _open_secrets(hooks, environ)
        name = f"{prefix}{config.base_name or config.name}"
        secrets.set(name, value)
        updates[field] = f"{name},target={target}"
    if not updates:
        return config
    return config.model_copy(update={"remote_auth_config": auth.model_copy(update=updates)})


def _open_secrets(hooks: Hooks, environ: Mapping[str, str] | None) -> Secrets:
    from toolhive.secrets.selection import open_secrets

    return open_secrets(hooks, environ=os.environ if environ is None else environ)


def uses_bearer(auth: RemoteAuthConfig | None) -> bool:
    """A static bearer token is configured (``$TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN`` was moved
    into the RunConfig by ``thv run``; it is not read again here, so a restart never sends
    whatever token the environment happens to hold)."""
    return bool(auth and (auth.bearer_token or auth.bearer_token_file))


# --- pending logins ---------------------------------------------------------------------------


def _pending_path(base_name: str) -> Any:
    return paths.state_dir() / "remote-auth" / f"{base_name}.json"


def pending_login(base_name: str) -> dict[str, str] | None:
    """``{"authorization_url", "started_at"}`` while a login for the workload waits for the
    user, else ``None``."""
    try:
        data = json.loads(_pending_path(base_name).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("authorization_url"):
        return None
    return {k: str(v) for k, v in data.items()}


def _set_pending(base_name: str, url: str) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = json.dumps({"authorization_url": url, "started_at": stamp})
    write_atomic(_pending_path(base_name), body)


def clear_pending_login(base_name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _pending_path(base_name).unlink()


# --- sign in ----------------------------------------------------------------------------------


def login_timeout(auth: RemoteAuthConfig) -> float:
    """The RunConfig's ``timeout`` (Go writes nanoseconds; a duration string is accepted)."""
    from toolhive.web.durations import parse_duration

    value = auth.timeout
    if isinstance(value, int | float) and value > 0:
        return float(value) / 1e9 if value > 10_000 else float(value)
    if isinstance(value, str) and value.strip():
        return parse_duration(value, DEFAULT_LOGIN_TIMEOUT)
    return DEFAULT_LOGIN_TIMEOUT


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def sign_in(
    hooks: Hooks,
    config: RunConfig,
    *,
    environ: Mapping[str, str] | None = None,
    announce: Callable[[str], None],
    open_browser: bool = True,
) -> tuple[RunConfig, dict[str, str]]:
    """Make sure a remote workload can authenticate (see the module docstring): the config to
    save (``remote_auth_config`` with the login's ``cached_*``) and what the supervisor needs
    in its environment to open the secrets provider. Local workloads come back unchanged."""
    environ = os.environ if environ is None else environ
    if not config.is_remote or uses_bearer(config.remote_auth_config):
        return config, {}
    if config.token_exchange_config is not None and config.remote_auth_config is None:
        # Each caller's token is exchanged for the upstream's (tokenexchange middleware): the
        # proxy signs in as nobody (ToolHive too: remote auth only when configured).
        return config, {}
    from toolhive.oauth import probe

    auth = config.remote_auth_config or RemoteAuthConfig()
    url = config.remote_url
    try:
        requirement = probe(url)
    except Exception as exc:  # unreachable now: the supervisor reports it
        log.info("could not ask %s whether it needs authentication: %s", url, exc)
        return config, {}
    # As ToolHive: only a Bearer challenge or an RFC 9728 document starts OAuth; a bare 401
    # is some other scheme (an API key header, say) that the configuration must supply.
    if requirement is None or (requirement.challenge is None and requirement.metadata is None):
        return config, {}
    secrets = _open_secrets(hooks, environ)
    signed_in = _oauth(config, auth, requirement, secrets, announce, open_browser)
    return signed_in, dict(secrets.child_environment())


def _oauth(
    config: RunConfig,
    auth: RemoteAuthConfig,
    requirement: Any,
    secrets: Secrets,
    announce: Callable[[str], None],
    open_browser: bool,
) -> RunConfig:
    from toolhive.oauth import LoginRequiredError, OAuthError

    name = config.base_name or config.name
    metadata, resource, scopes = _authorization_server(config.remote_url, auth, requirement)
    updates: dict[str, Any] = {"resource": auth.resource or resource}
    if metadata.issuer and not auth.authorize_url:
        updates["issuer"] = metadata.issuer
    auth = auth.model_copy(update=updates)
    key = auth.cached_refresh_token_ref or f"{REFRESH_PREFIX}{name}"
    if auth.cached_refresh_token_ref:
        session = _session(auth, metadata, scopes, secrets, key, auth.callback_port)
        try:
            session.access_token()  # from the cache, else a silent refresh
            log.info("%s: reusing the stored login", name)
            return _saved(config, auth, session)
        except LoginRequiredError as exc:
            log.info("%s: the stored login is gone (%s); signing in again", name, exc)
        except OAuthError as exc:  # ToolHive also falls back to a fresh login
            log.warning("%s: the stored login could not be refreshed (%s)", name, exc)
    auth, port = _client(auth, metadata, scopes, secrets, name)
    session = _session(auth, metadata, scopes, secrets, key, port)
    server = config.remote_url

    def show(line: str) -> None:
        announced = line.split()[-1] if line.split() else ""
        if announced.startswith(("http://", "https://")):
            _set_pending(name, announced)
            announce(f"Sign in to {server} in your browser: {announced}")
        else:
            announce(line)

    try:
        session.login(skip_browser=auth.skip_browser or not open_browser, announce=show)
    except OAuthError as exc:
        msg = f"sign-in to {server} did not complete: {exc}"
        raise RemoteSignInError(msg) from None
    except TimeoutError:
        msg = f"sign-in to {server} timed out after {login_timeout(auth):.0f}s"
        raise RemoteSignInError(msg) from None
    finally:
        clear_pending_login(name)
    auth = auth.model_copy(update={"cached_refresh_token_ref": key})
    return _saved(config, auth, session)


def _saved(config: RunConfig, auth: RemoteAuthConfig, session: TokenSession) -> RunConfig:
    current = session.current
    expiry = _stamp(current.expires_at) if current is not None else auth.cached_token_expiry
    auth = auth.model_copy(
        update={"cached_refresh_token_ref": session.key, "cached_token_expiry": expiry}
    )
    return config.model_copy(update={"remote_auth_config": auth})


def _authorization_server(
    url: str, auth: RemoteAuthConfig, requirement: Any
) -> tuple[ProviderMetadata, str, tuple[str, ...]]:
    """The authorization server's metadata, the resource and the scopes to ask for."""
    from toolhive.oauth import DiscoveryError, ProviderMetadata, discover_authorization_server
    from toolhive.oauth.discovery import check_secure_url

    if auth.authorize_url:
        for endpoint, what in ((auth.authorize_url, "authorize"), (auth.token_url, "token")):
            check_secure_url(endpoint, f"--remote-auth-{what}-url")
        metadata = ProviderMetadata(
            issuer="",
            authorization_endpoint=auth.authorize_url,
            token_endpoint=auth.token_url,
        )
        from toolhive.oauth.resource_metadata import normalize_resource

        return metadata, auth.resource or normalize_resource(url), tuple(auth.scopes)
    try:
        found = discover_authorization_server(
            url, issuer=auth.issuer, requirement=requirement, resource=auth.resource
        )
    except DiscoveryError as exc:
        msg = (
            f"{url} asks for authentication but its authorization server could not be found "
            f"({exc}); give it with --remote-auth-issuer"
        )
        raise RemoteSignInError(msg) from None
    metadata = found.metadata
    if auth.token_url:
        metadata = metadata.model_copy(update={"token_endpoint": auth.token_url})
    return metadata, found.resource, tuple(auth.scopes) or found.scopes


def _client(
    auth: RemoteAuthConfig,
    metadata: ProviderMetadata,
    scopes: tuple[str, ...],
    secrets: Secrets,
    name: str,
) -> tuple[RemoteAuthConfig, int]:
    """The client to log in as: configured, registered earlier, or registered now (RFC 7591);
    and the callback port its redirect URI names."""
    port = auth.callback_port or DEFAULT_CALLBACK_PORT
    if auth.client_id:
        return auth, port
    if (
        auth.cached_client_id
        and auth.cached_dcr_callback_port
        and (auth.cached_dcr_callback_port == port or not _port_free(port))
    ):
        return auth, auth.cached_dcr_callback_port
    if not metadata.registration_endpoint:
        msg = (
            "the authorization server does not offer dynamic client registration (RFC 7591); "
            "register a client there and pass --remote-auth-client-id"
        )
        raise InvalidInputError(msg)
    from toolhive.oauth import OAuthError, register_client

    if not _port_free(port):  # ToolHive too falls back to a free port for a new registration
        port = _free_port()
    try:
        client = register_client(
            metadata.registration_endpoint,
            redirect_uris=[f"http://localhost:{port}/callback"],
            scopes=scopes,
        )
    except OAuthError as exc:
        msg = f"dynamic client registration failed: {exc}"
        raise RemoteSignInError(msg) from None
    updates: dict[str, Any] = {
        "cached_client_id": client.client_id,
        "cached_dcr_callback_port": port,
        "cached_reg_client_uri": client.registration_client_uri,
        "cached_token_auth_method": client.token_endpoint_auth_method,
        "cached_client_secret_ref": "",
        "cached_reg_token_ref": "",
        "cached_secret_expiry": "",
    }
    if client.client_secret is not None:
        secret_name = f"{DCR_SECRET_PREFIX}{name}"
        secrets.set(secret_name, client.client_secret.get_secret_value())
        updates["cached_client_secret_ref"] = secret_name
        if client.client_secret_expires_at:
            moment = datetime.fromtimestamp(client.client_secret_expires_at, UTC)
            updates["cached_secret_expiry"] = _stamp(moment)
    if client.registration_access_token is not None:
        token_name = f"{DCR_REG_TOKEN_PREFIX}{name}"
        secrets.set(token_name, client.registration_access_token.get_secret_value())
        updates["cached_reg_token_ref"] = token_name
    log.info("%s: registered OAuth client %s", name, client.client_id)
    return auth.model_copy(update=updates), port


def _session(
    auth: RemoteAuthConfig,
    metadata: ProviderMetadata,
    scopes: tuple[str, ...],
    secrets: Secrets,
    key: str,
    port: int,
) -> TokenSession:
    from toolhive.oauth import ClientSettings, SecretsStorage, TokenSession
    from toolhive.workloads.upstream_auth import client_secret_for

    client_secret = client_secret_for(secrets, auth)
    client = ClientSettings(
        client_id=auth.client_id or auth.cached_client_id,
        scopes=scopes,
        resource=auth.resource,
        client_secret=client_secret,
        callback_port=port,
        timeout=login_timeout(auth),
        extra_params=dict(auth.oauth_params),
        redirect_host="localhost",
        scope_param_name=auth.scope_param_name,
    )
    return TokenSession(
        issuer=metadata.issuer,
        client=client,
        storage=SecretsStorage(secrets),
        key=key,
        login_hint="sign in again",
        metadata=metadata,
    )
