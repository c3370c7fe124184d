from pathlib import Path

import pytest
from toolhive.errors import InvalidInputError
from toolhive.workloads.names import derive_name
from toolhive.workloads.request import RunRequest
from toolhive.workloads.runconfig_builder import (
    build_runconfig,
    default_transport,
    parse_key_values,
    parse_volume,
    read_env_file,
)
from toolhive.workloads.urls import client_url


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("ghcr.io/stacklok/fetch:v1.2", "fetch"),
        ("localhost:5000/org/server@sha256:abc", "server"),
        ("uvx://mcp-server-time@2026.10.19", "mcp-server-time"),
        ("npx://@modelcontextprotocol/server-everything", "server-everything"),
        ("npx://@scope/pkg@1.2.3", "pkg"),
        ("go://github.com/org/osv-mcp@latest", "osv-mcp"),
        ("https://mcp.example.com/mcp", "mcp.example.com"),
        ("/usr/bin/python3", "python3"),
    ],
)
def test_derive_name(target, name):
    assert derive_name(target) == name


@pytest.mark.parametrize(
    ("target", "transport"),
    [
        ("uvx://x", "stdio"),
        ("npx://x", "stdio"),
        ("python3", "stdio"),
        ("ghcr.io/org/img:1", "streamable-http"),
        ("img:latest", "streamable-http"),
        ("https://h/sse", "sse"),
        ("https://h/mcp", "streamable-http"),
    ],
)
def test_default_transport(target, transport):
    assert default_transport(target) == transport


def test_env_merge_order_and_env_file(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nexport A=1\nB='two words'\n\nC=from-file\n")
    env = parse_key_values(["C=from-flag", "D=4=4"], "environment variable")
    config = build_runconfig(RunRequest(image="uvx://x", env_files=[env_file], env_vars=env))
    assert config.env_vars == {"A": "1", "B": "two words", "C": "from-flag", "D": "4=4"}


def test_env_file_errors_name_the_line(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("OK=1\nbroken line\n")
    with pytest.raises(InvalidInputError, match=r"\.env:2"):
        read_env_file(env_file)


def test_volumes():
    assert parse_volume("/data:/in:ro").read_only
    rw = parse_volume("/data:/out")
    assert not rw.read_only and rw.target == "/out"
    for bad in ["relative", "/a:rel", "/a/../b:/c", "/a:/b:/c:/d"]:
        with pytest.raises(InvalidInputError):
            parse_volume(bad)


def test_bad_input_is_refused_before_anything_is_saved():
    with pytest.raises(InvalidInputError, match="invalid workload name"):
        build_runconfig(RunRequest(image="uvx://x", name="no spaces"))
    with pytest.raises(InvalidInputError, match="reserved"):
        build_runconfig(RunRequest(image="uvx://x", labels={"toolhive-name": "x"}))
    with pytest.raises(InvalidInputError, match="KEY=VALUE"):
        parse_key_values(["NOVALUE"], "environment variable")
    with pytest.raises(InvalidInputError, match="proxy-mode"):
        build_runconfig(RunRequest(image="img:1", transport="sse", proxy_mode="sse"))
    with pytest.raises(InvalidInputError, match="proxy mode"):
        build_runconfig(RunRequest(image="uvx://x", proxy_mode="carrier-pigeon"))


def test_client_urls():
    stdio = build_runconfig(RunRequest(image="uvx://x", proxy_port=1234))
    assert client_url(stdio) == "http://127.0.0.1:1234/mcp"
    sse = build_runconfig(RunRequest(image="uvx://x", proxy_port=1234, proxy_mode="sse"))
    assert client_url(sse) == "http://127.0.0.1:1234/sse#x"
    remote = build_runconfig(RunRequest(url="https://h.example/api/mcp?k=1", proxy_port=9))
    assert remote.is_remote and client_url(remote) == "http://127.0.0.1:9/api/mcp"
