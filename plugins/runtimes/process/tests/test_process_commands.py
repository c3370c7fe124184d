"""DeployRequest.image → a package or a command."""

from __future__ import annotations

import sys

import pytest
from toolhive.contracts import ImageNotFoundError, InvalidInputError
from toolhive_runtime_process.commands import (
    PackageRef,
    PlainCommand,
    parse_image,
    resolve_executable,
)


@pytest.mark.parametrize(
    ("image", "expected", "command"),
    [
        (
            "uvx://mcp-server-time",
            PackageRef("uvx", "mcp-server-time"),
            ["uv", "tool", "run", "--from", "mcp-server-time", "mcp-server-time", "-x"],
        ),
        (
            "uvx://mcp-server-time@2025.1.0",
            PackageRef("uvx", "mcp-server-time", "2025.1.0"),
            ["uv", "tool", "run", "--from", "mcp-server-time==2025.1.0", "mcp-server-time", "-x"],
        ),
        (
            "uvx://mcp-server-fetch[extra]@1.0",
            PackageRef("uvx", "mcp-server-fetch[extra]", "1.0"),
            [
                "uv",
                "tool",
                "run",
                "--from",
                "mcp-server-fetch[extra]==1.0",
                "mcp-server-fetch",
                "-x",
            ],
        ),
        (
            "npx://@modelcontextprotocol/server-everything",
            PackageRef("npx", "@modelcontextprotocol/server-everything"),
            ["npx", "-y", "@modelcontextprotocol/server-everything", "-x"],
        ),
        (
            "npx://@modelcontextprotocol/server-everything@2025.1.0",
            PackageRef("npx", "@modelcontextprotocol/server-everything", "2025.1.0"),
            ["npx", "-y", "@modelcontextprotocol/server-everything@2025.1.0", "-x"],
        ),
        ("npx://cowsay@^1", PackageRef("npx", "cowsay", "^1"), ["npx", "-y", "cowsay@^1", "-x"]),
    ],
)
def test_packages(image: str, expected: PackageRef, command: list[str]) -> None:
    ref = parse_image(image)
    assert ref == expected
    assert isinstance(ref, PackageRef)
    assert ref.equivalent_command(["-x"]) == command
    assert str(ref) == image


def test_executable_names() -> None:
    assert PackageRef("npx", "@scope/tool").executable == "tool"
    assert PackageRef("uvx", "pkg[a,b]").executable == "pkg"


@pytest.mark.parametrize("image", ["python3", "/usr/bin/env", "./server.sh"])
def test_plain_commands(image: str) -> None:
    assert parse_image(image) == PlainCommand(image)


@pytest.mark.parametrize(
    "image",
    ["uvx://", "uvx://bad name", "uvx://pkg@1.0;rm -rf /", "npx://@scope", "npx://a b", "uvx://-x"],
)
def test_malformed_packages_are_refused(image: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid package reference"):
        parse_image(image)


def test_other_schemes_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="not go://"):
        parse_image("go://github.com/x/y")


def test_resolve_executable() -> None:
    assert resolve_executable(PlainCommand(sys.executable), None) == sys.executable
    with pytest.raises(ImageNotFoundError, match="not found on PATH"):
        resolve_executable(PlainCommand("no-such-mcp-server-xyz"), "/usr/bin:/bin")
    with pytest.raises(ImageNotFoundError, match="does not exist"):
        resolve_executable(PlainCommand("/nonexistent/server"), None)
