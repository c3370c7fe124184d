"""What a permission profile becomes in bubblewrap, and what is refused (no processes started)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from process_helpers import profile
from toolhive.contracts import InvalidInputError, PermissionProfileError
from toolhive.contracts.runtime import (
    DeployRequest,
    InboundNetwork,
    Mount,
    NetworkPermissions,
    OutboundNetwork,
    PermissionProfile,
)
from toolhive_runtime_process import sandbox


def request(prof: PermissionProfile | None = None, **kwargs: object) -> DeployRequest:
    return DeployRequest(
        name="srv",
        image="python3",
        permission_profile=prof or profile("none"),
        **kwargs,  # type: ignore[arg-type]
    )


def outbound(**kwargs: object) -> PermissionProfile:
    return PermissionProfile(
        name="custom",
        network=NetworkPermissions(outbound=OutboundNetwork(**kwargs)),  # type: ignore[arg-type]
    )


# ---------------------------------------------------------------------------- accepted


def test_builtin_profiles_are_accepted() -> None:
    sandbox.check_request(request(profile("none")), sandboxed=True)
    sandbox.check_request(request(profile("network")), sandboxed=True)
    sandbox.check_request(request(PermissionProfile()), sandboxed=True)


def test_network_only_when_unrestricted() -> None:
    assert not sandbox.network_allowed(profile("none"))
    assert not sandbox.network_allowed(PermissionProfile())
    assert sandbox.network_allowed(profile("network"))
    blocked = profile("network").model_copy(
        update={
            "network": NetworkPermissions(
                mode="none", outbound=OutboundNetwork(insecure_allow_all=True)
            )
        }
    )
    assert not sandbox.network_allowed(blocked)


def test_mount_entries(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    prof = PermissionProfile(
        name="files",
        read=[f"{tmp_path}/in:/tmp/data", str(tmp_path / "in")],
        write=[str(tmp_path / "out")],
    )
    req = request(prof, mounts=[Mount(source=str(tmp_path / "out"), target="/tmp/data/sub")])
    sandbox.check_request(req, sandboxed=True)
    binds = sandbox.request_binds(req)
    # parents before children, so a later mount never hides an earlier one
    assert [b.flags() for b in binds] == [
        ["--ro-bind", f"{tmp_path}/in", "/tmp/data"],
        ["--ro-bind", f"{tmp_path}/out", "/tmp/data/sub"],
        ["--ro-bind", f"{tmp_path}/in", f"{tmp_path}/in"],
        ["--bind", f"{tmp_path}/out", f"{tmp_path}/out"],
    ]


def test_bwrap_argv(tmp_path: Path) -> None:
    argv = sandbox.bwrap_argv(
        "/usr/bin/bwrap",
        ["server", "--flag"],
        network=False,
        binds=[sandbox.Bind(tmp_path, Path("/tmp/x"), writable=True)],  # type: ignore[arg-type]
        read_only=[tmp_path / "pkg", tmp_path / "pkg"],
        hidden=[tmp_path, Path("/nonexistent-dir")],
    )
    text = " ".join(argv)
    assert argv[0] == "/usr/bin/bwrap"
    for flag in ("--die-with-parent", "--unshare-pid", "--unshare-net", "--cap-drop ALL"):
        assert flag in text
    root = " ".join(sandbox.root_flags())
    assert f"{root} --dev /dev --proc /proc --tmpfs /tmp" in text
    assert "--ro-bind /usr /usr" in root and "--ro-bind / /" not in text
    assert text.count(f"--ro-bind {tmp_path}/pkg") == 1
    assert "/nonexistent-dir" not in text  # only existing directories are hidden
    assert argv[-5:] == ["--remount-ro", "/", "--", "server", "--flag"]
    assert argv.index("--tmpfs") < argv.index("--bind")
    shared = sandbox.bwrap_argv("/usr/bin/bwrap", ["server"], network=True)
    assert "--unshare-net" not in shared


def test_root_flags_show_the_host_without_engine_state(tmp_path: Path) -> None:
    for directory in ("usr/bin", "var/lib/docker/overlay2", "var/lib/apt", "run/netns", "proc"):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "run" / "app.sock").write_text("")
    flags = sandbox.root_flags(tmp_path)
    text = " ".join(flags)
    assert "--symlink usr/bin /bin" in text
    assert f"--ro-bind {tmp_path}/usr /usr" in text
    assert f"--ro-bind {tmp_path}/var/lib/apt /var/lib/apt" in text
    assert f"--ro-bind {tmp_path}/run/app.sock /run/app.sock" in text
    assert "--dir /var --dir /var/lib" in text
    for hidden in ("docker", "netns", "/proc"):
        assert hidden not in text


def test_a_sandbox_starts_while_engine_mounts_come_and_go() -> None:
    """bwrap failed the whole start when a submount under ``/`` vanished while it set up."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or os.geteuid() != 0 or sandbox.probe_bwrap(bwrap) is not None:
        pytest.skip("needs root (to mount) and a working bwrap")
    churn = Path("/run/netns")
    churn.mkdir(exist_ok=True)
    stop = threading.Event()
    mounts = [churn / f"thv-churn-{n}" for n in range(8)]

    def flap() -> None:
        while not stop.is_set():
            for point in mounts:
                point.mkdir(exist_ok=True)
                subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(point)], check=True)
            for point in mounts:
                subprocess.run(["umount", str(point)], check=True)

    flapper = threading.Thread(target=flap)
    flapper.start()
    try:
        argv = sandbox.bwrap_argv(bwrap, ["true"], network=False)
        failures = [
            done.stderr
            for done in (subprocess.run(argv, capture_output=True, text=True) for _ in range(150))
            if done.returncode != 0
        ]
    finally:
        stop.set()
        flapper.join()
        for point in mounts:
            subprocess.run(["umount", str(point)], capture_output=True, check=False)
            point.rmdir()
    assert failures == []


# ---------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("prof", "match"),
    [
        (
            PermissionProfile(
                name="host-mode",
                network=NetworkPermissions(
                    mode="host", outbound=OutboundNetwork(allow_host=["api.github.com"])
                ),
            ),
            "could not be enforced",
        ),
        (
            PermissionProfile(
                name="in",
                network=NetworkPermissions(
                    outbound=OutboundNetwork(insecure_allow_all=True),
                    inbound=InboundNetwork(allow_host=["10.0.0.0/8"]),
                ),
            ),
            "inbound network rules",
        ),
        (PermissionProfile(name="root", privileged=True), "privileged"),
        (PermissionProfile(name="vol", read=["volume://data:/data"]), "container volume"),
        (PermissionProfile(name="vol", write=["volume://data:/data"]), "container volume"),
        (PermissionProfile(name="rel", read=["data:/data"]), "must be absolute"),
        (PermissionProfile(name="odd", read=["/a:/b:/c"]), "expected /path"),
        (PermissionProfile(name="dots", read=["/etc/../root"]), "unsafe mount"),
        (PermissionProfile(name="gone", read=["/nonexistent/thv-test"]), "does not exist"),
        (
            PermissionProfile(name="custom-net", network=NetworkPermissions(mode="my-net")),
            "container network",
        ),
    ],
)
def test_unenforceable_profiles_are_refused(prof: PermissionProfile, match: str) -> None:
    with pytest.raises(PermissionProfileError, match=match):
        sandbox.check_request(request(prof), sandboxed=True)


def test_allow_lists_are_accepted_now_that_an_egress_proxy_enforces_them() -> None:
    sandbox.check_request(request(outbound(allow_host=["x.com"])), sandboxed=True)
    sandbox.check_request(request(outbound(allow_port=[443])), sandboxed=True)


@pytest.mark.parametrize("transport", ["sse", "streamable-http"])
def test_http_server_without_network_is_accepted_behind_the_ingress_relay(
    transport: str,
) -> None:
    for name in ("none", "network"):
        req = request(profile(name), transport=transport, target_port=8080)
        sandbox.check_request(req, sandboxed=True)


def test_http_server_needs_a_port() -> None:
    with pytest.raises(InvalidInputError, match="target port"):
        sandbox.check_request(request(profile("network"), transport="sse"), sandboxed=True)


@pytest.mark.parametrize("target", ["/", "/proc", "/proc/1", "/dev/shm"])
def test_reserved_targets_are_refused(tmp_path: Path, target: str) -> None:
    prof = PermissionProfile(name="x", read=[f"{tmp_path}:{target}"])
    with pytest.raises(PermissionProfileError, match="belongs to the sandbox"):
        sandbox.check_request(request(prof), sandboxed=True)


def test_missing_target_outside_tmp_is_refused(tmp_path: Path) -> None:
    prof = PermissionProfile(name="x", write=[f"{tmp_path}:/nonexistent-thv-target"])
    with pytest.raises(PermissionProfileError, match="must already exist on the host"):
        sandbox.check_request(request(prof), sandboxed=True)


def test_unsandboxed_accepts_profiles_but_not_remapped_paths(tmp_path: Path) -> None:
    """With TOOLHIVE_PROCESS_UNSANDBOXED the user opted out of enforcement, not of correctness."""
    sandbox.check_request(request(outbound(allow_host=["x.com"])), sandboxed=False)
    sandbox.check_request(request(PermissionProfile(write=[str(tmp_path)])), sandboxed=False)
    with pytest.raises(PermissionProfileError, match="same path on both sides"):
        sandbox.check_request(
            request(PermissionProfile(read=[f"{tmp_path}:/data"])), sandboxed=False
        )
    with pytest.raises(PermissionProfileError, match="container volume"):
        sandbox.check_request(
            request(PermissionProfile(read=["volume://v:/data"])), sandboxed=False
        )


def test_paths_a_command_names_under_tmp_are_visible_read_only(runtime, xdg, tmp_path):
    """The sandbox's /tmp is private, but a script (or venv) the command names there is shown."""
    from toolhive_runtime_process.sandbox import named_tmp_paths

    assert str(tmp_path).startswith("/tmp/")
    script = tmp_path / "server.py"
    script.write_text(
        "import sys, time; time.sleep(0.3)\n"
        "print('seen', file=sys.stderr)\n"
        "open(__file__, 'a').write('#')\n"
    )
    assert script in named_tmp_paths([sys.executable, str(script), "x"])
    runtime.deploy(
        DeployRequest(
            name="tmp-named",
            image=sys.executable,
            command=[str(script)],
            permission_profile=profile("none"),
        )
    )
    status = runtime.wait("tmp-named")
    log = b"".join(runtime.logs("tmp-named")).decode()
    assert "seen" in log and "Read-only file system" in log and status != 0
    assert script.read_text().endswith("sys.stderr)\nopen(__file__, 'a').write('#')\n")
