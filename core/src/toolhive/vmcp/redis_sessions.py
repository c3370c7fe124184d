"""The gateway's sessions in Redis (``sessionStorage: {provider: redis}``), as ToolHive's vMCP.

A tiny RESP2 client (AUTH, SELECT, PING, SET … EX, GET, EXPIRE, DEL over one connection) rather
than the ``redis`` package: the gateway needs six commands, core stays free of another dependency
and nothing is imported unless a config asks for Redis. Keys are ``keyPrefix`` (default
``thv:vmcp:session:``, Go's) + the session id; values are JSON; the password comes from
``THV_SESSION_REDIS_PASSWORD`` (what the operator sets from ``passwordRef``), never the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from typing import TYPE_CHECKING, Any, Final

from toolhive.transports.stdio.session_store import SessionStoreError

if TYPE_CHECKING:
    from toolhive.vmcp.config import SessionStorageConfig

PASSWORD_ENV: Final = "THV_SESSION_REDIS_PASSWORD"
DEFAULT_KEY_PREFIX: Final = "thv:vmcp:session:"
#: Longest a command may take before the store counts as unreachable.
COMMAND_TIMEOUT: Final = 5.0


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; a ``redis://`` prefix is tolerated) → (host, port)."""
    text = address.removeprefix("redis://").rstrip("/")
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        msg = f"sessionStorage.address {address!r}: expected host:port (such as redis:6379)"
        raise SessionStoreError(msg)
    return host.strip("[]"), int(port)


def _command(*parts: bytes | str | int) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RedisConnection:
    """One RESP2 connection; commands run one at a time and reconnect once when it broke."""

    def __init__(self, host: str, port: int, *, password: str = "", db: int = 0) -> None:
        self.host, self.port = host, port
        self._password = password
        self._db = db
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def where(self) -> str:
        return f"redis at {self.host}:{self.port}"

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        if self._password:
            await self._exchange(_command("AUTH", self._password))
        if self._db:
            await self._exchange(_command("SELECT", self._db))

    async def _exchange(self, line: bytes) -> Any:
        assert self._reader is not None and self._writer is not None
        self._writer.write(line)
        await self._writer.drain()
        return await self._read()

    async def _read(self) -> Any:
        assert self._reader is not None
        header = await self._reader.readuntil(b"\r\n")
        kind, rest = header[:1], header[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            # The server's own words (WRONGPASS, NOAUTH, …): they say what to fix.
            raise SessionStoreError(f"{self.where}: {rest.decode(errors='replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = await self._reader.readexactly(size + 2)
            return data[:-2]
        if kind == b"*":
            return [await self._read() for _ in range(max(0, int(rest)))]
        raise SessionStoreError(f"{self.where}: unexpected reply {header[:40]!r}")

    async def call(self, *parts: bytes | str | int) -> Any:
        line = _command(*parts)
        async with self._lock:
            for attempt in (1, 2):
                try:
                    async with asyncio.timeout(COMMAND_TIMEOUT):
                        if self._writer is None:
                            await self._connect()
                        return await self._exchange(line)
                except SessionStoreError:
                    self._drop()
                    raise
                except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    self._drop()
                    if attempt == 2:
                        why = "timed out" if isinstance(exc, TimeoutError) else str(exc)
                        raise SessionStoreError(f"{self.where} is unreachable: {why}") from exc
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def aclose(self) -> None:
        writer = self._writer
        self._drop()
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class RedisSessionStore:
    """:class:`~toolhive.transports.stdio.session_store.SessionStore` in Redis."""

    def __init__(self, config: SessionStorageConfig, ttl: float) -> None:
        host, port = split_address(config.address or "")
        self.ttl = ttl
        self._prefix = config.key_prefix or DEFAULT_KEY_PREFIX
        self._redis = RedisConnection(
            host, port, password=os.environ.get(PASSWORD_ENV, ""), db=config.db
        )
        self._seconds = max(1, int(ttl + 0.5))

    async def start(self) -> None:
        try:
            await self._redis.call("PING")
        except SessionStoreError as exc:
            msg = (
                f"sessionStorage: {exc}. Start Redis there, fix sessionStorage.address/db, or "
                f"set {PASSWORD_ENV} (or remove sessionStorage to keep sessions in memory)"
            )
            raise SessionStoreError(msg) from exc

    def _key(self, sid: str) -> str:
        return self._prefix + sid

    async def save(self, sid: str, record: dict[str, Any]) -> None:
        data = json.dumps(record, separators=(",", ":"))
        await self._redis.call("SET", self._key(sid), data, "EX", self._seconds)

    async def load(self, sid: str) -> dict[str, Any] | None:
        data = await self._redis.call("GET", self._key(sid))
        if data is None:
            return None
        try:
            record = json.loads(data)
        except ValueError:
            return None  # not ours (a shared prefix): treat as unknown
        return record if type(record) is dict else None

    async def touch(self, sid: str) -> None:
        await self._redis.call("EXPIRE", self._key(sid), self._seconds)

    async def delete(self, sid: str) -> None:
        await self._redis.call("DEL", self._key(sid))

    async def aclose(self) -> None:
        await self._redis.aclose()


def session_store(config: SessionStorageConfig | None, ttl: float) -> RedisSessionStore | None:
    """The store a vMCP config asks for (``None``: sessions stay in this process's memory)."""
    if config is None or config.provider != "redis":
        return None
    return RedisSessionStore(config, ttl)
