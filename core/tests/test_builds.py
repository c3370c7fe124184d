"""Protocol-scheme builds without an engine: references, Dockerfiles, input hashes, `thv build
--dry-run`/`-o`, and the `thv config` build settings. Versions are given explicitly so nothing
here asks a package registry."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from toolhive.builds.build import plan_build
from toolhive.builds.dockerfile import APP_UID, CA_IN_BUILDER
from toolhive.builds.schemes import default_tag, image_name_part, parse_ref, validate_tag
from toolhive.builds.settings import RuntimeSettings
from toolhive.builds.workload import package_source
from toolhive.errors import InvalidInputError
from toolhive.models.runconfig import RunConfig

PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


def stages(dockerfile: str) -> tuple[str, str]:
    """(builder stage, runtime stage)."""
    parts = re.split(r"(?m)^FROM ", dockerfile)
    assert len(parts) == 3, dockerfile
    return parts[1], parts[2]


@pytest.mark.parametrize(
    ("ref", "scheme", "package", "version"),
    [
        ("uvx://mcp-server-time", "uvx", "mcp-server-time", ""),
        ("uvx://mcp-server-fetch@2025.4.7", "uvx", "mcp-server-fetch", "2025.4.7"),
        ("uvx://pkg[cli,extra]@1.0", "uvx", "pkg[cli,extra]", "1.0"),
        ("npx://@modelcontextprotocol/server-everything", "npx", "@modelcontextprotocol/server-everything", ""),
        ("npx://@scope/pkg@1.2.3", "npx", "@scope/pkg", "1.2.3"),
        ("npx://plain@latest", "npx", "plain", "latest"),
        ("go://github.com/org/server@v1.2.0", "go", "github.com/org/server", "v1.2.0"),
        ("go://golang.org/x/tools/cmd/gopls", "go", "golang.org/x/tools/cmd/gopls", ""),
    ],
)  # fmt: skip
def test_parse_valid(ref: str, scheme: str, package: str, version: str) -> None:
    parsed = parse_ref(ref)
    assert (parsed.scheme, parsed.package, parsed.version) == (scheme, package, version)
    assert not parsed.is_local


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("pip://x", "use uvx://, npx:// or go://"),
        ("uvx://", "no package named"),
        ("uvx://bad name", "not a valid PyPI name"),
        ("uvx://x;rm -rf /", "not a valid PyPI name"),
        ("uvx://x@", "not a valid version"),
        ('uvx://x@1"', "not a valid version"),
        ("npx://Upper", "not a valid npm package name"),
        ("npx://@scope/", "not a valid npm package name"),
        ("npx://x@$(id)", "not a valid version"),
        ("go://not-a-module", "not a Go module path"),
        ("go://github.com/x/y@v1 2", "not a valid version"),
        ("go://./does-not-exist", "is not a directory"),
    ],
)
def test_parse_invalid(ref: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        parse_ref(ref)


def test_go_local_path(tmp_path: Path) -> None:
    (tmp_path / "cmd" / "srv").mkdir(parents=True)
    ref = parse_ref("go://./cmd/srv", cwd=tmp_path)
    assert ref.is_local and ref.local_path == (tmp_path / "cmd" / "srv").resolve()


def test_image_names() -> None:
    assert image_name_part("@modelcontextprotocol/server-everything") == (
        "modelcontextprotocol-server-everything"
    )
    assert image_name_part("./cmd/server") == "cmd-server"
    assert image_name_part("pkg[extra]") == "pkg-extra"
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert default_tag(parse_ref("uvx://Mcp_Server.Time@1"), now) == (
        "toolhivelocal/uvx-mcp_server-time:20260102030405"
    )
    validate_tag("toolhivelocal/npx-x:20260102030405")
    with pytest.raises(InvalidInputError, match="invalid image name"):
        validate_tag("Bad/Name")


def test_uvx_dockerfile(thv_home: object) -> None:
    plan = plan_build("uvx://mcp-server-time@2026.10.19", build_args=["--local-timezone", "UTC"])
    builder, runtime = stages(plan.dockerfile)
    assert '"mcp-server-time==2026.10.19"' in builder  # pinned
    assert 'pip install "uv==' in builder  # the tool installing it is pinned too
    assert runtime.startswith("python:3.14-slim\n")
    assert f"USER {APP_UID}:{APP_UID}" in runtime and APP_UID != 0
    entry = runtime.strip().splitlines()[-1]
    assert entry.startswith("ENTRYPOINT ")
    assert json.loads(entry.removeprefix("ENTRYPOINT ")) == [
        "/opt/uv-tools/bin/mcp-server-time",
        "--local-timezone",
        "UTC",
    ]
    assert "COPY --from=builder /opt/uv-tools /opt/uv-tools" in runtime


def test_baked_args_are_json_not_shell(thv_home: object) -> None:
    args = ["it's", '"quoted"', "$(id)", "a b"]
    plan = plan_build("npx://@scope/pkg@1.0.0", build_args=args)
    entry = plan.dockerfile.strip().splitlines()[-1]
    assert json.loads(entry.removeprefix("ENTRYPOINT ")) == ["npx", "--no", "@scope/pkg", *args]


def test_secrets_stay_in_the_builder_stage(thv_home: object, thv_cli, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    assert thv_cli("config", "set-build-env", "PIP_EXTRA", "value1").exit_code == 0
    assert thv_cli("config", "set-build-auth-file", "npmrc", "//r/:_authToken=t").exit_code == 0
    assert thv_cli("config", "set-build-auth-file", ".netrc", "machine m").exit_code == 0
    plan = plan_build("npx://@scope/pkg@1.0.0", ca_cert_path=str(ca))
    builder, runtime = stages(plan.dockerfile)
    for needle in (CA_IN_BUILDER, ".npmrc", ".netrc", "PIP_EXTRA", "ca-cert.crt", "NODE_EXTRA_CA"):
        assert needle in builder
        assert needle not in runtime
    # The runtime stage copies only the package's own directories from the builder.
    copies = [line for line in runtime.splitlines() if line.startswith("COPY")]
    assert copies and all(line.startswith("COPY --from=builder /build/") for line in copies)
    assert plan.context_files[".toolhive-build/ca-cert.crt"] == PEM
    assert plan.context_files[".toolhive-build/.npmrc"].startswith("//r/")


def test_input_hash(thv_home: object, thv_cli, tmp_path: Path) -> None:
    base = plan_build("uvx://x@1")
    assert base.input_hash == plan_build("uvx://x@1").input_hash
    assert base.input_hash != plan_build("uvx://x@2").input_hash
    assert base.input_hash != plan_build("uvx://x@1", build_args=["a"]).input_hash
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    with_ca = plan_build("uvx://x@1", ca_cert_path=str(ca))
    ca.write_text(PEM.replace("fake", "other"))
    assert with_ca.input_hash != plan_build("uvx://x@1", ca_cert_path=str(ca)).input_hash
    thv_cli("config", "set-build-auth-file", "netrc", "machine a")
    assert plan_build("uvx://x@1").input_hash != base.input_hash
    assert base.labels == {
        "toolhive-build-hash": base.input_hash,
        "toolhive-build-source": "uvx://x@1",
    }


def test_runtime_images_configurable(thv_home: object, thv_cli) -> None:
    result = thv_cli(
        "config",
        "set-runtime-config",
        "uvx",
        "--builder-image",
        "localhost/b:1",
        "--runtime-image",
        "localhost/r:1",
        "--add-package",
        "git",
    )
    assert result.exit_code == 0, result.output
    builder, runtime = stages(plan_build("uvx://x@1").dockerfile)
    assert builder.startswith("localhost/b:1 AS builder") and runtime.startswith("localhost/r:1")
    assert "apt-get install -y --no-install-recommends git" in runtime
    override = RuntimeSettings(runtime_image="localhost/o:2", additional_packages=["curl"])
    _, runtime = stages(plan_build("uvx://x@1", runtime_override=override).dockerfile)
    assert runtime.startswith("localhost/o:2") and "git curl" in runtime
    shown = json.loads(thv_cli("config", "get-runtime-config", "--format", "json").output)
    assert shown["uvx"]["builder_image"] == "localhost/b:1"
    assert shown["npx"]["builder_image"] == "node:24-alpine" and not shown["npx"]["configured"]
    assert thv_cli("config", "unset-runtime-config", "uvx").exit_code == 0
    assert stages(plan_build("uvx://x@1").dockerfile)[0].startswith("python:3.14-slim")
    bad = thv_cli("config", "set-runtime-config", "uvx", "--add-package", "x;y")
    assert bad.exit_code != 0 and "invalid OS package name" in str(bad.exception)


def test_go_dockerfiles(thv_home: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, runtime = stages(plan_build("go://github.com/org/server@v1.2.0").dockerfile)
    assert runtime.startswith("alpine:3.23")
    assert json.loads(runtime.strip().splitlines()[-1].removeprefix("ENTRYPOINT ")) == [
        "/app/mcp-server"
    ]
    module = tmp_path / "mod"
    (module / "cmd" / "srv").mkdir(parents=True)
    (module / "go.mod").write_text("module example.com/mod\n")
    (module / "cmd" / "srv" / "main.go").write_text("package main\nfunc main() {}\n")
    monkeypatch.chdir(module)
    plan = plan_build("go://./cmd/srv")
    assert plan.source_root == module.resolve()
    assert 'go build -o /app/mcp-server "./cmd/srv"' in plan.dockerfile
    first = plan.input_hash
    (module / "cmd" / "srv" / "main.go").write_text("package main\nfunc main() { }\n")
    assert plan_build("go://./cmd/srv").input_hash != first  # the source is part of the inputs


def test_custom_index_is_not_pinned(thv_home: object, thv_cli) -> None:
    thv_cli("config", "set-build-env", "PIP_INDEX_URL", "https://pypi.example.invalid/simple")
    plan = plan_build("uvx://some-package")
    assert plan.ref.version == "" and "custom package index" in plan.notes[0]


def test_package_source_for_restarts() -> None:
    assert package_source(RunConfig(image="uvx://x@1")) == "uvx://x@1"
    built = RunConfig(image="toolhivelocal/uvx-x:1", runtime_config={"source": "uvx://x@1"})
    assert package_source(built) == "uvx://x@1"
    assert package_source(RunConfig(image="localhost/img:1")) == ""


# --- the CLI ------------------------------------------------------------------------------------


def test_build_dry_run_and_output(thv_cli, tmp_path: Path) -> None:
    result = thv_cli("build", "--dry-run", "uvx://mcp-server-time@2026.10.19", "--", "--x", "y")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Generated by ToolHive for uvx://mcp-server-time@2026.10.19")
    assert '["/opt/uv-tools/bin/mcp-server-time", "--x", "y"]' in result.output
    out = tmp_path / "Dockerfile"
    result = thv_cli("build", "-o", str(out), "npx://@scope/pkg@1.0.0", "--runtime-image", "r:1")
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "FROM r:1\n" in text and "npx" in text
    assert "wrote the Dockerfile" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dry-run", "pip://x"], "use uvx://, npx:// or go://"),
        (["--dry-run", "npx://Bad"], "not a valid npm package name"),
        (["--dry-run", "-t", "Bad Tag", "uvx://x@1"], "invalid image name"),
        (["--dry-run", "--ca-cert", "/nonexistent.pem", "uvx://x@1"], "cannot read CA"),
    ],
)
def test_build_errors(thv_cli, args: list[str], message: str) -> None:
    result = thv_cli("build", *args)
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_config_build_settings(thv_cli, tmp_path: Path) -> None:
    not_pem = tmp_path / "x.txt"
    not_pem.write_text("hello")
    assert "does not hold a PEM" in str(thv_cli("config", "set-ca-cert", str(not_pem)).exception)
    pem = tmp_path / "ca.pem"
    pem.write_text(PEM)
    assert thv_cli("config", "set-ca-cert", str(pem)).exit_code == 0
    assert str(pem.resolve()) in thv_cli("config", "get-ca-cert").output
    assert thv_cli("config", "unset-ca-cert").exit_code == 0
    assert "No CA certificate" in thv_cli("config", "get-ca-cert").output

    assert thv_cli("config", "set-build-env", "A_KEY", "v1").exit_code == 0
    assert thv_cli("config", "set-build-env", "TOKEN", "--from-env").exit_code == 0
    assert "may not contain quotes" in str(thv_cli("config", "set-build-env", "B", 'x"y').exception)
    assert "invalid build env name" in str(thv_cli("config", "set-build-env", "1X", "v").exception)
    shown = json.loads(thv_cli("config", "get-build-env", "--format", "json").output)
    assert shown == {"build_env": {"A_KEY": "v1"}, "build_env_from_shell": ["TOKEN"]}
    assert thv_cli("config", "unset-build-env", "A_KEY").exit_code == 0
    assert thv_cli("config", "unset-build-env", "--all").exit_code == 0
    assert "No build environment" in thv_cli("config", "get-build-env").output

    result = thv_cli("config", "set-build-auth-file", "npmrc", "--stdin", input="//r/:t=1\n")
    assert result.exit_code == 0, result.output
    assert ".npmrc (configured" in thv_cli("config", "get-build-auth-file").output
    assert "//r/:t=1" in thv_cli("config", "get-build-auth-file", "npmrc", "--show-content").output
    unknown = thv_cli("config", "set-build-auth-file", "pypirc", "x")
    assert "unknown build auth file" in str(unknown.exception)
    assert thv_cli("config", "unset-build-auth-file", "npmrc").exit_code == 0
    assert "No build auth files" in thv_cli("config", "get-build-auth-file").output


def test_run_build_flags_only_for_packages(thv_cli, tmp_path: Path) -> None:
    result = thv_cli("run", "--ca-cert", str(tmp_path / "x.pem"), "localhost/img:1")
    assert result.exit_code != 0
    assert "apply to uvx://, npx://, go://" in str(result.exception)
