"""Bearer-token validation: ToolHive's ``TokenValidator`` (``pkg/auth/token.go``) in asyncio.

A token with the shape of a JWT (three dot-separated parts and a readable header) is verified
against the issuer's JWKS; anything else is an opaque token, sent to the RFC 7662 introspection
endpoint when one is configured (as Go does on ``jwt.ErrTokenMalformed``). Either way the claims
must name the configured issuer and audience, carry ``exp`` in the future and a ``sub``.

Policy, with the reasons:

- **Algorithms**: only asymmetric signatures — RS256/384/512, PS256/384/512, ES256/384/512 and
  EdDSA. ``none`` and every HS* are refused before any key is looked up, and JWKS keys of type
  ``oct`` are never loaded, so an HMAC over the public key (the algorithm-confusion attack) has
  nothing to verify against. A key that names its ``alg`` is used for that algorithm only; one
  that does not must match the token's algorithm family (RSA, the EC curve, Ed25519/Ed448). Go
  accepts RS* and ES* only; PS* and EdDSA are the same kind of key and are accepted here. The
  header must carry a ``kid`` (as in Go).
- **Clock**: ``exp`` is required (Go treats a missing one as expired); ``exp``, ``nbf`` and
  ``iat`` get :data:`LEEWAY` seconds of skew (Go allows none).
- **Discovery**: when ``JWKSURL`` is empty, ``<Issuer>/.well-known/openid-configuration`` is read on
  the first token, with Go's retries (3 attempts, 0.5 s then 1 s apart); a failure is not
  remembered, so the next token tries again. The document's ``issuer`` must be the configured one
  (trailing slash aside) and it must name a ``jwks_uri``.
- **JWKS**: fetched on the first token, kept :data:`JWKS_MAX_AGE` seconds (then refetched on the
  next need; stale keys stay in use while the issuer is unreachable). A ``kid`` not in the set
  triggers one refetch, at most once per :data:`MIN_REFETCH_INTERVAL` seconds, so random key ids
  cannot make us hammer the issuer; after a failed fetch the next try waits
  :data:`RETRY_AFTER_FAILURE` seconds.
- **Cache**: a validated token maps to its :class:`Identity` until its ``exp`` (introspected ones
  at most :data:`INTROSPECTION_CACHE_MAX_AGE` seconds, so a revocation shows within a minute),
  in a map of at most :data:`TOKEN_CACHE_SIZE` entries keyed by the token's SHA-256 (the oldest
  entry goes first). Refusals are not cached. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt
from toolhive.contracts import Identity

from toolhive_middleware_auth.fetch import FetchError, FetchPolicy

log = logging.getLogger("toolhive_middleware_auth")

LEEWAY = 30.0
JWKS_MAX_AGE = 3600.0
MIN_REFETCH_INTERVAL = 30.0
RETRY_AFTER_FAILURE = 2.0
TOKEN_CACHE_SIZE = 10_000
INTROSPECTION_CACHE_MAX_AGE = 60.0
DISCOVERY_BACKOFF = (0.5, 1.0)  # 3 attempts, as Go's ensureOIDCDiscovered

#: The token algorithms accepted, with the JWK key type (and EC curve) each needs.
ALGORITHMS: Mapping[str, tuple[str, frozenset[str]]] = {
    **{f"RS{n}": ("RSA", frozenset()) for n in (256, 384, 512)},
    **{f"PS{n}": ("RSA", frozenset()) for n in (256, 384, 512)},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
#: Claims ToolHive's auth server uses internally and never passes on (``context.go``).
INTERNAL_CLAIMS = frozenset({"tsid"})


class TokenError(Exception):
    """Why a token was refused. The message goes back to the client (``error_description``), so
    it says what is wrong with the token, never what the token is."""


@dataclass(frozen=True)
class _Key:
    kty: str
    crv: str
    alg: str
    key: Any  # a cryptography public key


def _parse_jwks(document: Any) -> dict[str, _Key]:
    """The usable signing keys of a JWKS, by ``kid``; others are skipped (and logged)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise FetchError("the JWKS has no 'keys' list")
    keys: dict[str, _Key] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        if not isinstance(kid, str) or kty not in ("RSA", "EC", "OKP"):
            continue  # no id to match, or a symmetric/unknown key type
        if entry.get("use", "sig") != "sig":
            continue
        named = entry.get("alg")
        alg = named if isinstance(named, str) else ""
        if alg and alg not in ALGORITHMS:
            continue
        try:
            key = jwt.PyJWK(entry, algorithm=alg or None).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            log.debug("skipping JWKS key %r: %s", kid, exc)
            continue
        keys[kid] = _Key(kty, str(entry.get("crv", "")), alg, key)
    return keys


def _check_pairing(key: _Key, alg: str) -> None:
    if key.alg and key.alg != alg:
        raise TokenError(f"the key is for {key.alg}, the token says {alg}")
    kty, curves = ALGORITHMS[alg]
    if key.kty != kty or (curves and key.crv not in curves):
        raise TokenError(f"the key does not fit the token's algorithm {alg}")


def _identity(claims: dict[str, Any], method: str) -> Identity:
    """Go's ``claimsToIdentity``: ``sub`` required; ``name``, ``email`` (and ``groups``) if any."""
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        raise TokenError("missing or invalid 'sub' claim")
    kept = {k: v for k, v in claims.items() if k not in INTERNAL_CLAIMS}
    groups = kept.get("groups")
    return Identity(
        subject=sub,
        claims=MappingProxyType(kept),
        name=kept["name"] if isinstance(kept.get("name"), str) else "",
        email=kept["email"] if isinstance(kept.get("email"), str) else "",
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
        method=method,
    )


def _jws_header(token: str) -> dict[str, Any] | None:
    """The header of a JWS in compact form, or ``None`` for anything else (an opaque token)."""
    if token.count(".") != 2:
        return None
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return None


class TokenCache:
    """Validated tokens → identity until a deadline, bounded, keyed by the token's SHA-256."""

    def __init__(self, size: int = TOKEN_CACHE_SIZE) -> None:
        self._size = size
        self._entries: dict[bytes, tuple[Identity, float]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> Identity | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry[1]:
            self._entries.pop(key, None)
            return None
        return entry[0]

    def put(self, key: bytes, who: Identity, until: float) -> None:
        entries = self._entries
        entries.pop(key, None)
        entries[key] = (who, until)
        if len(entries) > self._size:
            del entries[next(iter(entries))]


class TokenValidator:
    """Validates bearer tokens for one OIDC configuration; safe to share across requests.

    ``clock`` (wall time, for ``exp``) and ``monotonic`` (for fetch pacing) are injectable so
    tests can move time; the intervals are the module's constants unless given.
    """

    def __init__(
        self,
        *,
        issuer: str = "",
        audience: str = "",
        jwks_url: str = "",
        introspection_url: str = "",
        client_id: str = "",
        client_secret: str = "",
        policy: FetchPolicy | None = None,
        leeway: float = LEEWAY,
        min_refetch_interval: float = MIN_REFETCH_INTERVAL,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        cache: TokenCache | None = None,
    ) -> None:
        if not issuer and not jwks_url:
            raise ValueError("either an issuer or a JWKS URL must be provided")
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.introspection_url = introspection_url
        self._basic = (client_id, client_secret) if client_id and client_secret else None
        self.policy = policy or FetchPolicy()
        self.leeway = leeway
        self.min_refetch_interval = min_refetch_interval
        self._clock = clock
        self._monotonic = monotonic
        self.cache = cache if cache is not None else TokenCache()
        self._keys: dict[str, _Key] | None = None
        self._fetched_at = 0.0  # monotonic time of the last successful JWKS fetch
        self._attempted_at: float | None = None  # ... and of the last attempt
        self._last_failed = False
        self._inflight: asyncio.Future[dict[str, _Key] | None] | None = None

    # -- the entry point ---------------------------------------------------------------------

    async def validate(self, token: str) -> Identity:
        """The caller ``token`` proves, or :class:`TokenError` saying why not."""
        key = hashlib.sha256(token.encode()).digest()
        now = self._clock()
        cached = self.cache.get(key, now)
        if cached is not None:
            return cached
        header = _jws_header(token)
        if header is None:
            claims = await self._introspect(token)
            until = min(_number(claims.get("exp")), now + INTROSPECTION_CACHE_MAX_AGE)
            who = _identity(claims, "introspection")
        else:
            claims = await self._verify_jwt(token, header)
            until = _number(claims.get("exp"))
            who = _identity(claims, "jwt")
        if until > now:
            self.cache.put(key, who, until)
        return who

    # -- JWTs --------------------------------------------------------------------------------

    async def _verify_jwt(self, token: str, header: Mapping[str, Any]) -> dict[str, Any]:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            shown = printable(alg) if isinstance(alg, str) else ""
            raise TokenError(f"unexpected signing method: {shown or 'missing'}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenError("token header missing kid")
        key = await self._key(kid)
        _check_pairing(key, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience or None,
                leeway=self.leeway,
                options={
                    "require": ["exp"],
                    "verify_aud": bool(self.audience),
                    "verify_iss": False,  # below, trimmed as Go compares it
                },
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError("token expired" if exc.claim == "exp" else str(exc)) from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenError("invalid audience") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature is invalid") from None
        except jwt.DecodeError:
            raise TokenError("malformed token") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        self._check_issuer(claims)
        return claims

    def _check_issuer(self, claims: Mapping[str, Any]) -> None:
        if self.issuer:
            iss = claims.get("iss")
            if not isinstance(iss, str) or iss.strip() != self.issuer.strip():
                raise TokenError("invalid issuer")

    async def _key(self, kid: str) -> _Key:
        now = self._monotonic()
        keys = self._keys
        if keys is None or now - self._fetched_at >= JWKS_MAX_AGE:
            if self._may_fetch(now, RETRY_AFTER_FAILURE if self._last_failed else 0.0):
                keys = await self._refresh_jwks()
            if keys is None:
                raise TokenError("the issuer's signing keys are not available")
        if kid not in keys and self._may_fetch(now, self.min_refetch_interval):
            log.info("unknown key id %r: refetching the JWKS", printable(kid))
            keys = await self._refresh_jwks() or keys
        found = keys.get(kid)
        if found is None:
            raise TokenError(f"key ID {printable(kid)} not found in JWKS")
        return found

    def _may_fetch(self, now: float, interval: float) -> bool:
        if self._inflight is not None:
            return True  # join the fetch under way
        return self._attempted_at is None or now - self._attempted_at >= interval

    async def _refresh_jwks(self) -> dict[str, _Key] | None:
        """One fetch for every request that needs it at the same moment (single flight); the
        fetch runs as its own task, so a client that goes away does not cancel it for others."""
        task = self._inflight
        if task is None:
            self._attempted_at = self._monotonic()
            task = asyncio.ensure_future(self._fetch_keys())
            self._inflight = task
        return await asyncio.shield(task)

    async def _fetch_keys(self) -> dict[str, _Key] | None:
        try:
            url = self.jwks_url or await self._discover()
            keys = _parse_jwks(await self.policy.get_json(url))
        except (FetchError, TokenError) as exc:
            self._last_failed = True
            log.warning("could not fetch the JWKS: %s", exc)
            return self._keys
        finally:
            self._inflight = None
        self._keys, self._fetched_at, self._last_failed = keys, self._monotonic(), False
        log.debug("JWKS fetched: %d usable keys", len(keys))
        return keys

    async def _discover(self) -> str:
        """The issuer's ``jwks_uri`` (OIDC discovery), retried as Go retries it; runs inside the
        single JWKS fetch, so concurrent first requests discover once."""
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        problem = ""
        for attempt in range(len(DISCOVERY_BACKOFF) + 1):
            if attempt:
                await asyncio.sleep(DISCOVERY_BACKOFF[attempt - 1])
            try:
                document = await self.policy.get_json(url)
            except FetchError as exc:
                problem = str(exc)
                continue
            jwks_uri = _discovered_jwks_uri(document, self.issuer)
            # Validated like a configured URL: the same scheme and address rules apply.
            await self.policy.check(jwks_uri)
            self.jwks_url = jwks_uri
            return jwks_uri
        log.error("OIDC discovery at %s failed: %s", self.issuer, problem)
        raise TokenError("OIDC discovery failed")

    # -- opaque tokens -----------------------------------------------------------------------

    async def _introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662, as Go's ``RFC7662Provider``: POST ``token`` + ``token_type_hint``."""
        if not self.introspection_url:
            raise TokenError("malformed token (and no introspection endpoint for opaque tokens)")
        try:
            status, answer = await self.policy.post_form(
                self.introspection_url,
                {"token": token, "token_type_hint": "access_token"},
                basic=self._basic,
            )
        except FetchError as exc:
            log.warning("token introspection failed: %s", exc)
            raise TokenError("token introspection failed") from None
        if status == 401:
            raise TokenError("introspection unauthorized")
        if status != 200:
            raise TokenError(f"introspection failed with status {status}")
        if not isinstance(answer, dict) or answer.get("active") is not True:
            raise TokenError("token is not active")
        claims = {k: v for k, v in answer.items() if k != "active"}
        for name in ("sub", "iss", "scope"):
            if isinstance(claims.get(name), str):
                claims[name] = claims[name].strip()
        self._check_issuer(claims)
        self._check_audience(claims.get("aud"))
        now = self._clock()
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + self.leeway <= now:
            raise TokenError("token expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf - self.leeway > now:
            raise TokenError("token is not valid yet")
        return claims

    def _check_audience(self, aud: Any) -> None:
        if not self.audience:
            return
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience not in audiences:
            raise TokenError("invalid audience")


def _discovered_jwks_uri(document: Any, issuer: str) -> str:
    if not isinstance(document, dict):
        raise TokenError("the OIDC discovery document is not an object")
    # OpenID Connect Discovery §4.3: the document must be about the issuer we asked.
    announced = document.get("issuer")
    if not isinstance(announced, str) or announced.rstrip("/") != issuer.rstrip("/"):
        raise TokenError("the OIDC discovery document names another issuer")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise TokenError("OIDC configuration missing jwks_uri")
    return jwks_uri


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def printable(value: str, limit: int = 64) -> str:
    """An attacker-chosen string made safe for a log line or a header: printable ASCII, short."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in value[:limit])
    return cleaned + ("..." if len(value) > limit else "")
