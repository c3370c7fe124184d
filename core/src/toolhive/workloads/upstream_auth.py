"""The credentials a remote workload's proxy sends upstream, kept valid for as long as it runs.

The supervisor builds them with :func:`upstream_auth_for` from what the sign-in left in the RunConfig
(:mod:`toolhive.workloads.remote_login`) and hands them to the reverse proxy
(:class:`~toolhive.transports.base.UpstreamAuth`). Two kinds, as in ToolHive:

- **Static bearer token** (``bearer_token`` = a secret reference, or ``bearer_token_file``): read
  once. An upstream 401 marks the workload ``unauthenticated`` with ToolHive's message; requests
  keep being forwarded (the server may accept the token again).
- **OAuth** (``cached_refresh_token_ref``): a :class:`~toolhive.oauth.TokenSession` over the secrets
  provider (the refresh token and ``<ref>_AT``, the access token with its expiry). The access
  token is served from memory; a task refreshes it :data:`~toolhive.oauth.session.LEEWAY` seconds
  before it expires (at most half its lifetime), for as long as the workload runs — ToolHive's
  "tokens die after an hour" bugs (#3078, #3538, #6556) are what this avoids. A rotated refresh
  token is stored at once (by the session) and the new expiry recorded in the RunConfig's
  ``cached_token_expiry`` when the workload's lock is free. Failures, as ToolHive's
  ``MonitoredTokenSource``:

  - refused (``invalid_grant`` and the other RFC 6749 error codes: revoked, expired, client gone)
    → ``unauthenticated``, the status context saying ``sign in again: thv restart <name>``;
    requests are answered 401 with that message, no more refreshes;
  - transient (network, 5xx, 429, a non-OAuth answer) → a short exponential retry
    (``TOOLHIVE_TOKEN_REFRESH_INITIAL_RETRY_INTERVAL`` 10s, ``…_MAX_RETRY_INTERVAL`` 2m,
    ``…_MAX_TRIES`` 5, ``…_MAX_ELAPSED_TIME`` 5m) without a status change, then ``auth_retrying``,
    tried every ``TOOLHIVE_TOKEN_AUTH_RETRYING_TICK_INTERVAL`` (10m) until it works (→
    ``running``) or ``TOOLHIVE_TOKEN_AUTH_RETRYING_MAX_ELAPSED`` (24h) has passed (→
    ``unauthenticated``). Meanwhile requests get 503 with ``Retry-After`` once the access token
    has expired;
  - an upstream 401 → one forced refresh and a retry; a freshly refreshed token refused again →
    ``unauthenticated`` (requests keep being forwarded, as in ToolHive).

Statuses go through the supervisor's ``on_status(status, context)`` (status file and workload
event), called on the event loop. Tokens are never logged nor put in a status or error message.
The environment variable ``TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN`` is read by ``thv run`` (into a
secret), never here: a supervisor must not send an ambient token to a server nobody chose it for.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from toolhive.errors import InvalidInputError, NotFoundError, ToolHiveError
from toolhive.models.workload import WorkloadStatus
from toolhive.oauth.errors import DiscoveryError, LoginRequiredError, TokenEndpointError
from toolhive.transports.base import UpstreamAuth, UpstreamAuthError, UpstreamAuthRetrying
from toolhive.userpaths import expand_user
from toolhive.web.durations import parse_duration

if TYPE_CHECKING:
    from toolhive.models.remote import RemoteAuthConfig
    from toolhive.models.runconfig import RunConfig
    from toolhive.oauth.session import TokenSession
    from toolhive.plugins import Hooks
    from toolhive.secrets.selection import Secrets

log = logging.getLogger("toolhive.upstream_auth")
S = WorkloadStatus

#: ``on_status(status, context)``: record a workload status (the supervisor's status file + event).
StatusCallback = Callable[[WorkloadStatus, str], None]

#: ToolHive's status context when a static bearer token is refused (``pkg/runner/runner.go``).
BEARER_REFUSED: Final = (
    "Bearer token authentication failed. Please restart the server with a new token"
)
TICK_ENV: Final = "TOOLHIVE_TOKEN_AUTH_RETRYING_TICK_INTERVAL"
CEILING_ENV: Final = "TOOLHIVE_TOKEN_AUTH_RETRYING_MAX_ELAPSED"
RETRY_INITIAL_ENV: Final = "TOOLHIVE_TOKEN_REFRESH_INITIAL_RETRY_INTERVAL"
RETRY_MAX_INTERVAL_ENV: Final = "TOOLHIVE_TOKEN_REFRESH_MAX_RETRY_INTERVAL"
RETRY_MAX_TRIES_ENV: Final = "TOOLHIVE_TOKEN_REFRESH_MAX_TRIES"
RETRY_MAX_ELAPSED_ENV: Final = "TOOLHIVE_TOKEN_REFRESH_MAX_ELAPSED_TIME"
#: A request leaves with a token that has at least this long to live (at most a quarter of its
#: lifetime), so it does not expire on the way.
USE_MARGIN: Final = 5.0
#: A refresh forced by a 401 less than this long ago that was refused again is a verdict.
FORCED_COOLDOWN: Final = 10.0
#: After a failed refresh on a request's path, later requests fail fast this long.
HOT_COOLDOWN: Final = 5.0
#: ``start()`` waits this long for the first token, so ``thv run`` can report a dead login.
FIRST_TOKEN_WAIT: Final = 15.0
#: The monitor re-reads the wall clock at least this often (a suspended machine's timers lag).
MAX_SLEEP: Final = 60.0


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration`` text: ``10m0s``, ``24h0m0s``, ``1.5s``, ``200ms``."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:g}s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text


@dataclass(frozen=True)
class RetryPolicy:
    """ToolHive's timings for failing refreshes (seconds; see the module docstring)."""

    initial: float = 10.0
    max_interval: float = 120.0
    #: Short retries after the first failure; 0 = no limit (``max_elapsed`` still applies).
    max_tries: int = 5
    max_elapsed: float = 300.0
    tick: float = 600.0
    ceiling: float = 86400.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RetryPolicy:
        """Go durations (``30s``, ``10m``, ``1h30m``) from ToolHive's variables; a bad or
        non-positive value keeps the default, as in ToolHive."""
        default = cls()

        def seconds(name: str, fallback: float) -> float:
            value = parse_duration(environ.get(name, ""), fallback)
            return value if value > 0 else fallback

        tries = environ.get(RETRY_MAX_TRIES_ENV, "").strip()
        return cls(
            initial=seconds(RETRY_INITIAL_ENV, default.initial),
            max_interval=seconds(RETRY_MAX_INTERVAL_ENV, default.max_interval),
            max_tries=int(tries) if tries.isdigit() else default.max_tries,
            max_elapsed=seconds(RETRY_MAX_ELAPSED_ENV, default.max_elapsed),
            tick=seconds(TICK_ENV, default.tick),
            ceiling=seconds(CEILING_ENV, default.ceiling),
        )

    def short_delay(self, attempt: int) -> float:
        """The wait before short retry ``attempt`` (1, 2, …): 1.5 times the last one, capped."""
        return float(min(self.initial * 1.5 ** (attempt - 1), self.max_interval))


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the token endpoint unreachable, a 5xx/429 or a non-OAuth answer (no RFC
    6749 ``error`` code), the provider's metadata unreadable, or something unexpected (logged
    with its traceback). An OAuth error code is the server's verdict on the credentials; a bad
    configuration (another :class:`~toolhive.errors.ToolHiveError`) is not transient either."""
    if isinstance(exc, TokenEndpointError):
        return not exc.error
    if isinstance(exc, DiscoveryError):
        return True
    if isinstance(exc, ToolHiveError):
        return False
    if not isinstance(exc, OSError):
        log.error("unexpected error while refreshing a token", exc_info=exc)
    return True


# --- static bearer token -----------------------------------------------------------------------


class StaticBearer:
    """A fixed ``Authorization: Bearer …``; an upstream 401 marks the workload unauthenticated."""

    def __init__(self, token: str, on_status: StatusCallback) -> None:
        self._value = f"Bearer {token}"
        self._on_status = on_status
        self._reported = False

    def __repr__(self) -> str:
        return "StaticBearer(***)"

    async def authorization(self) -> str:
        return self._value

    async def unauthorized(self, refused: str) -> bool:
        if not self._reported:  # once: every later request would say the same
            self._reported = True
            log.warning("the remote server refused the bearer token (HTTP 401)")
            self._on_status(S.UNAUTHENTICATED, BEARER_REFUSED)
        return False

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


# --- OAuth -------------------------------------------------------------------------------------


class OAuthUpstream:
    """An access token from a stored login, refreshed in the background (module docstring)."""

    def __init__(
        self,
        session: TokenSession,
        *,
        workload: str,
        on_status: StatusCallback,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._session = session
        self._workload = workload
        self._on_status = on_status
        self._policy = policy or RetryPolicy()
        self._lock = asyncio.Lock()  # one token request at a time (TokenSession is not shared)
        self._wake = asyncio.Event()
        self._header: str | None = None
        self._expires: float | None = None  # epoch seconds; None: the token does not expire
        self._usable_until = 0.0
        self._refresh_at = 0.0
        #: Set once a new sign-in is needed: requests get 401 with it, the monitor stops.
        self._dead: str | None = None
        self._refused_reported = False
        self._retrying_since: float | None = None  # monotonic; auth_retrying
        self._retry_error = ""
        self._short_since: float | None = None  # monotonic; short retries under way
        self._short_tries = 0
        self._hot_failed_at = float("-inf")
        self._hot_error = ""
        self._forced_at = float("-inf")
        self._first = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"OAuthUpstream({self._workload!r})"

    @property
    def hint(self) -> str:
        return f"sign in again: thv restart {self._workload}"

    # -- the proxy's side ------------------------------------------------------------------------

    async def authorization(self) -> str:
        header = self._header
        if header is not None and (self._expires is None or time.time() < self._usable_until):
            return header
        async with self._lock:
            header = self._header
            if header is not None and (self._expires is None or time.time() < self._usable_until):
                return header  # refreshed while we waited
            self._raise_if_unusable()
            if time.monotonic() - self._hot_failed_at < HOT_COOLDOWN:
                raise UpstreamAuthRetrying(self._hot_error)
            try:
                return await self._fetch(force=False)
            except Exception as exc:
                if not is_transient(exc):
                    self._fail(exc)
                    raise UpstreamAuthError(self._dead or str(exc)) from None
                self._hot_failed_at = time.monotonic()
                self._hot_error = f"the access token for {self._workload} cannot be refreshed now"
                log.warning("token refresh for %s failed: %s", self._workload, exc)
                self._wake.set()  # the monitor takes over the retries
                raise UpstreamAuthRetrying(self._hot_error) from None

    async def unauthorized(self, refused: str) -> bool:
        async with self._lock:
            if self._header is not None and self._header != refused:
                return True  # a newer token came meanwhile
            if self._dead is not None:
                return False
            if time.monotonic() - self._forced_at < FORCED_COOLDOWN:
                self._report_refused()
                return False
            self._forced_at = time.monotonic()
            log.info("the remote server refused the access token (HTTP 401); refreshing it")
            try:
                await self._fetch(force=True)
            except Exception as exc:
                if not is_transient(exc):
                    self._fail(exc)
                else:
                    log.warning("token refresh for %s failed: %s", self._workload, exc)
                return False
            self._wake.set()
            return True

    def _raise_if_unusable(self) -> None:
        if self._dead is not None:
            raise UpstreamAuthError(self._dead)
        if self._retrying_since is not None:
            raise UpstreamAuthRetrying(
                f"the access token for {self._workload} cannot be refreshed now "
                f"(auth_retrying: {self._retry_error})"
            )

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the refresh task; wait (briefly) for the first token so a dead login shows in
        the status before the workload is reported running."""
        if self._task is None:
            self._task = asyncio.create_task(
                self._monitor(), name=f"token-refresh-{self._workload}"
            )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_TOKEN_WAIT):
                await self._first.wait()

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the refresh task --------------------------------------------------------------------------

    async def _monitor(self) -> None:
        due = 0.0  # wall clock
        while self._dead is None:
            self._wake.clear()
            while (wait := due - time.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(wait, MAX_SLEEP)):
                        await self._wake.wait()
                if self._wake.is_set():
                    break
            if self._dead is not None:
                return
            next_due = await self._tick()
            self._first.set()
            if next_due is None:
                return
            due = next_due

    async def _tick(self) -> float | None:
        """One refresh attempt; the wall-clock time of the next one, ``None`` to stop."""
        async with self._lock:
            try:
                await self._fetch(force=False)
            except Exception as exc:
                if not is_transient(exc):
                    self._fail(exc)
                    return None
                return self._transient(str(exc))
        if self._expires is None:
            log.info("the access token for %s does not expire: no refreshes", self._workload)
            return None
        return max(self._refresh_at, time.time() + 1.0)

    def _transient(self, error: str) -> float | None:
        policy, now = self._policy, time.monotonic()
        if self._retrying_since is None:
            if self._short_since is None:
                self._short_since, self._short_tries = now, 0
            self._short_tries += 1
            tries_left = not policy.max_tries or self._short_tries <= policy.max_tries
            if tries_left and now - self._short_since < policy.max_elapsed:
                delay = policy.short_delay(self._short_tries)
                log.warning(
                    "token refresh for %s failed (%s); retrying in %s",
                    self._workload,
                    error,
                    go_duration(delay),
                )
                return time.time() + delay
            self._retrying_since, self._retry_error = now, error
            context = (
                f"Token refresh failing transiently; retrying every "
                f"{go_duration(policy.tick)}: {error}"
            )
            log.warning("%s: %s", self._workload, context)
            self._on_status(S.AUTH_RETRYING, context)
            return time.time() + policy.tick
        if now - self._retrying_since > policy.ceiling:
            self._dead = (
                f"Token refresh failed transiently for over {go_duration(policy.ceiling)}: "
                f"{error}; {self.hint}"
            )
            self._header = None
            log.error("%s: %s", self._workload, self._dead)
            self._on_status(S.UNAUTHENTICATED, self._dead)
            return None
        self._retry_error = error
        log.warning("token refresh for %s still failing: %s", self._workload, error)
        return time.time() + policy.tick

    # -- tokens --------------------------------------------------------------------------------

    async def _fetch(self, *, force: bool) -> str:
        """Ask the session (off the loop; the caller holds the lock) and keep the answer."""
        session = self._session

        def get() -> tuple[str, datetime | None]:
            token = session.refresh() if force else session.access_token()
            current = session.current
            return token, current.expires_at if current is not None else None

        token, expires_at = await asyncio.to_thread(get)
        now = time.time()
        self._header = header = f"Bearer {token}"
        if expires_at is None:
            self._expires = None
        else:
            self._expires = expires = expires_at.timestamp()
            lifetime = max(expires - now, 0.0)
            self._usable_until = expires - min(USE_MARGIN, lifetime / 4)
            self._refresh_at = expires - min(self._session.leeway, lifetime / 2)
        self._recovered()
        return header

    def _recovered(self) -> None:
        self._short_since = None
        self._hot_failed_at = float("-inf")
        if self._retrying_since is not None:
            self._retrying_since = None
            log.info("token refresh for %s works again: running", self._workload)
            self._on_status(S.RUNNING, "")

    def _fail(self, exc: BaseException) -> None:
        """A new sign-in is needed: say so in the status, refuse requests, stop refreshing."""
        message = str(exc)
        if not isinstance(exc, LoginRequiredError):  # its message already ends with the hint
            message = f"{message}; {self.hint}"
        self._dead = message
        self._header = None
        self._retrying_since = None
        log.error("%s: %s", self._workload, message)
        self._on_status(S.UNAUTHENTICATED, message)
        self._first.set()
        self._wake.set()

    def _report_refused(self) -> None:
        if self._refused_reported:
            return
        self._refused_reported = True
        message = (
            f"the remote server refused a freshly refreshed access token (HTTP 401); {self.hint}"
        )
        log.error("%s: %s", self._workload, message)
        self._on_status(S.UNAUTHENTICATED, message)


# --- building them from the RunConfig ----------------------------------------------------------


def _secret(secrets: Secrets, reference: str, what: str) -> str:
    """The value behind ``NAME`` or ``NAME,target=…``; a missing secret says what to do."""
    from toolhive.contracts.secrets import SecretNotFoundError
    from toolhive.secrets.names import REFERENCE

    match = REFERENCE.match(reference)
    name = match.group(1).strip() if match else reference
    try:
        return secrets.get(name)
    except SecretNotFoundError:
        msg = f"the {what} (secret {name!r}) is not in the {secrets.name} secrets provider"
        raise NotFoundError(msg) from None


def read_secret_file(path: str, what: str) -> str:
    try:
        value = expand_user(path, f"the {what} file").read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"cannot read the {what} file {path}: {exc.strerror or exc}"
        raise InvalidInputError(msg) from None
    if not value:
        raise InvalidInputError(f"the {what} file {path} is empty")
    return value


def client_secret_for(secrets: Secrets, auth: RemoteAuthConfig) -> str | None:
    """The secret of the client a login uses: the configured client's (reference or file),
    else the one registered on the fly; ``None`` for a public client."""
    if auth.client_id:
        if auth.client_secret:
            return _secret(secrets, auth.client_secret, "OAuth client secret")
        if auth.client_secret_file:
            return read_secret_file(auth.client_secret_file, "OAuth client secret")
        return None
    if auth.cached_client_secret_ref:
        return _secret(secrets, auth.cached_client_secret_ref, "OAuth client secret")
    return None


def _bearer_token(hooks: Hooks, auth: RemoteAuthConfig, environ: Mapping[str, str] | None) -> str:
    from toolhive.secrets.names import REFERENCE

    if auth.bearer_token and REFERENCE.match(auth.bearer_token):
        from toolhive.secrets.selection import open_secrets

        secrets = open_secrets(hooks, environ=environ)
        return _secret(secrets, auth.bearer_token, "bearer token").strip()
    if auth.bearer_token:  # a literal from an old RunConfig (ToolHive migrates these)
        log.warning("the RunConfig holds a literal bearer token; run the workload again to move it")
        return auth.bearer_token.strip()
    return read_secret_file(auth.bearer_token_file, "bearer token")


def _oauth_session(
    hooks: Hooks,
    config: RunConfig,
    auth: RemoteAuthConfig,
    environ: Mapping[str, str] | None,
) -> TokenSession:
    """The session the sign-in used (same client, secret and resource), over the secrets store."""
    from toolhive.oauth.discovery import ProviderMetadata
    from toolhive.oauth.flow import ClientSettings
    from toolhive.oauth.resource_metadata import normalize_resource
    from toolhive.oauth.session import SecretsStorage, TokenSession
    from toolhive.secrets.selection import open_secrets

    secrets = open_secrets(hooks, environ=environ)
    client_secret = client_secret_for(secrets, auth)
    metadata = None
    if auth.token_url:  # configured endpoints: no discovery needed to refresh
        metadata = ProviderMetadata(
            issuer=auth.issuer,
            authorization_endpoint=auth.authorize_url,
            token_endpoint=auth.token_url,
        )
    client = ClientSettings(
        client_id=auth.client_id or auth.cached_client_id,
        scopes=tuple(auth.scopes),
        resource=auth.resource or normalize_resource(config.remote_url),
        client_secret=client_secret,
    )
    return TokenSession(
        issuer=auth.issuer,
        client=client,
        storage=SecretsStorage(secrets),
        key=auth.cached_refresh_token_ref,
        login_hint=f"sign in again: thv restart {config.base_name}",
        on_saved=lambda _key, expiry: record_expiry(config.base_name, expiry),
        metadata=metadata,
    )


def upstream_auth_for(
    hooks: Hooks,
    config: RunConfig,
    environ: Mapping[str, str] | None,
    on_status: StatusCallback,
) -> StaticBearer | OAuthUpstream | None:
    """The credentials for a remote workload, or ``None`` when it has none (no bearer token, no
    stored login). Blocking (reads the secrets provider): call it off the event loop. A missing
    secret or file is a :class:`~toolhive.errors.ToolHiveError` (the supervisor fails closed)."""
    auth = config.remote_auth_config
    if not config.is_remote or auth is None:
        return None
    if auth.bearer_token or auth.bearer_token_file:
        return StaticBearer(_bearer_token(hooks, auth, environ), on_status)
    if not auth.cached_refresh_token_ref:
        return None
    env = os.environ if environ is None else environ
    return OAuthUpstream(
        _oauth_session(hooks, config, auth, environ),
        workload=config.base_name,
        on_status=on_status,
        policy=RetryPolicy.from_env(env),
    )


# --- cached_token_expiry in the RunConfig --------------------------------------------------------


@contextlib.contextmanager
def _lock_if_free(base_name: str) -> Iterator[bool]:
    """The workload's lock (:func:`toolhive.workloads.processes.workload_lock`'s file) if nobody
    holds it. Never waited for: ``thv stop`` holds it while it waits for this process to exit."""
    from toolhive.state import paths

    path = paths.state_dir() / "locks" / f"{base_name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def record_expiry(base_name: str, expiry: datetime | None) -> None:
    """Put the access token's expiry in the RunConfig (``cached_token_expiry``), changing nothing
    else: re-read under the workload's lock, skipped when the lock is busy (the next refresh
    records it)."""
    from toolhive.state import store

    stamp = expiry.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if expiry else ""
    with _lock_if_free(base_name) as free:
        if not free:
            log.debug("workload %s is locked: cached_token_expiry not updated", base_name)
            return
        try:
            config = store.load_runconfig(base_name)
        except (NotFoundError, InvalidInputError):
            return
        auth = config.remote_auth_config
        if auth is None or auth.cached_token_expiry == stamp:
            return
        updated = auth.model_copy(update={"cached_token_expiry": stamp})
        store.save_runconfig(config.model_copy(update={"remote_auth_config": updated}))


__all__ = [
    "BEARER_REFUSED",
    "OAuthUpstream",
    "RetryPolicy",
    "StaticBearer",
    "StatusCallback",
    "UpstreamAuth",
    "go_duration",
    "is_transient",
    "record_expiry",
    "upstream_auth_for",
]
