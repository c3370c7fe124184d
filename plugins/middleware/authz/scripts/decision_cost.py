"""What the authorization middleware costs per request, and what one Cedar decision costs.

    uv run python plugins/middleware/authz/scripts/decision_cost.py

In-process, no network: a tools/call goes through the middleware (with the parsed request and the
caller already in the scope, as ``mcp-parser`` and ``auth`` leave them) in front of an app that
answers at once; then the Cedar calls themselves (cache misses). Medians and 90th percentiles of
many runs; on a busy machine run it twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from toolhive.contracts import MiddlewareContext
from toolhive.contracts.middleware import (
    PARSED_REQUEST_KEY,
    Identity,
    describe_mcp_request,
    set_identity,
)
from toolhive_middleware_authz import AuthzParameters, factory
from toolhive_middleware_authz.engine import CedarAuthorizer, argument_attributes, tool_call

POLICIES = [
    'permit(principal, action == Action::"call_tool", resource == Tool::"echo");',
    'permit(principal in THVGroup::"eng", action == Action::"call_tool", resource) '
    'when { resource.arg_text like "*ok*" };',
    'forbid(principal, action == Action::"call_tool", resource == Tool::"add") '
    'when { context.claim_role == "guest" };',
]
CLAIMS = {
    "sub": "alice",
    "iss": "https://issuer.example",
    "aud": "toolhive",
    "exp": 1999999999,
    "iat": 1700000000,
    "email": "alice@example.com",
    "name": "Alice",
    "groups": ["eng", "ops"],
    "role": "dev",
}
BODY = (
    b'{"jsonrpc":"2.0","id":7,"method":"tools/call",'
    b'"params":{"name":"echo","arguments":{"text":"ok \\u2713"}}}'
)
PARAMETERS = AuthzParameters(
    config_data={"version": "1.0", "type": "cedarv1", "cedar": {"policies": POLICIES}}
)
CONTEXT = MiddlewareContext(
    workload="w", transport="stdio", proxy_mode="streamable-http", url="http://127.0.0.1/mcp"
)


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b'{"jsonrpc":"2.0","id":7,"result":{}}'})


def percentiles(samples: list[int]) -> tuple[float, float]:
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.9)] / 1000


def through(app: Any, same_identity: bool, n: int = 20000) -> tuple[float, float]:
    who = Identity(subject="alice", claims=CLAIMS)

    async def once() -> None:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "headers": [(b"content-type", b"application/json")],
            PARSED_REQUEST_KEY: describe_mcp_request(BODY),
        }
        set_identity(scope, who if same_identity else Identity("alice", dict(CLAIMS)))

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: Any) -> None:
            pass

        await app(scope, receive, send)

    async def run() -> tuple[float, float]:
        for _ in range(500):
            await once()
        samples = []
        for _ in range(n):
            start = time.perf_counter_ns()
            await once()
            samples.append(time.perf_counter_ns() - start)
        return percentiles(samples)

    return asyncio.run(run())


def timed(call: Callable[[], object], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - start)
    return percentiles(samples)


def main() -> None:
    row = "{:<56} p50 {:8.1f} us   p90 {:8.1f} us"
    bare = through(answer, True)
    print(row.format("the app alone", *bare))
    wrapped = factory(answer, PARAMETERS, CONTEXT)
    for label, same in (
        ("same Identity", True),
        ("new Identity each time", False),
    ):
        cost = through(wrapped, same)
        print(row.format(f"authz, decision cached, {label}", *cost))
        print(f"  -> added by authz: {cost[0] - bare[0]:.1f} us at p50")

    authorizer = CedarAuthorizer(PARAMETERS.cedar, "w")
    principal = authorizer.principal(CLAIMS)
    assert principal is not None
    counter = iter(range(10**9))

    def miss() -> object:
        ask = tool_call("echo", argument_attributes({"text": f"ok {next(counter)}"}), {})
        return authorizer.allowed(principal, [ask])

    print(row.format("one Cedar decision (a cache miss)", *timed(miss, 3000)))
    for size in (10, 50):
        asks = [tool_call(f"tool{i}", {}, {}) for i in range(size)]
        p50, p90 = timed(lambda asks=asks: authorizer._batch(principal, asks), 200)
        print(
            row.format(f"a {size}-item list answer, one Cedar call", p50, p90)
            + f"   ({p50 / size:.1f} us/item)"
        )


if __name__ == "__main__":
    main()
