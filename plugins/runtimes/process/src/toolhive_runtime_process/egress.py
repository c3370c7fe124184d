"""The host side of an isolated sandbox's network: an allow-list egress proxy and an ingress relay.

An isolated sandbox has its own network namespace with nothing but loopback. Its only way out is
this proxy, listening on a unix socket that is bind-mounted into the sandbox (a forwarder inside,
:mod:`.netns_relay`, turns it into ``127.0.0.1:<port>`` for ``HTTP_PROXY``/``HTTPS_PROXY``).

The proxy speaks HTTP ``CONNECT host:port`` (HTTPS and any other TCP protocol) and absolute-URI
requests (``GET http://host:port/path``, plain HTTP). A destination is allowed as Squid does for
ToolHive's egress sidecar (``pkg/container/docker/squid.go``): every ``allow_port`` rule and
every ``allow_host`` rule that is given must match; with neither given nothing is allowed.
``allow_host`` entries are exact names, ``.example.com`` for the domain and its subdomains, or IP
addresses/networks (which a request must name literally: ``http://10.0.0.5/``). Allowed names are resolved here, with the host's own resolver
(``/etc/hosts`` included); the sandbox has no resolver of its own.

Whatever an allowed name resolves to, addresses of this host itself are refused — loopback,
unspecified, link-local (cloud metadata), multicast, and every address on a local interface
(which includes container engines' bridge gateways) — unless ``allow_host`` lists that address
(or a network holding it) explicitly. The connection goes to the address that was checked, so a second lookup cannot
swap it.

The ingress relay (HTTP transports) listens on the host's ``127.0.0.1:<target port>`` for the
ToolHive proxy and relays each connection to a unix socket that the forwarder inside the sandbox
serves, which connects to the server on the sandbox's own loopback.

Run as ``python -I egress.py --config FILE`` by the process runtime; it prints ``ready`` once it
listens, then reads the sandbox's monitor PID from stdin and exits when that process ends, when
stdin closes (the supervisor is gone) or on SIGTERM. Stdlib only: it starts with every sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import json
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

_HEAD_LIMIT = 64 * 1024
_HEAD_TIMEOUT = 30.0
_CONNECT_TIMEOUT = 15.0
_CHUNK = 65536

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Denied(Exception):
    """A destination the policy refuses; the message says why (sent to the client and logged)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _norm_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_host(entry: str) -> str | IPNetwork:
    """One ``allow_host`` entry: a name, ``.domain``, or an IP address/network; ``ValueError``
    (with the reason) for anything else, such as ``*.domain``."""
    text = _norm_host(entry)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    if text.startswith("*."):
        msg = f"allow_host {entry!r}: write {text[1:]!r} for the domain and all its subdomains"
        raise ValueError(msg)
    if not _HOSTNAME.match(text.removeprefix(".")):
        msg = (
            f"allow_host {entry!r} is not a host name, '.domain' (the domain and its "
            "subdomains), IP address or network"
        )
        raise ValueError(msg)
    return text


@dataclass(frozen=True)
class Policy:
    """``allow_host`` / ``allow_port`` of a permission profile's outbound rules."""

    allow_host: tuple[str, ...] = ()
    allow_port: tuple[int, ...] = ()
    networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_lists(cls, hosts: Iterable[str], ports: Iterable[int]) -> Policy:
        """The policy of a profile's lists; ``ValueError`` for an entry it cannot take."""
        names: list[str] = []
        networks: list[IPNetwork] = []
        for entry in hosts:
            if not entry.strip():
                continue
            parsed = parse_allow_host(entry)
            if isinstance(parsed, str):
                names.append(parsed)
            else:
                networks.append(parsed)
        port_list = sorted(set(ports))
        for port in port_list:
            if not 0 < port < 65536:
                msg = f"allow_port {port} is not 1-65535"
                raise ValueError(msg)
        return cls(
            allow_host=tuple(dict.fromkeys(names)),
            allow_port=tuple(port_list),
            networks=tuple(networks),
        )

    def listed(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)

    def host_allowed(self, host: str) -> bool:
        host = _norm_host(host)
        ip = _ip(host)
        if ip is not None:
            return self.listed(ip)
        for entry in self.allow_host:
            if entry.startswith("."):
                if host == entry[1:] or host.endswith(entry):
                    return True
            elif host == entry:
                return True
        return False

    def check(self, host: str, port: int) -> None:
        """Raise :class:`Denied` unless ``host:port`` passes the rules (before any lookup)."""
        restricts_hosts = bool(self.allow_host or self.networks)
        if not restricts_hosts and not self.allow_port:
            raise Denied(403, "no outbound destination is allowed")
        if self.allow_port and port not in self.allow_port:
            raise Denied(403, f"port {port} is not in allow_port")
        if restricts_hosts and not self.host_allowed(host):
            raise Denied(403, f"host {_norm_host(host)!r} is not in allow_host")

    def address_allowed(self, address: IPAddress, local: frozenset[IPAddress]) -> bool:
        """Whether a resolved address may be dialled: never this host unless listed as an IP."""
        if self.listed(address):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return not (
            address.is_loopback
            or address.is_unspecified
            or address.is_link_local
            or address.is_multicast
            or address in local
        )


def local_addresses() -> frozenset[IPAddress]:
    """Every address on this host's interfaces (engine bridges included), read from /proc."""
    found: set[IPAddress] = set()
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for previous, line in itertools.pairwise(lines):
            if "/32 host LOCAL" in line:
                ip = _ip(previous.strip().split()[-1])
                if ip is not None:
                    found.add(ip)
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            ip = _ip(":".join(raw[i : i + 4] for i in range(0, 32, 4)))
            if ip is not None:
                found.add(ip)
    return frozenset(found)


# ------------------------------------------------------------------------------ the proxy


class EgressProxy:
    """Serves the allow-list proxy on a unix socket; logs each refusal to stderr."""

    def __init__(self, policy: Policy, *, log_prefix: str = "[thv-egress]") -> None:
        self.policy = policy
        self._prefix = log_prefix

    def log(self, message: str) -> None:
        print(f"{self._prefix} {message}", file=sys.stderr, flush=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            await _close(writer)
            return
        try:
            await self._serve(head, reader, writer)
        except Denied as exc:
            self.log(f"refused: {exc}")
            await _reply(writer, exc.status, str(exc))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            await _close(writer)

    async def _serve(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        request_line, _, rest = head.partition(b"\r\n")
        parts = request_line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise Denied(400, "not an HTTP proxy request")
        method, target, version = parts
        if method.upper() == "CONNECT":
            host, port = _split_authority(target, default_port=None)
            upstream = await self._dial(host, port, f"CONNECT {target}")
            up_reader, up_writer = upstream
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await _splice(reader, writer, up_reader, up_writer)
            return
        url = urlsplit(target)
        if url.scheme.lower() != "http" or not url.hostname:
            raise Denied(400, f"{method} {target}: only CONNECT or absolute http:// URLs")
        try:
            port = url.port or 80
        except ValueError:
            raise Denied(400, f"bad port in {target!r}") from None
        up_reader, up_writer = await self._dial(url.hostname, port, f"{method} {target}")
        path = url.path or "/"
        if url.query:
            path += f"?{url.query}"
        headers = [
            line
            for line in rest.split(b"\r\n")
            if line
            and not line.lower().startswith((b"proxy-connection:", b"proxy-authorization:"))
            and not line.lower().startswith(b"connection:")
        ]
        # One request per upstream connection: the next request may name another host.
        out = f"{method} {path} {version}\r\n".encode("latin-1")
        out += b"".join(h + b"\r\n" for h in headers) + b"Connection: close\r\n\r\n"
        up_writer.write(out)
        await _splice(reader, writer, up_reader, up_writer)

    async def _dial(
        self, host: str, port: int | None, what: str
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if port is None or not 0 < port < 65536:
            raise Denied(400, f"{what}: a port is required")
        try:
            self.policy.check(host, port)
        except Denied as exc:
            raise Denied(exc.status, f"{what}: {exc}") from None
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                _norm_host(host), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise Denied(502, f"{what}: cannot resolve {host!r}: {exc}") from None
        local = local_addresses()
        candidates = []
        for info in infos:
            ip = _ip(str(info[4][0]))
            if ip is not None and self.policy.address_allowed(ip, local):
                candidates.append(str(ip))
        if not candidates:
            raise Denied(403, f"{what}: {host!r} resolves to this host, which is never allowed")
        last: OSError | None = None
        for address in dict.fromkeys(candidates):
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(address, port), _CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError) as exc:
                last = OSError(str(exc) or type(exc).__name__)
        raise Denied(502, f"{what}: cannot connect: {last}")


def _split_authority(text: str, default_port: int | None) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, tail = text[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
    if not port_text:
        return host, default_port
    if not port_text.isdigit():
        raise Denied(400, f"bad port in {text!r}")
    return host, int(port_text)


async def _reply(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    phrase = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}.get(status, "Error")
    body = f"ToolHive egress proxy: {reason}\n".encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with contextlib.suppress(OSError):
        writer.write(head + body)
        await writer.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        writer.close()
        await writer.wait_closed()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: asyncio.StreamWriter
) -> None:
    """Copy until EOF (then half-close); on a reset, abort both sides so neither waits forever."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.transport.abort()
        source.transport.abort()


async def _splice(
    a_reader: asyncio.StreamReader,
    a_writer: asyncio.StreamWriter,
    b_reader: asyncio.StreamReader,
    b_writer: asyncio.StreamWriter,
) -> None:
    try:
        await asyncio.gather(
            _pump(a_reader, b_writer, a_writer), _pump(b_reader, a_writer, b_writer)
        )
    finally:
        await _close(b_writer)


# ------------------------------------------------------------------------------ process


async def _relay_to_unix(
    path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(path)
    except OSError:
        await _close(writer)  # the server inside is not listening yet
        return
    try:
        await _splice(reader, writer, up_reader, up_writer)
    finally:
        await _close(writer)


def _watch(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Stop when stdin gives the monitor's PID and that process ends, or when stdin closes."""
    buffer = b""

    def readable() -> None:
        nonlocal buffer
        try:
            chunk = os.read(0, 64)
        except OSError:
            chunk = b""
        if not chunk:
            loop.remove_reader(0)
            stop.set()
            return
        buffer += chunk
        line, sep, buffer = buffer.partition(b"\n")
        if not sep:
            buffer = line
            return
        try:
            pidfd = os.pidfd_open(int(line))
        except (ValueError, OSError):
            stop.set()  # the sandbox is already gone
            return
        loop.add_reader(pidfd, stop.set)

    loop.add_reader(0, readable)


async def serve(config: dict[str, object]) -> None:
    policy = Policy.from_lists(
        [str(h) for h in _seq(config.get("allow_host"))],
        [int(str(p)) for p in _seq(config.get("allow_port"))],
    )
    proxy = EgressProxy(policy)
    egress_socket = str(config["egress_socket"])
    with contextlib.suppress(FileNotFoundError):
        os.unlink(egress_socket)
    servers = [await asyncio.start_unix_server(proxy.handle, egress_socket, limit=_HEAD_LIMIT)]
    ingress_socket = config.get("ingress_socket")
    ingress_port = config.get("ingress_port")
    if ingress_socket and ingress_port:
        path = str(ingress_socket)

        async def ingress(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _relay_to_unix(path, reader, writer)

        servers.append(await asyncio.start_server(ingress, "127.0.0.1", int(str(ingress_port))))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    _watch(loop, stop)
    try:
        await stop.wait()
    finally:
        for server in servers:
            server.close()
        # The sandbox is gone (or going): its socket directory has no further use.
        directory = Path(egress_socket).parent
        if directory.name.startswith("thv-net-"):
            shutil.rmtree(directory, ignore_errors=True)


def _seq(value: object) -> Sequence[object]:
    return value if isinstance(value, list | tuple) else ()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", required=True, help="JSON file with the policy and sockets")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        print(f"[thv-egress] cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
