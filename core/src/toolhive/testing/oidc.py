"""A real OpenID Connect issuer on 127.0.0.1 for tests of anything that validates bearer tokens.

:class:`OIDCIssuer` makes its own keys (RSA, EC and Ed25519, with ``cryptography``), signs JWTs
itself — the compact JWS is built by hand here, so a test never checks a validator against the
library the validator uses — and serves over real HTTP, on a thread, so sync and async tests use
it alike:

- ``GET /.well-known/openid-configuration`` — the discovery document;
- ``GET /jwks`` — the published public keys (counted: :attr:`OIDCIssuer.jwks_fetches`); with
  ``jwks_bearer`` set it wants ``Authorization: Bearer <jwks_bearer>`` (``AuthTokenFile``);
- ``POST /introspect`` — RFC 7662 introspection of the opaque tokens :meth:`OIDCIssuer.opaque`
  issued (HTTP Basic with ``client_id``/``client_secret``).

``OIDCIssuer(tls=True)`` serves HTTPS with a certificate from a CA made for it
(:attr:`OIDCIssuer.ca_pem`, what ``CACertPath`` points to).

::

    with OIDCIssuer() as issuer:
        token = issuer.token(sub="alice", claims={"groups": ["eng"]})
        oidc_config = issuer.oidc_config()   # ToolHive's TokenValidatorConfig keys

Keys rotate with :meth:`OIDCIssuer.rotate` (a new signing key is published; old ones stay
published unless retired). Tokens that must fail are made with the same calls: ``exp`` in the past,
another ``iss``/``aud``/``kid``, ``alg="none"`` (:meth:`OIDCIssuer.unsigned`), an HMAC over the
public key's PEM (:meth:`OIDCIssuer.hmac_signed`) or a signature by a key nobody published
(:meth:`OIDCIssuer.foreign_token`).

``cryptography`` is imported only when an issuer is created: ``toolhive.testing`` is imported by
every test run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = ["SIGNING_ALGORITHMS", "OIDCIssuer", "b64url"]

#: The JWS algorithms the issuer can sign with (RFC 7518 + RFC 8037 EdDSA).
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int, length: int | None = None) -> bytes:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(size, "big")


def _json_segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass
class _Key:
    kid: str
    alg: str
    private: PrivateKeyTypes
    published: bool = True

    def jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517/7518/8037)."""
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        base: dict[str, Any] = {"kid": self.kid, "alg": self.alg, "use": "sig"}
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            return {
                **base,
                "kty": "RSA",
                "n": b64url(_int_bytes(numbers.n)),
                "e": b64url(_int_bytes(numbers.e)),
            }
        if isinstance(public, ec.EllipticCurvePublicKey):
            size = (public.curve.key_size + 7) // 8
            point = public.public_numbers()
            crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
            return {
                **base,
                "kty": "EC",
                "crv": crv[public.curve.name],
                "x": b64url(_int_bytes(point.x, size)),
                "y": b64url(_int_bytes(point.y, size)),
            }
        if isinstance(public, ed25519.Ed25519PublicKey):
            from cryptography.hazmat.primitives import serialization

            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return {**base, "kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
        raise TypeError(f"unsupported key type {type(public).__name__}")  # pragma: no cover

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature of ``signing_input`` with this key's ``alg`` (RFC 7518 §3)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

        key = self.private
        if self.alg == "EdDSA":
            assert isinstance(key, ed25519.Ed25519PrivateKey)
            return key.sign(signing_input)
        bits = self.alg[2:]
        digest: hashes.HashAlgorithm = (
            hashes.SHA256()
            if bits == "256"
            else hashes.SHA384()
            if bits == "384"
            else hashes.SHA512()
        )
        if self.alg.startswith("RS"):
            assert isinstance(key, rsa.RSAPrivateKey)
            return key.sign(signing_input, padding.PKCS1v15(), digest)
        if self.alg.startswith("PS"):
            assert isinstance(key, rsa.RSAPrivateKey)
            # RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            return key.sign(signing_input, pss, digest)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        # JWS wants R || S, each left-padded to the curve's size, not the DER that cryptography gives.
        r, s = utils.decode_dss_signature(key.sign(signing_input, ec.ECDSA(digest)))
        size = (key.curve.key_size + 7) // 8
        return _int_bytes(r, size) + _int_bytes(s, size)


def _new_private_key(alg: str) -> PrivateKeyTypes:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    curves: dict[str, ec.EllipticCurve] = {
        "ES256": ec.SECP256R1(),
        "ES384": ec.SECP384R1(),
        "ES512": ec.SECP521R1(),
    }
    if alg in curves:
        return ec.generate_private_key(curves[alg])
    raise ValueError(f"the test issuer cannot sign with {alg!r}; use one of {SIGNING_ALGORITHMS}")


@dataclass
class _Opaque:
    claims: dict[str, Any]
    active: bool = True


@dataclass
class _Counters:
    discovery: int = 0
    jwks: int = 0
    introspection: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class OIDCIssuer:
    """An OIDC issuer serving discovery, JWKS and introspection on ``127.0.0.1``.

    Start it with ``with OIDCIssuer() as issuer:`` (or :meth:`start`/:meth:`stop`; once started
    it keeps its port, so a stopped issuer comes back at the same URL). It begins with one key
    for ``alg`` (``RS256``); :meth:`add_key` and :meth:`rotate` add others.
    """

    def __init__(
        self,
        *,
        audience: str = "toolhive-test",
        client_id: str = "toolhive-test-client",
        client_secret: str = "toolhive-test-secret",
        jwks_bearer: str | None = None,
        alg: str = "RS256",
        port: int = 0,
        tls: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.audience = audience
        #: The address it listens on and names itself by (e.g. docker0's ``172.17.0.1``, so
        #: pods of the test cluster reach it); TLS certificates cover 127.0.0.1 only.
        self.host = host
        self._port = port
        self.tls = tls
        #: With ``tls``: the PEM of the CA that signed the issuer's certificate (``CACertPath``).
        self.ca_pem = b""
        self._tls: ssl.SSLContext | None = None
        self.client_id = client_id
        self.client_secret = client_secret
        self.jwks_bearer = jwks_bearer
        self._keys: dict[str, _Key] = {}
        self._current = ""
        self._opaque: dict[str, _Opaque] = {}
        self._counters = _Counters()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add_key(alg, current=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OIDCIssuer:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, self._port), _handler_for(self))
        # Keep the port: a stopped issuer starts again at the same URL (an outage, then recovery).
        self._port = int(server.server_address[1])
        server.daemon_threads = True
        if self.tls:
            if self._tls is None:
                self._tls = self._tls_context()
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="oidc-test-issuer",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> OIDCIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where it is -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the issuer was never started")
        return self._port

    @property
    def url(self) -> str:
        """The issuer identifier (``iss``), e.g. ``http://127.0.0.1:PORT`` (``https`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/introspect"

    def discovery_document(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": self.jwks_url,
            "introspection_endpoint": self.introspection_url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self._keys.values()}),
        }

    def oidc_config(self, **overrides: Any) -> dict[str, Any]:
        """ToolHive's ``oidc_config`` (``TokenValidatorConfig``, Go's field names) for this issuer.

        A loopback issuer needs ``AllowPrivateIP``, and over plain HTTP ``InsecureAllowHTTP``;
        they are set. With TLS, pass ``CACertPath`` (a file holding :attr:`ca_pem`).
        """
        return {
            "Issuer": self.url,
            "Audience": self.audience,
            "InsecureAllowHTTP": not self.tls,
            "AllowPrivateIP": True,
            **overrides,
        }

    # -- counters ----------------------------------------------------------------------------

    @property
    def jwks_fetches(self) -> int:
        """How many times ``/jwks`` was fetched (successfully or not)."""
        return self._counters.jwks

    @property
    def discovery_fetches(self) -> int:
        return self._counters.discovery

    @property
    def introspections(self) -> int:
        return self._counters.introspection

    # -- TLS ---------------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        """A one-off CA and a server certificate for 127.0.0.1/localhost signed by it."""
        import datetime
        import ipaddress
        import tempfile
        from pathlib import Path

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "toolhive test CA")])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_pem = ca.public_bytes(serialization.Encoding.PEM)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as folder:  # load_cert_chain reads files only
            chain, private = Path(folder, "cert.pem"), Path(folder, "key.pem")
            chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            private.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            context.load_cert_chain(chain, private)
        return context

    # -- keys --------------------------------------------------------------------------------

    @property
    def kid(self) -> str:
        """The current signing key's id."""
        return self._current

    def add_key(
        self,
        alg: str = "RS256",
        *,
        kid: str | None = None,
        current: bool = False,
        published: bool = True,
    ) -> str:
        """Make a key for ``alg`` (published in the JWKS unless told not); return its ``kid``."""
        key = _Key(kid or f"{alg.lower()}-{secrets.token_hex(4)}", alg, _new_private_key(alg))
        key.published = published
        with self._lock:
            self._keys[key.kid] = key
            if current:
                self._current = key.kid
        return key.kid

    def rotate(self, alg: str | None = None, *, retire_old: bool = False) -> str:
        """Sign with a new key from now on (published at once); return its ``kid``."""
        old = self._current
        kid = self.add_key(alg or self._keys[old].alg, current=True)
        if retire_old:
            self.retire(old)
        return kid

    def retire(self, kid: str) -> None:
        """Stop publishing ``kid`` (tokens it signs no longer verify against the JWKS)."""
        with self._lock:
            self._keys[kid].published = False

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [k.jwk() for k in self._keys.values() if k.published]}

    def public_pem(self, kid: str | None = None) -> bytes:
        """The PEM (SubjectPublicKeyInfo) of a key, as an attacker could download it."""
        return self._keys[kid or self._current].public_pem()

    # -- tokens ------------------------------------------------------------------------------

    def claims(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        sub: str | None = "user-1",
        iss: str | None = None,
        aud: str | list[str] | None = None,
        exp: float | None = None,
        nbf: float | None = None,
        iat: float | None = None,
        lifetime: float = 300,
    ) -> dict[str, Any]:
        """A payload: ``iss``/``aud`` default to this issuer's, ``exp`` to now + ``lifetime``.

        Pass ``claims={"exp": None}`` (or any claim set to ``None``) to leave a claim out.
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": iss if iss is not None else self.url,
            "aud": aud if aud is not None else self.audience,
            "sub": sub,
            "iat": int(iat) if iat is not None else now,
            "exp": int(exp) if exp is not None else now + int(lifetime),
        }
        if nbf is not None:
            payload["nbf"] = int(nbf)
        payload.update(claims or {})
        return {k: v for k, v in payload.items() if v is not None}

    def token(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        kid: str | None = None,
        alg: str | None = None,
        header: Mapping[str, Any] | None = None,
        **standard: Any,
    ) -> str:
        """A JWT signed with key ``kid`` (default: the current key); ``alg`` defaults to the
        key's. ``standard`` are :meth:`claims`' keywords (``sub``, ``iss``, ``exp`` …).

        A ``kid`` the issuer does not know is signed with the current key but carries that
        ``kid`` in its header (an unknown key id, as a validator sees it).
        """
        with self._lock:
            key = self._keys.get(kid or self._current) or self._keys[self._current]
        head: dict[str, Any] = {"alg": alg or key.alg, "typ": "JWT", "kid": kid or key.kid}
        head.update(header or {})
        head = {k: v for k, v in head.items() if v is not None}  # {"kid": None} leaves it out
        return self._sign(key, head, self.claims(claims, **standard))

    def foreign_token(self, claims: Mapping[str, Any] | None = None, **standard: Any) -> str:
        """A token signed by a fresh key that claims the current key's ``kid`` (bad signature)."""
        current = self._keys[self._current]
        impostor = _Key(current.kid, current.alg, _new_private_key(current.alg))
        head = {"alg": current.alg, "typ": "JWT", "kid": current.kid}
        return self._sign(impostor, head, self.claims(claims, **standard))

    def unsigned(self, claims: Mapping[str, Any] | None = None, **standard: Any) -> str:
        """An ``alg: none`` token (RFC 7519 §6: an unsecured JWT, empty signature)."""
        head = {"alg": "none", "typ": "JWT", "kid": self._current}
        return f"{_json_segment(head)}.{_json_segment(self.claims(claims, **standard))}."

    def hmac_signed(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        alg: str = "HS256",
        secret: bytes | None = None,
        **standard: Any,
    ) -> str:
        """An HMAC-signed token; the secret defaults to the current key's public PEM — the
        algorithm-confusion attack on validators that verify HS* with whatever key they hold."""
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        key = secret if secret is not None else self.public_pem()
        head = {"alg": alg, "typ": "JWT", "kid": self._current}
        signing_input = f"{_json_segment(head)}.{_json_segment(self.claims(claims, **standard))}"
        signature = hmac.new(key, signing_input.encode("ascii"), digest).digest()
        return f"{signing_input}.{b64url(signature)}"

    def _sign(self, key: _Key, header: Mapping[str, Any], payload: Mapping[str, Any]) -> str:
        signing_input = f"{_json_segment(header)}.{_json_segment(payload)}"
        return f"{signing_input}.{b64url(key.sign(signing_input.encode('ascii')))}"

    # -- opaque tokens (RFC 7662) ------------------------------------------------------------

    def opaque(
        self, claims: Mapping[str, Any] | None = None, *, active: bool = True, **standard: Any
    ) -> str:
        """A random opaque token; introspection answers with these claims (and ``active``)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._opaque[token] = _Opaque(self.claims(claims, **standard), active)
        return token

    def revoke(self, token: str) -> None:
        """Introspection answers ``{"active": false}`` for ``token`` from now on."""
        with self._lock:
            self._opaque[token].active = False

    def introspect(self, token: str) -> dict[str, Any]:
        with self._lock:
            entry = self._opaque.get(token)
        if entry is None or not entry.active:
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **entry.claims}

    # -- HTTP --------------------------------------------------------------------------------

    def _count(self, what: str) -> None:
        with self._counters.lock:
            setattr(self._counters, what, getattr(self._counters, what) + 1)

    def _basic_ok(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.client_id) and hmac.compare_digest(
            password, self.client_secret
        )


def _handler_for(issuer: OIDCIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read counters, not logs."""

        def _json(self, status: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/.well-known/openid-configuration":
                issuer._count("discovery")
                self._json(200, issuer.discovery_document())
            elif path == "/jwks":
                issuer._count("jwks")
                wanted = issuer.jwks_bearer
                if wanted is not None and self.headers.get("Authorization") != f"Bearer {wanted}":
                    self._json(401, {"error": "unauthorized"})
                    return
                self._json(200, issuer.jwks())
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            if self.path.split("?", 1)[0] != "/introspect":
                self._json(404, {"error": "not_found"})
                return
            issuer._count("introspection")
            if not issuer._basic_ok(self.headers.get("Authorization")):
                self._json(401, {"error": "invalid_client"})
                return
            form = parse_qs(body)
            self._json(200, issuer.introspect((form.get("token") or [""])[0]))

    return Handler
