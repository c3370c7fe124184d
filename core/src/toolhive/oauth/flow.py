"""The authorization-code flow with PKCE (RFC 6749 §4.1, RFC 7636, RFC 8252 for the loopback
redirect).

:func:`login` starts the callback listener, builds the authorization URL (``state``, S256
challenge, scopes, RFC 8707 ``resource`` when set), hands it to the browser — or prints it when
``skip_browser`` is set or there is no display (headless, SSH, CI) — waits for the redirect, and
trades the code for tokens. The URL is announced through ``announce`` (default: one line on
stderr) either way, so a user whose browser did not open can copy it; it carries no secret.

A caller that must know the redirect URI before the flow starts (RFC 7591 registration of
``http://localhost:<port>/callback``) opens the :class:`~toolhive.oauth.callback.CallbackServer`
itself and passes it as ``listener``; :func:`login` then uses (and does not close) it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from toolhive.oauth.callback import CallbackServer
from toolhive.oauth.discovery import ProviderMetadata
from toolhive.oauth.pkce import Pkce, new_state
from toolhive.oauth.tokens import TokenSet, exchange_code

#: Seconds to wait for the user to finish in the browser.
LOGIN_TIMEOUT = 300.0


@dataclass(frozen=True)
class ClientSettings:
    """Who logs in where: a public client (PKCE) unless ``client_secret`` is set."""

    client_id: str
    scopes: Sequence[str] = ("openid", "offline_access")
    #: RFC 8707 resource indicator (ToolHive's ``--audience`` for registries).
    resource: str = ""
    client_secret: str | None = field(default=None, repr=False)
    #: 0: the kernel picks a free port (the provider must accept any loopback port, RFC 8252 §7.3).
    callback_port: int = 0
    timeout: float = LOGIN_TIMEOUT
    #: ``None``: ``consent`` when ``offline_access`` is asked for (OpenID Connect Core §11 wants
    #: it for a refresh token, and providers such as oidc-provider drop the scope otherwise);
    #: ``""``: no ``prompt`` parameter.
    prompt: str | None = None
    #: More authorization-request parameters (a provider's own, e.g. ``access_type``).
    extra_params: Mapping[str, str] = field(default_factory=dict)
    #: The host of the redirect URI (the listener binds 127.0.0.1 whatever this says); remote MCP
    #: logins use ``localhost`` as ToolHive does.
    redirect_host: str = "127.0.0.1"
    #: The authorization-request parameter carrying the scopes (ToolHive's
    #: ``--remote-auth-scope-param-name``, e.g. Slack's ``user_scope``); empty: ``scope``.
    scope_param_name: str = ""

    @property
    def effective_prompt(self) -> str:
        if self.prompt is not None:
            return self.prompt
        return "consent" if "offline_access" in self.scopes else ""


def authorization_url(
    metadata: ProviderMetadata,
    client: ClientSettings,
    *,
    redirect_uri: str,
    state: str,
    pkce: Pkce,
) -> str:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": pkce.method,
    }
    if client.scopes:
        params[client.scope_param_name or "scope"] = " ".join(client.scopes)
    if client.resource:
        params["resource"] = client.resource
    if client.effective_prompt:
        params["prompt"] = client.effective_prompt
    params.update(client.extra_params)
    endpoint = metadata.authorization_endpoint
    joiner = "&" if urlsplit(endpoint).query else "?"
    return endpoint + joiner + urlencode(params)


def has_display(environ: dict[str, str] | None = None) -> bool:
    """Whether a browser can be opened here: ``BROWSER`` set, a graphical session, or macOS and
    Windows (which always have one)."""
    env = dict(os.environ) if environ is None else environ
    if env.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def open_browser(url: str) -> bool:
    """Open ``url`` in the user's browser (Python's :mod:`webbrowser`, which honours
    ``BROWSER``); ``False`` when there is none."""
    if not has_display():
        return False
    import webbrowser

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def announce_on_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def login(
    metadata: ProviderMetadata,
    client: ClientSettings,
    *,
    skip_browser: bool = False,
    announce: Callable[[str], None] = announce_on_stderr,
    browser: Callable[[str], bool] = open_browser,
    listener: CallbackServer | None = None,
) -> TokenSet:
    """Run the flow to the end and return the tokens (see the module docstring). ``listener``:
    a callback server the caller opened (its redirect URI already registered); it is left open."""
    pkce = Pkce()
    state = new_state()
    with contextlib.ExitStack() as stack:
        if listener is None:
            listener = stack.enter_context(
                CallbackServer(state, client.callback_port, redirect_host=client.redirect_host)
            )
        else:
            listener.state = state
        url = authorization_url(
            metadata, client, redirect_uri=listener.redirect_uri, state=state, pkce=pkce
        )
        opened = False if skip_browser else browser(url)
        if opened:
            announce(f"Opened your browser to log in; if it did not appear, open: {url}")
        else:
            announce(f"Please open this URL in your browser to log in: {url}")
        code = listener.wait(client.timeout)
        redirect_uri = listener.redirect_uri
    return exchange_code(
        metadata.token_endpoint,
        client_id=client.client_id,
        code=code,
        redirect_uri=redirect_uri,
        code_verifier=pkce.verifier,
        client_secret=client.client_secret,
        resource=client.resource,
    )
