"""Network isolation for Docker-API engines: the policy, the sidecars' configs and their image.

Pure Python (no Docker SDK), so what a profile turns into can be tested without an engine;
:mod:`toolhive_runtime_docker.sidecars` creates the containers.

The shape (see ``docs/network-isolation.md``): the MCP server's container has **no network
interface but loopback** — it joins the network namespace of the ``NAME-dns`` sidecar, which is
created with network mode ``none``. Inside that namespace:

* dnsmasq on ``127.0.0.1:53`` answers only the allowed names (resolved on the host, with the host's
  own resolver, so ``/etc/hosts`` names work; names under a ``.domain`` entry are forwarded over a
  unix socket to the egress sidecar's resolver) and NXDOMAIN for everything else;
* ``127.0.0.1:3128`` (``HTTP_PROXY``/``HTTPS_PROXY``) is forwarded over a unix socket, in a volume
  shared by the two sidecars, to squid in the ``NAME-egress`` sidecar;
* for HTTP transports, the ingress unix socket is forwarded to the server's port.

``NAME-egress`` sits on the engine's ordinary bridge network. squid there enforces ``allow_host``
(exact names, ``.domain`` = the domain and its subdomains, IP literals/CIDRs) and ``allow_port``
(including ``CONNECT``), refuses loopback, the host's own addresses and the engine's gateway
(unless ``allow_docker_gateway``) and private/link-local ranges unless an allowed name was
resolved to them on the host. For HTTP transports it also listens on the port published on the
host's ``127.0.0.1`` and forwards it to the ingress socket.

Why not an ``internal`` network (ToolHive's choice): measured here, a container on an internal
network reaches the host — Docker 20.10 gives it a default route (the host's 172.17.0.1 and its
public address answer), rootful Podman its gateway address. A namespace with only loopback
reaches nothing, whatever the engine does with bridges.
"""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
import re
import socket
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from toolhive.contracts import PermissionProfileError
from toolhive.contracts.runtime import DeployRequest, PermissionProfile

#: Label on every sidecar (ToolHive's name): ``thv list`` and ``list_workloads`` skip them.
LABEL_AUXILIARY = "toolhive-auxiliary-workload"
#: Label naming the workload a sidecar or volume belongs to.
LABEL_ISOLATION_OF = "toolhive-isolation-of"
#: Label on the MCP container: what the egress proxy allows, for ``docker inspect`` readers.
LABEL_EGRESS_HOSTS = "toolhive-egress-allow-hosts"
LABEL_EGRESS_PORTS = "toolhive-egress-allow-ports"

PROXY_PORT = 3128
DNS_PORT = 53
#: UDP port inside the server's namespace where forwarded DNS queries enter the unix socket.
DNS_FORWARD_PORT = 5353
#: Port of the ingress listener inside the egress sidecar (published on the host's 127.0.0.1).
INGRESS_PORT = 8080
SOCKET_DIR = "/run/thv-net"
SCRIPTS_DIR = "/usr/local/lib/toolhive-netproxy"
#: Ports taken by the forwarders inside the server's namespace.
RESERVED_PORTS = (DNS_PORT, PROXY_PORT)
#: Debian's squid runs as this user (uid 13) in the egress sidecar.
SQUID_USER = "proxy"

DEFAULT_BASE_IMAGE = "debian:bookworm-slim"
IMAGE_REPO = "toolhivelocal/netproxy"
LABEL_RECIPE = "toolhive-netproxy-recipe"
_RECIPE_FILES = ("Containerfile", "outside.sh", "inside.sh")

#: Names that reach the host from a container (Docker Desktop, Docker's host-gateway, Podman).
GATEWAY_NAMES = ("host.docker.internal", "gateway.docker.internal", "host.containers.internal")
#: Never reachable: squid's own loopback, "this host", and the unspecified address.
LOOPBACK_NETS = ("127.0.0.0/8", "0.0.0.0/8", "::1/128", "::/128")
#: Refused unless an allowed name resolved to them on the host (or an allowed entry is an IP/CIDR):
#: RFC 1918, CGNAT, link-local (cloud metadata at 169.254.169.254), ULA, multicast, reserved.
PRIVATE_NETS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)

_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*$")


@dataclass(frozen=True)
class EgressPolicy:
    """A profile's outbound rules, validated and split by kind."""

    #: Exact host names (lower case, no trailing dot).
    hosts: tuple[str, ...] = ()
    #: ``.domain`` entries without the dot: the domain and all its subdomains.
    domains: tuple[str, ...] = ()
    #: IP addresses and networks given literally in ``allow_host``.
    networks: tuple[str, ...] = ()
    #: Allowed destination ports; empty = any port (of an allowed host).
    ports: tuple[int, ...] = ()
    allow_gateway: bool = False

    @property
    def hosts_label(self) -> str:
        return ",".join([*self.hosts, *(f".{d}" for d in self.domains), *self.networks]) or "*"

    @property
    def ports_label(self) -> str:
        return ",".join(str(p) for p in self.ports) or "*"


@dataclass(frozen=True)
class Resolved:
    """What the host side knows when the sidecars are configured."""

    #: Allowed exact names → addresses, from the host's resolver (``getaddrinfo``).
    pinned: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: The host's own addresses (every local interface) and the engine's gateway.
    host_addresses: tuple[str, ...] = ()
    gateway: str = ""


def profile_label(profile: PermissionProfile) -> str:
    return repr(profile.name) if profile.name else "(inline)"


def wants_isolation(request: DeployRequest) -> bool:
    """Isolation applies to a bridge-networked server whose profile restricts outbound traffic."""
    profile = request.permission_profile
    mode = profile.network.mode if profile.network else ""
    return (
        request.isolate_network
        and mode in ("", "bridge")
        and profile.network_enabled
        and not profile.network_unrestricted
    )


def policy(request: DeployRequest) -> EgressPolicy:
    """The request's egress policy; :class:`PermissionProfileError` for an entry squid could
    not take literally (nothing is guessed: ``*.x`` is refused with the ``.x`` spelling)."""
    profile = request.permission_profile
    out = profile.network.outbound if profile.network else None
    hosts: list[str] = []
    domains: list[str] = []
    networks: list[str] = []
    for raw in out.allow_host if out else []:
        entry = raw.strip().lower().rstrip(".")
        try:
            net = ipaddress.ip_network(entry.strip("[]"), strict=False)
        except ValueError:
            pass
        else:
            networks.append(str(net.network_address) if net.num_addresses == 1 else str(net))
            continue
        name = entry.removeprefix(".")
        if entry.startswith("*."):
            msg = (
                f"permission profile {profile_label(profile)}: allow_host {raw!r}: write "
                f"{entry[1:]!r} for the domain and all its subdomains"
            )
            raise PermissionProfileError(msg)
        if not name or len(name) > 253 or not _HOSTNAME.match(name):
            msg = (
                f"permission profile {profile_label(profile)}: allow_host {raw!r} is not a host "
                "name, '.domain' (the domain and its subdomains), IP address or network"
            )
            raise PermissionProfileError(msg)
        (domains if entry.startswith(".") else hosts).append(name)
    ports: list[int] = []
    for port in out.allow_port if out else []:
        if not 0 < port < 65536:
            msg = f"permission profile {profile_label(profile)}: allow_port {port} is not 1-65535"
            raise PermissionProfileError(msg)
        ports.append(port)
    # An exact name already covered by a .domain entry is dropped (squid warns about overlaps).
    covered = [h for h in hosts if not any(h == d or h.endswith("." + d) for d in domains)]
    domains = [d for d in domains if not any(d != o and d.endswith("." + o) for o in domains)]
    return EgressPolicy(
        hosts=tuple(dict.fromkeys(covered)),
        domains=tuple(dict.fromkeys(domains)),
        networks=tuple(dict.fromkeys(networks)),
        ports=tuple(dict.fromkeys(ports)),
        allow_gateway=request.allow_docker_gateway,
    )


def check(request: DeployRequest) -> None:
    """Refuse an isolated request the sidecars cannot serve; no side effects."""
    policy(request)
    if not request.stdio and request.target_port in RESERVED_PORTS:
        msg = (
            f"with network isolation, port {request.target_port} inside the server's namespace is "
            f"taken by the {'DNS server' if request.target_port == DNS_PORT else 'egress proxy'}; "
            "let the server listen on another port (--target-port)"
        )
        raise PermissionProfileError(msg)


# -- host-side facts --------------------------------------------------------------------------


def resolve_pinned(names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Each name's IPv4 addresses from the host's own resolver (``/etc/hosts`` included); a
    name that does not resolve here is left to the egress proxy's DNS. For a ``.domain`` entry
    the domain itself is pinned; its subdomains are resolved by the egress proxy (the engine's
    DNS, which forwards to the host's configured servers), since they cannot be listed."""
    pinned: dict[str, tuple[str, ...]] = {}
    for name in names:
        try:
            infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
        if addresses:
            pinned[name] = addresses
    return pinned


def host_addresses(proc: Path = Path("/proc/net")) -> tuple[str, ...]:
    """Every local address of this host (Linux: the kernel's local routes and IPv6 addresses);
    empty where ``/proc`` does not say (the engine's gateway is added separately)."""
    found: list[str] = []
    try:
        lines = (proc / "fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    for prev, line in itertools.pairwise(lines):
        if "/32 host LOCAL" in line:
            address = prev.strip().removeprefix("|-- ").strip()
            found.append(address)
    try:
        inet6 = (proc / "if_inet6").read_text().splitlines()
    except OSError:
        inet6 = []
    for row in inet6:
        hexaddr = row.split()[0] if row.split() else ""
        if len(hexaddr) == 32:
            found.append(str(ipaddress.IPv6Address(bytes.fromhex(hexaddr))))
    valid = []
    for address in found:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        if not ip.is_loopback:
            valid.append(str(ip))
    return tuple(dict.fromkeys(valid))


# -- configs ----------------------------------------------------------------------------------


def squid_conf(name: str, egress: EgressPolicy, facts: Resolved) -> str:
    """squid.conf of ``NAME-egress``. Rules are first-match-wins, so every deny precedes the
    allow; the last line refuses what no rule allowed."""
    pinned_ips = sorted({ip for ips in facts.pinned.values() for ip in ips})
    host_ips = sorted(set(facts.host_addresses) | ({facts.gateway} if facts.gateway else set()))
    lines = [
        f"# Egress proxy of ToolHive workload {name} (generated)",
        f"http_port 127.0.0.1:{PROXY_PORT}",
        f"visible_hostname {name}-egress",
        "pid_filename none",
        "access_log stdio:/dev/stdout squid",
        "cache_log stdio:/dev/stderr",
        "cache deny all",
        "cache_mem 0 MB",
        "maximum_object_size 0 KB",
        "max_filedescriptors 1024",
        "pinger_enable off",
        "coredump_dir /tmp",
        "shutdown_lifetime 1 seconds",
        # Names pinned on the host come from /etc/hosts (extra hosts of this container).
        "hosts_file /etc/hosts",
        "forwarded_for delete",
        "via off",
        "",
        f"acl to_loopback dst {' '.join(LOOPBACK_NETS)}",
        f"acl gateway_names dstdomain -n {' '.join(GATEWAY_NAMES)}",
    ]
    if host_ips:
        lines.append(f"acl to_host dst {' '.join(host_ips)}")
    if facts.gateway:
        lines.append(f"acl gateway_ip dst {facts.gateway}")
    lines.append(f"acl to_private dst {' '.join(PRIVATE_NETS)}")
    explicit = [*pinned_ips, *egress.networks]
    if explicit:
        lines.append(f"acl explicitly_allowed dst {' '.join(explicit)}")
    names = [*egress.hosts, *(f".{d}" for d in egress.domains)]
    if names:
        lines.append(f"acl allowed_names dstdomain -n {' '.join(names)}")
    if egress.networks:
        lines.append(f"acl allowed_nets dst {' '.join(egress.networks)}")
    if egress.ports:
        lines.append(f"acl allowed_ports port {' '.join(str(p) for p in egress.ports)}")
    lines += ["", "http_access deny to_loopback"]
    if egress.allow_gateway:
        lines.append("# --allow-docker-gateway: the host, on any port")
        lines.append("http_access allow gateway_names")
        if facts.gateway:
            lines.append("http_access allow gateway_ip")
    else:
        lines.append("http_access deny gateway_names")
    if host_ips:
        lines.append("http_access deny to_host")
    lines.append(
        "http_access deny to_private !explicitly_allowed"
        if explicit
        else "http_access deny to_private"
    )
    port_rule = " allowed_ports" if egress.ports else ""
    if names:
        lines.append(f"http_access allow allowed_names{port_rule}")
    if egress.networks:
        lines.append(f"http_access allow allowed_nets{port_rule}")
    if not names and not egress.networks and egress.ports:
        lines.append("http_access allow allowed_ports")
    lines.append("http_access deny all")
    return "\n".join(lines) + "\n"


def forwarded_names(egress: EgressPolicy, facts: Resolved) -> tuple[str, ...]:
    """Names the inside DNS forwards to the host's resolvers (through the egress sidecar): the
    ``.domain`` entries (their subdomains cannot be pinned) and exact names the host could not
    resolve."""
    return (*egress.domains, *(h for h in egress.hosts if h not in facts.pinned))


def dnsmasq_conf(facts: Resolved, forward: tuple[str, ...] = ()) -> str:
    """dnsmasq.conf of ``NAME-dns``: the pinned names; queries under ``forward`` sent to the
    egress sidecar's resolver over the volume's ``dns.sock``; NXDOMAIN for everything else."""
    lines = [
        "# DNS of an isolated ToolHive workload (generated): allowed names only",
        "no-resolv",
        "no-hosts",
        "listen-address=127.0.0.1",
        "bind-interfaces",
        "log-facility=-",
    ]
    for name, ips in sorted(facts.pinned.items()):
        lines.append(f"host-record={name},{','.join(ips)}")
    for name in forward:
        lines.append(f"server=/{name}/127.0.0.1#{DNS_FORWARD_PORT}")
    lines.append("address=/#/")
    return "\n".join(lines) + "\n"


def proxy_env() -> dict[str, str]:
    url = f"http://127.0.0.1:{PROXY_PORT}"
    no_proxy = "localhost,127.0.0.1,::1"
    return {
        "HTTP_PROXY": url,
        "HTTPS_PROXY": url,
        "http_proxy": url,
        "https_proxy": url,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


# -- names ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SidecarNames:
    egress: str
    dns: str
    volume: str

    @classmethod
    def of(cls, name: str) -> SidecarNames:
        return cls(egress=f"{name}-egress", dns=f"{name}-dns", volume=f"toolhive-{name}-net")


# -- the image --------------------------------------------------------------------------------


def recipe_files() -> dict[str, bytes]:
    """The build context: the Containerfile and the two entry scripts (package data)."""
    root = resources.files("toolhive_runtime_docker") / "netproxy"
    return {name: (root / name).read_bytes() for name in _RECIPE_FILES}


def image_tag(base: str) -> str:
    """``toolhivelocal/netproxy:<hash>`` of the recipe and base: a new tag when either changes."""
    digest = hashlib.sha256(base.encode())
    for name, data in sorted(recipe_files().items()):
        digest.update(name.encode() + b"\0" + data)
    return f"{IMAGE_REPO}:{digest.hexdigest()[:16]}"
