"""What every container gets from a permission profile, and what is refused (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from toolhive.contracts import InvalidInputError, PermissionProfileError
from toolhive.contracts.runtime import (
    DeployRequest,
    Mount,
    NetworkPermissions,
    OutboundNetwork,
    PermissionProfile,
    builtin_profile,
)
from toolhive_runtime_docker import hardening
from toolhive_runtime_docker.runtime import DockerRuntime

NONE = builtin_profile("none")
NETWORK = builtin_profile("network")
RESTRICTED = PermissionProfile(
    name="api-only",
    network=NetworkPermissions(
        outbound=OutboundNetwork(allow_host=["api.example.com"], allow_port=[443])
    ),
)


def request(**kwargs: object) -> DeployRequest:
    return DeployRequest.model_validate({"name": "srv", "image": "img", **kwargs})


def test_default_profile_has_no_network() -> None:
    assert hardening.plan_network(request()).mode == "none"
    assert hardening.plan_network(request(permission_profile=NONE)).mode == "none"
    assert hardening.plan_network(request(permission_profile=NETWORK)).mode == "bridge"


def test_http_transport_without_network_is_refused() -> None:
    for transport in ("sse", "streamable-http"):
        req = request(transport=transport, target_port=8080, permission_profile=NONE)
        with pytest.raises(PermissionProfileError) as caught:
            hardening.check_request(req, runtime="docker")
        message = str(caught.value)
        assert "needs a published port" in message
        assert "--permission-profile network" in message
        assert "--transport stdio" in message
    hardening.check_request(request(permission_profile=NONE), runtime="docker")  # stdio is fine


def test_http_transport_needs_a_target_port() -> None:
    with pytest.raises(InvalidInputError, match="port the server listens on"):
        hardening.check_request(
            request(transport="sse", permission_profile=NETWORK), runtime="docker"
        )
    with pytest.raises(InvalidInputError, match="out of range"):
        hardening.check_request(
            request(transport="sse", target_port=80, host_port=70000, permission_profile=NETWORK),
            runtime="docker",
        )


def test_restricted_outbound_is_isolated_unless_isolation_is_waived() -> None:
    hardening.check_request(request(permission_profile=RESTRICTED), runtime="docker")
    assert hardening.plan_network(request(permission_profile=RESTRICTED)).mode == "isolated"
    waived = request(permission_profile=RESTRICTED, isolate_network=False)
    hardening.check_request(waived, runtime="docker")
    assert hardening.plan_network(waived) == hardening.NetworkPlan("bridge", widened=True)


def test_isolation_with_a_host_network_is_refused_naming_isolation() -> None:
    profile = RESTRICTED.model_copy(
        update={"network": RESTRICTED.network.model_copy(update={"mode": "host"})}  # type: ignore[union-attr]
    )
    with pytest.raises(PermissionProfileError) as caught:
        hardening.check_request(request(permission_profile=profile), runtime="docker")
    assert "network isolation needs the engine's bridge networking" in str(caught.value)
    assert "nothing was created" in str(caught.value)


def test_privileged_is_refused() -> None:
    profile = PermissionProfile(name="root", privileged=True)
    with pytest.raises(PermissionProfileError, match="privileged"):
        hardening.check_request(request(permission_profile=profile), runtime="docker")


@pytest.mark.parametrize("mode", ["host", "my-custom-net"])
def test_unsupported_network_modes(mode: str) -> None:
    profile = PermissionProfile(
        network=NetworkPermissions(mode=mode, outbound=OutboundNetwork(insecure_allow_all=True))
    )
    with pytest.raises(PermissionProfileError, match=f"network mode '{mode}'"):
        hardening.check_request(request(permission_profile=profile), runtime="docker")


def test_mode_none_wins_over_outbound_rules() -> None:
    profile = PermissionProfile(
        network=NetworkPermissions(mode="none", outbound=OutboundNetwork(insecure_allow_all=True))
    )
    assert hardening.plan_network(request(permission_profile=profile)).mode == "none"


def test_mount_entries_are_parsed() -> None:
    assert hardening.split_mount_entry("/a") == ("bind", "/a", None)
    assert hardening.split_mount_entry("/a:/b") == ("bind", "/a", "/b")
    assert hardening.split_mount_entry("/a:b") == ("bind", "/a:b", None)
    assert hardening.split_mount_entry("volume://cache:/c") == ("volume", "cache", "/c")
    assert hardening.split_mount_entry("volume://cache") == ("volume", "cache", None)


def test_mounts_are_read_only_unless_write_is_granted(tmp_path: Path) -> None:
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    profile = PermissionProfile(read=[str(a), f"{b}:/b"], write=[f"{b}:/b", "volume://v:/v"])
    req = request(
        permission_profile=profile,
        mounts=[Mount(source=str(c), target="/c"), Mount(source=str(a), target=str(a))],
    )
    plans = {m.target: m for m in hardening.plan_mounts(req)}
    assert plans == {
        "/c": hardening.MountPlan("bind", str(c), "/c", True),
        str(a): hardening.MountPlan("bind", str(a), str(a), True),
        "/b": hardening.MountPlan("bind", str(b), "/b", False),
        "/v": hardening.MountPlan("volume", "v", "/v", False),
    }
    hardening.check_request(req, runtime="docker")
    rw = request(mounts=[Mount(source=str(c), target="/c", read_only=False)])
    assert hardening.plan_mounts(rw) == [hardening.MountPlan("bind", str(c), "/c", False)]


def test_core_style_volume_mount_is_understood() -> None:
    # core's profile_mounts passes "volume://name:/ctr" whole as source and target.
    entry = "volume://cache:/cache"
    req = request(mounts=[Mount(source=entry, target=entry, read_only=False)])
    assert hardening.plan_mounts(req) == [hardening.MountPlan("volume", "cache", "/cache", False)]


def test_bad_mounts_are_refused(tmp_path: Path) -> None:
    cases = {
        "does not exist": [Mount(source=str(tmp_path / "nope"), target="/x")],
        "absolute host path": [Mount(source="relative/dir", target="/x")],
        "absolute path inside": [Mount(source=str(tmp_path), target="x")],
        "two mounts target": [
            Mount(source=str(tmp_path), target="/x"),
            Mount(source="/etc", target="/x"),
        ],
        "needs a target": [Mount(source="volume://v", target="volume://v")],
        "invalid volume name": [Mount(source="volume://-v:/v", target="volume://-v:/v")],
    }
    for expected, mounts in cases.items():
        with pytest.raises(PermissionProfileError, match=expected):
            hardening.check_request(request(mounts=mounts), runtime="docker")
    unsafe = PermissionProfile(read=["/etc/../root"])
    with pytest.raises(PermissionProfileError, match="unsafe mount"):
        hardening.check_request(request(permission_profile=unsafe), runtime="docker")


@pytest.mark.parametrize("name", ["_hidden", ".dot", "", "a b"])
def test_names_docker_cannot_use(name: str) -> None:
    with pytest.raises(InvalidInputError):
        hardening.check_request(request(name=name), runtime="docker")


def test_engine_socket_cannot_be_mounted(tmp_path: Path) -> None:
    engine = tmp_path / "engine.sock"
    engine.write_text("")
    runtime = DockerRuntime(str(engine))
    with pytest.raises(PermissionProfileError, match="engine socket"):
        runtime.check_request(request(mounts=[Mount(source=str(engine), target="/s")]))
    runtime.check_request(request(mounts=[Mount(source=str(tmp_path), target="/s")]))


def test_hardening_constants() -> None:
    assert hardening.CAP_DROP == ("ALL",)
    assert hardening.SECURITY_OPT == ("no-new-privileges", "label=disable")
