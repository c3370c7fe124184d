"""What a profile turns into for the isolation sidecars: the policy, squid's and dnsmasq's configs,
the host's addresses and the image tag (no engine needed; the engine tests are in
tests/test_network_isolation_containers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolhive.contracts import PermissionProfileError
from toolhive.contracts.runtime import (
    DeployRequest,
    NetworkPermissions,
    OutboundNetwork,
    PermissionProfile,
)
from toolhive_runtime_docker import hardening, isolation


def request(
    allow_host: list[str], allow_port: list[int] | None = None, **kwargs: object
) -> DeployRequest:
    profile = PermissionProfile(
        name="p",
        network=NetworkPermissions(
            outbound=OutboundNetwork(allow_host=allow_host, allow_port=allow_port or [])
        ),
    )
    return DeployRequest.model_validate(
        {"name": "srv", "image": "img", "permission_profile": profile, **kwargs}
    )


FACTS = isolation.Resolved(
    pinned={"api.example.com": ("10.1.2.3",)},
    host_addresses=("192.0.2.2", "fd00::2"),
    gateway="172.17.0.1",
)


def access_rules(conf: str) -> list[str]:
    return [line for line in conf.splitlines() if line.startswith("http_access")]


def test_entries_are_split_into_names_domains_and_networks() -> None:
    policy = isolation.policy(
        request(["API.example.com.", ".GitHub.com", "10.0.0.0/8", "192.0.2.7", "[::1]"], [443])
    )
    assert policy.hosts == ("api.example.com",)
    assert policy.domains == ("github.com",)
    assert policy.networks == ("10.0.0.0/8", "192.0.2.7", "::1")
    assert policy.ports == (443,)
    assert policy.hosts_label == "api.example.com,.github.com,10.0.0.0/8,192.0.2.7,::1"


def test_names_covered_by_a_domain_entry_are_folded_into_it() -> None:
    policy = isolation.policy(request(["api.github.com", ".github.com", ".x.github.com"]))
    assert policy.hosts == ()
    assert policy.domains == ("github.com",)


@pytest.mark.parametrize(
    "entry", ["*.example.com", "exa mple.com", "a.com\nhttp_access allow all", "", "-x.com"]
)
def test_an_entry_squid_could_not_take_literally_is_refused(entry: str) -> None:
    with pytest.raises(PermissionProfileError, match="allow_host"):
        isolation.policy(request([entry]))


def test_a_wildcard_is_refused_with_the_domain_spelling() -> None:
    with pytest.raises(PermissionProfileError, match=r"'\.example\.com' for the domain"):
        isolation.policy(request(["*.example.com"]))


def test_ports_out_of_range_are_refused() -> None:
    with pytest.raises(PermissionProfileError, match="allow_port 70000"):
        isolation.policy(request(["a.com"], [70000]))


def test_the_ports_of_the_forwarders_are_refused_as_a_server_port() -> None:
    for port in isolation.RESERVED_PORTS:
        req = request(["a.com"], transport="sse", target_port=port)
        with pytest.raises(PermissionProfileError, match=f"port {port}"):
            hardening.check_request(req, runtime="docker")


def test_isolation_applies_only_to_restricted_bridge_profiles() -> None:
    assert isolation.wants_isolation(request(["a.com"]))
    assert not isolation.wants_isolation(request(["a.com"], isolate_network=False))
    unrestricted = PermissionProfile(
        network=NetworkPermissions(outbound=OutboundNetwork(insecure_allow_all=True))
    )
    assert not isolation.wants_isolation(
        DeployRequest(name="s", image="i", permission_profile=unrestricted)
    )
    assert not isolation.wants_isolation(DeployRequest(name="s", image="i"))


def test_squid_denies_loopback_gateway_host_and_private_ranges_before_allowing() -> None:
    conf = isolation.squid_conf("srv", isolation.policy(request(["api.example.com"], [443])), FACTS)
    assert access_rules(conf) == [
        "http_access deny to_loopback",
        "http_access deny gateway_names",
        "http_access deny to_host",
        "http_access deny to_private !explicitly_allowed",
        "http_access allow allowed_names allowed_ports",
        "http_access deny all",
    ]
    assert "acl allowed_names dstdomain -n api.example.com\n" in conf
    assert "acl allowed_ports port 443\n" in conf
    assert "acl to_host dst 172.17.0.1 192.0.2.2 fd00::2\n" in conf
    # The name pinned on the host may be private: it was named explicitly.
    assert "acl explicitly_allowed dst 10.1.2.3\n" in conf
    assert "http_port 127.0.0.1:3128\n" in conf  # never on the bridge: not an open proxy


def test_the_gateway_flag_allows_the_gateway_on_any_port_and_nothing_else() -> None:
    policy = isolation.policy(request(["api.example.com"], [443], allow_docker_gateway=True))
    rules = access_rules(isolation.squid_conf("srv", policy, FACTS))
    assert rules[:3] == [
        "http_access deny to_loopback",
        "http_access allow gateway_names",
        "http_access allow gateway_ip",
    ]
    assert "http_access deny gateway_names" not in rules
    assert rules[-1] == "http_access deny all"


def test_ports_only_allow_any_public_host_on_those_ports() -> None:
    policy = isolation.policy(request([], [443]))
    rules = access_rules(isolation.squid_conf("srv", policy, isolation.Resolved()))
    assert "http_access allow allowed_ports" in rules
    assert "http_access deny to_private" in rules


def test_hosts_only_allow_any_port_and_networks_their_own_rule() -> None:
    policy = isolation.policy(request([".example.com", "10.9.0.0/16"]))
    conf = isolation.squid_conf("srv", policy, isolation.Resolved())
    assert "acl allowed_names dstdomain -n .example.com\n" in conf
    assert access_rules(conf)[-3:] == [
        "http_access allow allowed_names",
        "http_access allow allowed_nets",
        "http_access deny all",
    ]
    assert "acl explicitly_allowed dst 10.9.0.0/16\n" in conf


def test_dnsmasq_answers_pinned_names_and_nxdomain_for_the_rest() -> None:
    conf = isolation.dnsmasq_conf(FACTS)
    assert "host-record=api.example.com,10.1.2.3\n" in conf
    assert "no-resolv\n" in conf and "address=/#/\n" in conf
    assert conf.index("host-record") < conf.index("address=/#/")


def test_names_under_a_domain_entry_and_unresolved_names_are_forwarded() -> None:
    policy = isolation.policy(request([".example.org", "api.example.com", "gone.example.net"]))
    forward = isolation.forwarded_names(policy, FACTS)
    assert forward == ("example.org", "gone.example.net")
    conf = isolation.dnsmasq_conf(FACTS, forward)
    assert "server=/example.org/127.0.0.1#5353\n" in conf
    assert "server=/gone.example.net/127.0.0.1#5353\n" in conf
    assert "server=/api.example.com/" not in conf  # pinned on the host


def test_names_are_pinned_with_the_hosts_resolver() -> None:
    assert isolation.resolve_pinned(("localhost", "no-such-name.invalid")) == {
        "localhost": ("127.0.0.1",)
    }


def test_host_addresses_come_from_the_kernels_local_routes(tmp_path: Path) -> None:
    (tmp_path / "fib_trie").write_text(
        "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 192.0.2.2\n        /32 host LOCAL\n"
        "     |-- 127.0.0.1\n        /32 host LOCAL\n     |-- 172.17.0.1\n        /32 host LOCAL\n"
        "     |-- 172.17.255.255\n        /32 link BROADCAST\n"
    )
    (tmp_path / "if_inet6").write_text(
        "00000000000000000000000000000001 01 80 10 80       lo\n"
        "fd000000000000000000000000000002 02 40 00 80     eth0\n"
    )
    assert isolation.host_addresses(tmp_path) == ("192.0.2.2", "172.17.0.1", "fd00::2")
    assert isolation.host_addresses(tmp_path / "absent") == ()


def test_the_proxy_environment_points_at_the_loopback_forwarder() -> None:
    env = isolation.proxy_env()
    assert env["HTTP_PROXY"] == env["https_proxy"] == "http://127.0.0.1:3128"
    assert env["NO_PROXY"] == "localhost,127.0.0.1,::1"


def test_the_image_tag_follows_the_recipe_and_the_base() -> None:
    tag = isolation.image_tag("debian:bookworm-slim")
    assert tag.startswith("toolhivelocal/netproxy:")
    assert tag == isolation.image_tag("debian:bookworm-slim")
    assert tag != isolation.image_tag("localhost/other:base")
    files = isolation.recipe_files()
    assert f"ARG BASE={isolation.DEFAULT_BASE_IMAGE}" in files["Containerfile"].decode()
    assert set(files) == {"Containerfile", "outside.sh", "inside.sh"}
