"""What the middleware does per request, against the real provider: which header carries the
exchanged token, the cache, the refusals (never leaking a token), and where the client secret
comes from."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolhive.contracts import InvalidInputError, MiddlewareContext
from toolhive.testing.middleware_contract import TOOL_CALL, InnerApp
from toolhive.testing.oauth_server import OAuthServer
from toolhive_middleware_tokenexchange import (
    TOKEN_TYPES,
    TokenExchangeConfig,
    TokenExchangeParameters,
    factory,
)
from toolhive_middleware_tokenexchange.middleware import (
    EXPIRY_DELTA,
    UNKNOWN_LIFETIME,
    ExchangedToken,
    Exchanger,
    ExchangeRefusedError,
    ExchangeUnavailableError,
    TokenCache,
    client_secret,
    parse_answer,
)

pytestmark = pytest.mark.timeout(120)

CONTEXT = MiddlewareContext(
    workload="front", transport="streamable-http", proxy_mode="streamable-http", url=""
)


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def build(config: dict[str, Any], context: MiddlewareContext = CONTEXT) -> tuple[Any, InnerApp]:
    inner = InnerApp()
    parameters = TokenExchangeParameters.model_validate({"token_exchange_config": config})
    return factory(inner, parameters, context), inner


def post(app: Any, *headers: dict[str, str]) -> list[httpx.Response]:
    """One POST of a tools/call per header set, all at once, through ``app``."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            "/mcp",
                            content=TOOL_CALL,
                            headers={"content-type": "application/json", **h},
                        )
                        for h in headers
                    )
                )
            )

    return asyncio.run(run())


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_the_callers_token_is_replaced_by_an_active_token_for_the_audience(
    idp: OAuthServer, user_token: str, exchange_config: dict[str, Any]
) -> None:
    app, inner = build(exchange_config)
    (response,) = post(app, bearer(user_token))
    assert response.status_code == 200, response.text
    (seen,) = inner.requests
    scheme, _, exchanged = seen["headers"]["authorization"].partition(" ")
    assert scheme == "Bearer" and exchanged != user_token
    assert claims(exchanged)["aud"] == exchange_config["audience"] == "backend-aud"
    assert claims(exchanged)["sub"] == claims(user_token)["sub"] == "alice"
    # Signed by the issuer and active: the provider itself accepts it as a subject token.
    again = httpx.post(
        exchange_config["token_url"],
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": exchanged,
            "subject_token_type": TOKEN_TYPES["access_token"],
            "audience": "elsewhere",
        },
        auth=(idp.exchange_client_id, idp.exchange_client_secret),
        timeout=10,
    )
    assert again.status_code == 200, again.text
    assert seen["body"] == TOOL_CALL


def test_a_custom_header_carries_the_exchanged_token_and_authorization_goes_on_unchanged(
    user_token: str, exchange_config: dict[str, Any]
) -> None:
    app, inner = build(
        {
            **exchange_config,
            "header_strategy": "custom",
            "external_token_header_name": "X-Upstream-Token",
        }
    )
    (response,) = post(app, {**bearer(user_token), "x-upstream-token": "from the caller"})
    assert response.status_code == 200, response.text
    headers = inner.requests[0]["headers"]
    assert headers["authorization"] == f"Bearer {user_token}"  # as Go: left alone
    scheme, _, exchanged = headers["x-upstream-token"].partition(" ")
    assert scheme == "Bearer" and claims(exchanged)["aud"] == exchange_config["audience"]


def test_scopes_are_requested_for_the_exchanged_token(
    user_token: str, exchange_config: dict[str, Any]
) -> None:
    app, inner = build({**exchange_config, "scopes": ["openid", "mcp:tools"]})
    (response,) = post(app, bearer(user_token))
    assert response.status_code == 200, response.text
    exchanged = inner.requests[0]["headers"]["authorization"].removeprefix("Bearer ")
    assert claims(exchanged)["scope"] == "openid mcp:tools"


def test_the_exchanged_token_is_reused_for_the_same_caller_and_not_for_another(
    user_token: str, exchange_config: dict[str, Any]
) -> None:
    app, inner = build(exchange_config)
    post(app, bearer(user_token))
    post(app, bearer(user_token))
    first, second = (r["headers"]["authorization"] for r in inner.requests)
    assert first == second  # every exchange gives a new token (its own jti): one exchange
    # Another subject token (any active token of the issuer will do) gets its own exchange.
    other = first.removeprefix("Bearer ")
    post(app, bearer(other))
    assert inner.requests[2]["headers"]["authorization"] != first


def test_concurrent_requests_of_one_caller_share_one_exchange(
    user_token: str, exchange_config: dict[str, Any]
) -> None:
    app, inner = build(exchange_config)
    responses = post(app, *[bearer(user_token)] * 6)
    assert [r.status_code for r in responses] == [200] * 6
    assert len({r["headers"]["authorization"] for r in inner.requests}) == 1


def test_a_request_without_a_bearer_token_is_refused_before_any_exchange(
    exchange_config: dict[str, Any],
) -> None:
    app, inner = build(exchange_config)
    missing, basic = post(app, {}, {"authorization": "Basic YWxpY2U6cGFzcw=="})
    for response in (missing, basic):
        assert response.status_code == 401
        assert response.json() == {
            "jsonrpc": "2.0",
            "id": 7,
            "error": {"code": -32001, "message": "Token exchange failed"},
        }
    assert inner.requests == []


def test_a_refused_exchange_answers_gos_401_and_logs_no_token_or_secret(
    user_token: str, exchange_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "not-the-exchange-secret"
    app, inner = build({**exchange_config, "client_secret": wrong})
    with caplog.at_level(logging.DEBUG):
        (response,) = post(app, bearer(user_token))
    assert response.status_code == 401
    assert response.json()["error"] == {"code": -32001, "message": "Token exchange failed"}
    assert inner.requests == []
    assert "invalid_client" in caplog.text
    for secret in (user_token, wrong, exchange_config["client_secret"]):
        assert secret not in caplog.text and secret not in response.text


def test_a_subject_token_the_provider_does_not_know_is_refused_with_401(
    exchange_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    app, inner = build(exchange_config)
    (response,) = post(app, bearer("not-a-token-of-this-issuer"))
    assert response.status_code == 401
    assert "invalid_grant" in caplog.text
    assert inner.requests == []


def test_an_id_token_subject_type_is_sent_as_its_urn(
    user_token: str, exchange_config: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    config = TokenExchangeConfig.model_validate(
        {**exchange_config, "subject_token_type": "id_token"}
    )
    assert config.subject_token_type == TOKEN_TYPES["id_token"]
    form = Exchanger(config, "s").form("subject")
    assert form["subject_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    assert form["requested_token_type"] == TOKEN_TYPES["access_token"]
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    # The test provider exchanges access tokens only: it refuses, and the caller gets 401.
    app, _ = build(config.model_dump())
    (response,) = post(app, bearer(user_token))
    assert response.status_code == 401
    assert "invalid_request" in caplog.text


def test_an_unreachable_token_endpoint_answers_502(
    user_token: str, exchange_config: dict[str, Any]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app, inner = build({**exchange_config, "token_url": f"http://127.0.0.1:{port}/token"})
    (response,) = post(app, bearer(user_token))
    assert response.status_code == 502
    assert response.json()["error"] == {
        "code": -32000,
        "message": "Token exchange failed: the token endpoint is unavailable",
    }
    assert inner.requests == []


def test_a_client_without_a_secret_names_itself_in_the_form(
    exchange_config: dict[str, Any],
) -> None:
    config = TokenExchangeConfig.model_validate({**exchange_config, "client_secret": ""})
    assert Exchanger(config, "").form("t")["client_id"] == exchange_config["client_id"]
    assert "client_id" not in Exchanger(config, "secret").form("t")  # HTTP Basic instead


# -- the cache ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_token_is_used_until_shortly_before_it_expires() -> None:
    clock = Clock()
    cache = TokenCache(clock=clock)
    key = TokenCache.key("subject")
    cache.put(key, ExchangedToken("exchanged", lifetime=300))
    clock.now += 300 - EXPIRY_DELTA - 1
    assert cache.get(key) == "exchanged"
    clock.now += 1
    assert cache.get(key) is None
    assert len(cache) == 0


def test_a_token_without_a_lifetime_is_kept_a_minute_and_one_about_to_expire_not_at_all() -> None:
    clock = Clock()
    cache = TokenCache(clock=clock)
    cache.put("a", ExchangedToken("no lifetime"))
    cache.put("b", ExchangedToken("nearly expired", lifetime=EXPIRY_DELTA))
    assert cache.get("b") is None
    clock.now += UNKNOWN_LIFETIME - 1
    assert cache.get("a") == "no lifetime"
    clock.now += 1
    assert cache.get("a") is None


def test_the_cache_is_bounded_and_keyed_by_a_hash_of_the_subject_token() -> None:
    cache = TokenCache(max_entries=3)
    keys = [TokenCache.key(f"subject-{i}") for i in range(5)]
    for i, key in enumerate(keys):
        cache.put(key, ExchangedToken(f"token-{i}", lifetime=600))
    assert len(cache) == 3
    assert [cache.get(k) for k in keys] == [None, None, "token-2", "token-3", "token-4"]
    assert all(len(k) == 64 and "subject" not in k for k in keys)


# -- the client secret -------------------------------------------------------------------------


def test_the_client_secret_is_read_from_a_file_a_secret_reference_or_gos_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "https://idp.example.com/token"
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-the-file\n")
    by_file = TokenExchangeConfig(token_url=url, client_secret_file=str(secret_file))
    assert client_secret(by_file, CONTEXT) == "from-the-file"

    store = {"__thv_token_exchange_client_secret_front": "from-the-provider"}
    context = MiddlewareContext(
        workload="front",
        transport="streamable-http",
        proxy_mode="streamable-http",
        url="",
        resolve_secret=store.__getitem__,
    )
    reference = "__thv_token_exchange_client_secret_front,target=token_exchange_client_secret"
    by_reference = TokenExchangeConfig(token_url=url, client_secret=reference)
    assert client_secret(by_reference, context) == "from-the-provider"
    with pytest.raises(InvalidInputError, match="cannot read secrets"):
        client_secret(by_reference, CONTEXT)

    monkeypatch.setenv("TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET", "from-the-environment")
    assert client_secret(TokenExchangeConfig(token_url=url), CONTEXT) == "from-the-environment"


def test_an_empty_or_missing_secret_file_stops_the_workload_from_starting(
    tmp_path: Path,
) -> None:
    url = "https://idp.example.com/token"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(InvalidInputError, match="is empty"):
        client_secret(TokenExchangeConfig(token_url=url, client_secret_file=str(empty)), CONTEXT)
    with pytest.raises(InvalidInputError, match="failed to read"):
        client_secret(
            TokenExchangeConfig(token_url=url, client_secret_file=str(tmp_path / "none")), CONTEXT
        )


def test_a_validation_error_never_quotes_the_client_secret() -> None:
    with pytest.raises(Exception) as caught:
        TokenExchangeConfig.model_validate(
            {"token_url": "http://idp.example.com/t", "client_secret": "hunter2-secret"}
        )
    assert "hunter2-secret" not in str(caught.value)
    assert "hunter2-secret" not in repr(
        TokenExchangeConfig(token_url="https://x.example/t", client_secret="hunter2-secret")
    )


async def slow_route(port: int, delay: float) -> asyncio.Server:
    """A TCP relay to 127.0.0.1:``port`` that holds each connection ``delay`` seconds first:
    the real provider, slowly."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay)
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(
            pipe(reader, upstream_writer), pipe(upstream_reader, writer), return_exceptions=True
        )

    return await asyncio.start_server(relay, "127.0.0.1", 0)


def test_a_caller_waiting_on_an_exchange_whose_request_went_away_exchanges_itself(
    user_token: str, exchange_config: dict[str, Any]
) -> None:
    from urllib.parse import urlsplit

    endpoint = urlsplit(exchange_config["token_url"])
    inners: list[InnerApp] = []

    async def scenario() -> httpx.Response:
        server = await slow_route(endpoint.port or 80, delay=0.5)
        port = server.sockets[0].getsockname()[1]
        app, inner = build(
            {**exchange_config, "token_url": f"http://127.0.0.1:{port}{endpoint.path}"}
        )
        inners.append(inner)
        transport = httpx.ASGITransport(app=app)
        async with (
            server,
            httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http,
        ):
            headers = {"content-type": "application/json", **bearer(user_token)}
            first = asyncio.create_task(http.post("/mcp", content=TOOL_CALL, headers=headers))
            await asyncio.sleep(0.2)  # the first request is exchanging (held by the relay)
            second = asyncio.create_task(http.post("/mcp", content=TOOL_CALL, headers=headers))
            await asyncio.sleep(0.1)  # the second waits for the first's exchange
            first.cancel()  # its client went away
            return await second

    response = asyncio.run(scenario())
    assert response.status_code == 200, response.text
    (seen,) = inners[0].requests
    assert seen["headers"]["authorization"] != f"Bearer {user_token}"


def test_token_endpoint_answers_are_checked_before_anything_goes_upstream() -> None:
    good = {"access_token": "abc.def", "token_type": "Bearer", "issued_token_type": "urn:x"}

    def parse(status: int, answer: object) -> ExchangedToken:
        return parse_answer(status, json.dumps(answer).encode())

    assert parse(200, {**good, "expires_in": "120"}) == ExchangedToken("abc.def", 120.0)
    assert parse(200, {**good, "expires_in": 0}).lifetime is None
    for answer in (
        {**good, "access_token": "abc\r\nX-Forged: yes"},  # would forge a header upstream
        {**good, "access_token": ""},
        {**good, "token_type": ""},  # RFC 8693 §2.2.1, as Go checks
        {k: v for k, v in good.items() if k != "issued_token_type"},
        ["not", "an", "object"],
    ):
        with pytest.raises(ExchangeUnavailableError):
            parse(200, answer)
    with pytest.raises(ExchangeUnavailableError, match="HTTP 503"):
        parse(503, {"error": "temporarily_unavailable"})
    with pytest.raises(ExchangeRefusedError, match="invalid_target"):
        parse(400, {"error": "invalid_target", "error_description": "no such audience"})
    with pytest.raises(ExchangeRefusedError, match="access_denied"):
        parse(200, {**good, "error": "access_denied"})  # RFC 6749 §5.2 in a 2xx body
    with pytest.raises(ExchangeRefusedError, match="HTTP 401"):
        parse_answer(401, b"<html>no</html>")
