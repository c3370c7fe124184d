"""Bridge one stdio MCP server to many HTTP client sessions.

Two HTTP faces share one core: streamable HTTP (``POST/GET/DELETE /mcp``, the default) and the
legacy HTTP+SSE transport (``GET /sse`` + ``POST /messages?session_id=``, ``--proxy-mode sse``).
One server process serves every client session, so the bridge owns the JSON-RPC plumbing
(docs/proxy.md has the user-facing rules):

* **Sessions.** ``initialize`` creates a session (``Mcp-Session-Id``; in SSE mode the ``GET /sse``
  stream is the session). The server is initialized once: the first client's ``initialize`` is
  forwarded, advertising every client capability the bridge can relay (sampling, elicitation,
  roots), and its result cached; later sessions get the cached result under their own request id,
  and only the first ``notifications/initialized`` is forwarded. Requests without a session header
  get 400, with an unknown one 404; ``DELETE`` ends a session; sessions idle for ``session_ttl``
  seconds expire. ``server/discover`` (the 2026-07-28 probe) is answered -32601 by the bridge, so
  ``mode="auto"`` clients fall back to ``initialize``.
* **Ids.** Every forwarded request gets a fresh integer id, so answers reach the right session and
  clients may reuse ids freely. Progress tokens are replaced by that id too and restored on the way
  back.
* **Responses.** A request's answer is JSON, or an SSE stream when the client accepts
  ``text/event-stream`` and something (progress, a server request) arrives before the answer. The
  choice is made when the first message arrives, so the common case costs one JSON body.
* **Resumable streams** (sessions on protocol ``2025-11-25`` or later, SEP-1699). A request still
  unanswered after ``TOOLHIVE_PROXY_SSE_PRIMING_DELAY`` (default 100 ms) turns into an SSE stream
  that opens with a priming event (an id, empty data, ``retry``); every event on it and on the
  session's ``GET`` stream carries an id ``<stream>.<n>`` and is kept (bounded) per session. A
  client whose connection drops reconnects with ``GET`` + ``Last-Event-ID`` and gets what it
  missed, then the rest of that stream: the request keeps running while nobody listens.
* **Server notifications.** ``notifications/progress`` goes to the stream of the request that owns
  the token; ``notifications/resources/updated`` only to sessions subscribed to that URI
  (``resources/subscribe``/``unsubscribe`` are ref-counted per URI: the server sees the first
  subscribe and the last unsubscribe); ``notifications/message`` to sessions whose
  ``logging/setLevel`` admits it (answered per session; the server gets the lowest level any
  session asked for); everything else (``*/list_changed``) to every session's ``GET`` stream.
* **Server → client requests** (sampling, elicitation, roots) go to the session that caused them,
  found by :meth:`.routing.Router.route`: the request whose progress token (or related-request id)
  the server put in ``params._meta``; else the one session with requests in flight that could call
  back and that declared the capability; else, with nothing in flight, the one session that
  declared it.
  When no single session qualifies the server gets a JSON-RPC error at once (never a guess: the
  wrong session would see another user's prompt). The client's answer is relayed back. The
  server's own ``ping`` is answered by the bridge.
* **Failure.** When the server exits every waiting client gets a JSON-RPC error at once and later
  requests get 503. Requests time out after ``TOOLHIVE_PROXY_REQUEST_TIMEOUT`` (default 60 s) with a
  JSON-RPC error, and the server is told with ``notifications/cancelled``.

Timeouts, session expiry and SSE keep-alive comments run in one sweeper task (no timer per request).
The bridge never imports the MCP SDK.

The modules, from the bottom up:

* :mod:`.streams`: mailboxes (what an HTTP response streams from) and pumping one to a client.
* :mod:`.event_log`: resumable streams (SEP-1699): event ids, priming events, replay.
* :mod:`.sessions`: sessions and the id mapping (backend ids, progress tokens, server requests).
* :mod:`.routing`: what the server writes, delivered to the right session or request.
* :mod:`.intercepted`: ``logging/setLevel`` and ``resources/(un)subscribe``, answered per session.
* :mod:`.relay`: the one server link: handshake, forwarding, the read loop, the sweeper.
* :mod:`.face`: the face interface and what both faces share; :mod:`.streamable_http` and
  :mod:`.legacy_sse`, the two faces.
* :mod:`.bridge`: :class:`StdioBridge`, the transport: a relay and the face of the proxy mode.
"""

from toolhive.transports.stdio.bridge import ProxyModeNotSupportedError, StdioBridge
from toolhive.transports.stdio.relay import ServerGoneError

__all__ = ["ProxyModeNotSupportedError", "ServerGoneError", "StdioBridge"]
