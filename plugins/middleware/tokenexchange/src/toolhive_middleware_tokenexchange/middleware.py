"""The ``tokenexchange`` middleware's ASGI app, imported only when a workload that uses it starts.

Per HTTP request (ToolHive's ``createTokenExchangeMiddleware``, plus a cache):

1. The subject token is the caller's ``Authorization: Bearer`` token — the one the ``auth``
   middleware outside validated (it is never kept in the scope's ``Identity``, so it is read from
   the header here). None: **401**. ToolHive lets such a request through unexchanged; we fail
   closed, because the upstream would otherwise get the caller's own token or none at all.
2. The exchanged token for that subject is taken from the cache, or obtained with one RFC 8693
   request to ``token_url`` (``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``,
   ``subject_token``, ``subject_token_type``, ``requested_token_type`` access token, ``audience``,
   ``scope``; HTTP Basic ``client_id:client_secret`` when both are set, URL-encoded as RFC 6749
   §2.3.1 and Go's ``NewFormRequest`` do). Concurrent requests with the same subject token share
   one exchange. The answer must carry ``access_token``, ``token_type`` and ``issued_token_type``
   (RFC 8693 §2.2.1, as Go checks).
3. The exchanged token goes upstream as ``Authorization: Bearer <token>`` (``replace``) or as
   ``<external_token_header_name>: Bearer <token>`` (``custom``; ``Authorization`` is left as the
   caller sent it, as in Go).

Failures answer a JSON-RPC error with the request's id, never a token: the token endpoint refused
the exchange (an OAuth error such as ``invalid_grant`` or ``invalid_client``) → **401** "Token
exchange failed", Go's status and words; the token endpoint could not be reached, failed (5xx) or
answered something that is not a token response → **502**, where Go answers 401 too — a client
told 401 would log in again, which cannot help when the exchange service is down. The log line
names the caller's subject and the OAuth error code only.

The cache maps SHA-256(subject token) to the exchanged token until 10 s before it expires
(``expires_in``; x/oauth2's expiry delta), or for 60 s when the answer gives no lifetime. It holds
at most 10,000 entries; the oldest goes first.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote_plus

from toolhive.contracts import InvalidInputError
from toolhive.contracts.middleware import identity, read_mcp_request, send_jsonrpc_error

from toolhive_middleware_tokenexchange import ACCESS_TOKEN, GRANT_TYPE, SECRET_REFERENCE

if TYPE_CHECKING:
    import ssl

    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp
    from toolhive.contracts.transport import Receive, Scope, Send

    from toolhive_middleware_tokenexchange import TokenExchangeConfig

log = logging.getLogger("toolhive_middleware_tokenexchange")

#: Go reads the client secret from here when the config has none.
CLIENT_SECRET_ENV: Final = "TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET"
#: golang.org/x/oauth2's ``defaultExpiryDelta``: a token this close to expiry is not used.
EXPIRY_DELTA: Final = 10.0
#: How long an exchanged token without ``expires_in`` is reused.
UNKNOWN_LIFETIME: Final = 60.0
MAX_ENTRIES: Final = 10_000
#: Go's ``maxResponseBodySize`` and ``defaultHTTPTimeout``.
MAX_ANSWER: Final = 1 << 20
TIMEOUT: Final = 30.0

UNAUTHORIZED_CODE: Final = -32001
UPSTREAM_CODE: Final = -32000
FAILED: Final = "Token exchange failed"


class ExchangeRefusedError(Exception):
    """The token endpoint refused the exchange (an OAuth error): the caller gets 401."""


class ExchangeUnavailableError(Exception):
    """The token endpoint could not be asked, or gave no usable answer: the caller gets 502."""


def _printable(value: str, limit: int = 64) -> str:
    """A string from the network made safe for a log line: printable ASCII, short."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in value[:limit])
    return cleaned + ("..." if len(value) > limit else "")


@dataclass(frozen=True)
class ExchangedToken:
    access_token: str = field(repr=False)
    #: ``expires_in`` seconds, if the answer gave a lifetime.
    lifetime: float | None = None


class TokenCache:
    """Exchanged tokens by SHA-256 of the subject token, until shortly before they expire."""

    def __init__(
        self, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    @staticmethod
    def key(subject_token: str) -> str:
        return hashlib.sha256(subject_token.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        token, usable_until = entry
        if self.clock() >= usable_until:
            del self._entries[key]
            return None
        return token

    def put(self, key: str, token: ExchangedToken) -> None:
        lifetime = UNKNOWN_LIFETIME if token.lifetime is None else token.lifetime - EXPIRY_DELTA
        if lifetime <= 0:
            return  # expires (nearly) at once: use it for this request only
        self._entries.pop(key, None)
        self._entries[key] = (token.access_token, self.clock() + lifetime)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _lifetime(value: Any) -> float | None:
    """``expires_in``: a JSON number or a decimal string (x/oauth2 accepts both); 0 or less, or
    anything else, means no lifetime was given."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and value > 0:
        return float(value)
    return None


class Exchanger:
    """One RFC 8693 request per call; no state besides the settings."""

    def __init__(
        self,
        config: TokenExchangeConfig,
        client_secret: str,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = TIMEOUT,
    ) -> None:
        self.config = config
        self._client_secret = client_secret
        self.verify = verify
        self.timeout = timeout

    def form(self, subject_token: str) -> dict[str, str]:
        config = self.config
        data = {
            "grant_type": GRANT_TYPE,
            "subject_token": subject_token,
            "subject_token_type": config.subject_token_type or ACCESS_TOKEN,
            "requested_token_type": ACCESS_TOKEN,
        }
        if config.audience:
            data["audience"] = config.audience
        if config.scopes:
            data["scope"] = " ".join(config.scopes)
        if config.client_id and not self._client_secret:
            data["client_id"] = config.client_id  # a public client names itself (RFC 6749 §3.2.1)
        return data

    def _basic(self) -> tuple[str, str] | None:
        if self.config.client_id and self._client_secret:
            return quote_plus(self.config.client_id), quote_plus(self._client_secret)
        return None

    async def exchange(self, subject_token: str) -> ExchangedToken:
        import httpx

        try:
            async with httpx.AsyncClient(verify=self.verify, timeout=self.timeout) as client:
                request = client.build_request(
                    "POST",
                    self.config.token_url,
                    data=self.form(subject_token),
                    headers={"accept": "application/json"},
                )
                response = await client.send(request, auth=self._basic(), stream=True)
                try:
                    body = await _read_capped(response)
                finally:
                    await response.aclose()
        except httpx.HTTPError as exc:
            # The exception's text names the URL at most, never the form.
            msg = f"token endpoint unreachable ({type(exc).__name__})"
            raise ExchangeUnavailableError(msg) from None
        return parse_answer(response.status_code, body)


async def _read_capped(response: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER:
            raise ExchangeUnavailableError("token endpoint answer larger than 1 MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_answer(status: int, body: bytes) -> ExchangedToken:
    """The token endpoint's answer: the exchanged token, or why not (refused: an OAuth error in a
    4xx, or in a 2xx as RFC 6749 §5.2 allows; unavailable: anything else that is no token)."""
    import json

    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        answer = {}
    error = answer.get("error")
    if not 200 <= status < 300 or error:
        if 400 <= status < 500 or (200 <= status < 300 and error):
            code = _printable(error) if isinstance(error, str) and error else f"HTTP {status}"
            raise ExchangeRefusedError(code)
        raise ExchangeUnavailableError(f"token endpoint answered HTTP {status}")
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise ExchangeUnavailableError("token endpoint answer has no access_token")
    if not all("!" <= c <= "~" for c in token):
        # It goes into a header upstream: a space, CR/LF or non-ASCII would break (or forge) it.
        raise ExchangeUnavailableError("token endpoint answered an access_token unfit for a header")
    for required in ("token_type", "issued_token_type"):  # RFC 8693 §2.2.1, as Go checks
        if not answer.get(required):
            msg = f"token endpoint returned empty {required} (required by RFC 8693)"
            raise ExchangeUnavailableError(msg)
    return ExchangedToken(token, _lifetime(answer.get("expires_in")))


def _bearer(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class TokenExchangeMiddleware:
    """Exchanges the caller's token for the upstream's (see the module's description)."""

    def __init__(
        self, app: ASGIApp, exchanger: Exchanger, *, header: str = "", cache: TokenCache | None
    ) -> None:
        self.app = app
        self.exchanger = exchanger
        #: The custom header (lower case), or ``""`` to replace ``Authorization``.
        self.header = header.lower().encode("latin-1")
        self.cache = cache if cache is not None else TokenCache()
        self._pending: dict[str, asyncio.Future[str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        subject_token = _bearer(scope["headers"])
        who = identity(scope)
        subject = _printable(who.subject) if who is not None else "an unauthenticated caller"
        if not subject_token:
            log.warning("token exchange: no bearer token from %s; refused", subject)
            await self._fail(scope, receive, send, 401, UNAUTHORIZED_CODE, FAILED)
            return
        try:
            token = await self._token(subject_token)
        except ExchangeRefusedError as exc:
            log.warning("token exchange for %s refused by the token endpoint: %s", subject, exc)
            await self._fail(scope, receive, send, 401, UNAUTHORIZED_CODE, FAILED)
            return
        except ExchangeUnavailableError as exc:
            log.warning("token exchange for %s failed: %s", subject, exc)
            message = f"{FAILED}: the token endpoint is unavailable"
            await self._fail(scope, receive, send, 502, UPSTREAM_CODE, message)
            return
        self._inject(scope, token)
        await self.app(scope, receive, send)

    async def _token(self, subject_token: str) -> str:
        key = TokenCache.key(subject_token)
        while True:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
            pending = self._pending.get(key)
            if pending is None:
                break
            try:  # another request for this subject is exchanging it now: share its answer
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request itself was cancelled
                # The exchanging request went away (its client left): exchange here instead.
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            exchanged = await self.exchanger.exchange(subject_token)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when no one waited
            raise
        finally:
            del self._pending[key]
        self.cache.put(key, exchanged)
        future.set_result(exchanged.access_token)
        log.debug("token exchange: new token for a subject (%d cached)", len(self.cache))
        return exchanged.access_token

    def _inject(self, scope: Scope, token: str) -> None:
        # In place, as middleware share the scope (audit, outside, read its headers already).
        name = self.header or b"authorization"
        headers = [(k, v) for k, v in scope["headers"] if k != name]
        headers.append((name, b"Bearer " + token.encode("latin-1")))
        scope["headers"] = headers

    async def _fail(
        self, scope: Scope, receive: Receive, send: Send, status: int, code: int, message: str
    ) -> None:
        parsed, _ = await read_mcp_request(scope, receive)
        await send_jsonrpc_error(send, status, parsed.id if parsed else None, code, message)


# -- building it from a workload's config ----------------------------------------------------


def client_secret(config: TokenExchangeConfig, context: MiddlewareContext) -> str:
    """The client secret: the file, the config (literal or secret reference) or Go's variable."""
    if config.client_secret_file:
        try:
            with open(config.client_secret_file, encoding="utf-8") as handle:
                secret = handle.read().strip()
        except OSError as exc:
            msg = f"token_exchange_config.client_secret_file: failed to read secret file: {exc}"
            raise InvalidInputError(msg) from None
        if not secret:
            msg = f"token_exchange_config.client_secret_file {config.client_secret_file} is empty"
            raise InvalidInputError(msg)
        return secret
    value = config.client_secret or os.environ.get(CLIENT_SECRET_ENV, "")
    reference = SECRET_REFERENCE.match(value)
    if reference is None:
        return value
    if context.resolve_secret is None:
        msg = (
            "token_exchange_config.client_secret is a secret reference, "
            "but this host cannot read secrets"
        )
        raise InvalidInputError(msg)
    try:
        return context.resolve_secret(reference.group(1))
    except Exception as exc:  # the provider's own error type; its message names no value
        msg = (
            f"token_exchange_config.client_secret: cannot read secret {reference.group(1)!r}: {exc}"
        )
        raise InvalidInputError(msg) from None


def token_exchange_middleware(
    app: ASGIApp, config: TokenExchangeConfig, context: MiddlewareContext
) -> TokenExchangeMiddleware:
    """The ``tokenexchange`` middleware for ``config``: reads the secret now, exchanges nothing
    until the first request."""
    import httpx

    exchanger = Exchanger(config, client_secret(config, context), verify=httpx.create_ssl_context())
    header = config.external_token_header_name if config.header_strategy == "custom" else ""
    return TokenExchangeMiddleware(app, exchanger, header=header, cache=TokenCache())
