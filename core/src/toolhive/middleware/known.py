"""ToolHive's middleware types: their place in the chain and who provides them.

Core needs this table even when a plugin is not installed: a RunConfig that asks for protection
must be refused with the name of the distribution that would enforce it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from toolhive import DISTRIBUTION


@dataclass(frozen=True)
class KnownType:
    #: Position in ToolHive's chain (``PopulateMiddlewareConfigs``); lower is outermost.
    rank: int
    #: The distribution that provides it (``pip install …``), or core's own (``toolhive-core``).
    distribution: str
    #: What a user asked for, in words, for refusal messages.
    purpose: str


CORE = DISTRIBUTION

#: Every middleware type ToolHive's runner knows (``GetSupportedMiddlewareFactories``).
KNOWN_TYPES: Final[dict[str, KnownType]] = {
    "bodylimit": KnownType(10, CORE, "a request body size limit"),
    "origin": KnownType(20, CORE, "an Origin allowlist"),
    "audit": KnownType(100, "toolhive-middleware-audit", "audit logging"),
    "auth": KnownType(200, "toolhive-middleware-auth", "OIDC/JWT authentication"),
    "strip-auth": KnownType(250, "toolhive-middleware-auth", "stripping client credentials"),
    "upstreamswap": KnownType(300, "toolhive-middleware-auth", "upstream token swap"),
    "tokenexchange": KnownType(400, "toolhive-middleware-tokenexchange", "RFC 8693 token exchange"),
    "tool-filter": KnownType(500, "toolhive-middleware-tools", "a tool filter"),
    "tool-call-filter": KnownType(600, "toolhive-middleware-tools", "a tool call filter"),
    "mcp-parser": KnownType(700, CORE, "MCP request parsing"),
    "ratelimit": KnownType(800, "toolhive-middleware-ratelimit", "rate limiting"),
    "mutating-webhook": KnownType(900, "toolhive-middleware-webhooks", "mutating webhooks"),
    "validating-webhook": KnownType(1000, "toolhive-middleware-webhooks", "validating webhooks"),
    "usagemetrics": KnownType(1100, CORE, "usage metrics"),
    "telemetry": KnownType(1200, "toolhive-middleware-telemetry", "OpenTelemetry"),
    "authorization": KnownType(1300, "toolhive-middleware-authz", "Cedar authorization"),
    "awssts": KnownType(1400, "toolhive-middleware-auth", "AWS STS request signing"),
    "obo": KnownType(1450, "toolhive-middleware-auth", "on-behalf-of token exchange"),
    "header-forward": KnownType(1500, CORE, "headers forwarded upstream"),
    "recovery": KnownType(1600, CORE, "recovery from internal errors"),
}

#: Rank given to a type no one knows (a third-party plugin's): just inside ``mcp-parser``.
UNKNOWN_RANK: Final = 750

#: Types that ask for nothing a user relies on for safety: when no plugin provides them the entry
#: is dropped (ToolHive's usage metrics report to Stacklok; we never send them).
OPTIONAL_TYPES: Final = frozenset({"usagemetrics"})


def rank(kind: str) -> int:
    known = KNOWN_TYPES.get(kind)
    return known.rank if known else UNKNOWN_RANK


def install_hint(kind: str) -> str:
    known = KNOWN_TYPES.get(kind)
    if known is None or known.distribution == CORE:
        return "install the plugin that provides it (`thv plugins` lists what is installed)"
    return f"pip install {known.distribution}"
