"""All 25 AI clients kept in sync with real workloads (process runtime: fast, real).

One temporary home holds a realistic, pre-seeded config file per client (unrelated settings,
other servers, comments). Half the clients are registered before the workloads start (the start
updates them), half after (registration adds running workloads). Every client's file is then
read back *by this test* — its own table below, written from the reference, not the code's — and
a tool is called through the URL and type found in the file with the official ``mcp`` client.
Stopping and removing the workloads must restore every file byte for byte.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client
from mcp.client.sse import sse_client

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip

HTTP_WL, SSE_WL, REMOTE_WL = "clsync-http", "clsync-sse", "clsync-remote"
ECHO = ["--transport", "stdio", sys.executable, "--", str(FIXTURES / "echo_server.py"), "stdio"]


@dataclass(frozen=True)
class Row:
    """One client per the reference table (Linux column)."""

    path: str
    fmt: str  # json | goose | continue | codex | vibe
    key: str
    url_field: str = "url"
    sse_url_field: str | None = None
    types: tuple[str, str] | None = None  # (streamable-http / stdio, sse)
    type_field: str = "type"


HTTP = ("http", "sse")
VSC = ".config/Code/User/globalStorage"
ROWS: dict[str, Row] = {
    "vscode": Row(".config/Code/User/mcp.json", "json", "servers", types=HTTP),
    "vscode-insider": Row(".config/Code - Insiders/User/mcp.json", "json", "servers", types=HTTP),
    "vscode-server": Row(".vscode-server/data/User/mcp.json", "json", "servers", types=HTTP),
    "cursor": Row(".cursor/mcp.json", "json", "mcpServers", types=HTTP),
    "claude-code": Row(".claude.json", "json", "mcpServers", types=HTTP),
    "windsurf": Row(
        ".codeium/windsurf/mcp_config.json", "json", "mcpServers", "serverUrl", types=HTTP
    ),
    "windsurf-jetbrains": Row(
        ".codeium/mcp_config.json", "json", "mcpServers", "serverUrl", types=HTTP
    ),
    "cline": Row(
        f"{VSC}/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
        "json",
        "mcpServers",
        types=("streamableHttp", "sse"),
    ),
    "roo-code": Row(
        f"{VSC}/rooveterinaryinc.roo-cline/settings/mcp_settings.json",
        "json",
        "mcpServers",
        types=("streamable-http", "sse"),
    ),
    "amp-cli": Row(".config/amp/settings.json", "json", "amp.mcpServers", types=HTTP),
    "lm-studio": Row(".lmstudio/mcp.json", "json", "mcpServers", types=HTTP),
    "goose": Row(
        ".config/goose/config.yaml", "goose", "extensions", "uri", types=("streamable_http", "sse")
    ),
    "continue": Row(
        ".continue/config.yaml", "continue", "mcpServers", types=("streamable-http", "sse")
    ),
    "trae": Row(".config/Trae/User/mcp.json", "json", "mcpServers"),
    "opencode": Row(".config/opencode/opencode.json", "json", "mcp", types=("remote", "remote")),
    "kiro": Row(".kiro/settings/mcp.json", "json", "mcpServers"),
    "antigravity": Row(".gemini/antigravity/mcp_config.json", "json", "mcpServers", "serverUrl"),
    "zed": Row(".config/zed/settings.json", "json", "context_servers"),
    "gemini-cli": Row(".gemini/settings.json", "json", "mcpServers", "httpUrl", "url"),
    "mistral-vibe": Row(
        ".vibe/config.toml",
        "vibe",
        "mcp_servers",
        types=("streamable-http", "http"),
        type_field="transport",
    ),
    "codex": Row(".codex/config.toml", "codex", "mcp_servers"),
    "kimi-cli": Row(".kimi/mcp.json", "json", "mcpServers"),
    "factory": Row(".factory/mcp.json", "json", "mcpServers", types=HTTP),
    "copilot-cli": Row(".copilot/mcp-config.json", "json", "mcpServers", types=HTTP),
    "qoder": Row(".qoder/mcp.json", "json", "mcpServers", types=HTTP),
}

# --- realistic seeds ---------------------------------------------------------------------------


def _j(data: Any, indent: int | str = 2) -> str:
    return json.dumps(data, indent=indent) + "\n"


STDIO_FS = {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]}
SEEDS: dict[str, str] = {
    "vscode": """{
\t// Servers for every workspace
\t"servers": {
\t\t"github": {
\t\t\t"type": "http",
\t\t\t"url": "https://api.githubcopilot.com/mcp/",
\t\t},
\t},
\t"inputs": [
\t\t{"type": "promptString", "id": "token", "description": "GitHub token", "password": true}
\t]
}
""",
    "vscode-insider": _j({"servers": {"fs": STDIO_FS}, "inputs": []}),
    "vscode-server": _j({"inputs": [], "servers": {"fs": STDIO_FS}}, 4),
    "cursor": _j({"mcpServers": {"filesystem": STDIO_FS}}),
    "claude-code": _j(
        {
            "numStartups": 12,
            "theme": "dark",
            "projects": {"/home/me/app": {"allowedTools": [], "mcpServers": {}}},
            "mcpServers": {"sentry": {"type": "http", "url": "https://mcp.sentry.dev/mcp"}},
            "userID": "0f3c",
        }
    ),
    "windsurf": _j({"mcpServers": {"brave": {**STDIO_FS, "env": {"BRAVE_API_KEY": "k"}}}}, 4),
    "windsurf-jetbrains": _j({"mcpServers": {"fs": STDIO_FS}}),
    "cline": _j({"mcpServers": {"weather": {**STDIO_FS, "disabled": False, "autoApprove": []}}}),
    "roo-code": _j({"mcpServers": {"weather": {**STDIO_FS, "alwaysAllow": []}}}),
    "amp-cli": _j(
        {
            "amp.notifications.enabled": True,
            "amp.mcpServers": {"playwright": {"command": "npx", "args": ["@playwright/mcp"]}},
            "amp.tools.stopTimeout": 600,
        }
    ),
    "lm-studio": _j({"mcpServers": {"hf": {"url": "https://huggingface.co/mcp"}}}),
    "goose": """# Goose configuration
GOOSE_PROVIDER: anthropic
GOOSE_MODEL: claude-sonnet-4  # default model
extensions:
  developer:
    bundled: true
    display_name: Developer
    enabled: true
    name: developer
    timeout: 300
    type: builtin
  # fetch pages from the web
  fetch:
    args:
    - mcp-server-fetch
    cmd: uvx
    enabled: false
    envs: {}
    name: fetch
    timeout: 300
    type: stdio
""",
    "continue": """# Continue assistant
name: Local Assistant
version: 1.0.0
schema: v1
models:
  - name: Llama 3.1 8B
    provider: ollama
    model: llama3.1:8b
    roles:
      - chat
      - edit
mcpServers:
  # a local database
  - name: SQLite
    command: npx
    args:
      - -y
      - mcp-sqlite
""",
    "trae": _j({"mcpServers": {"fs": STDIO_FS}}),
    "opencode": _j(
        {
            "$schema": "https://opencode.ai/config.json",
            "theme": "opencode",
            "mcp": {"fs": {"type": "local", "command": ["npx", "-y", "fs"], "enabled": True}},
            "model": "anthropic/claude-sonnet-4",
        }
    ),
    "kiro": _j({"mcpServers": {"fetch": {"command": "uvx", "args": ["mcp-server-fetch"]}}}),
    "antigravity": _j(
        {"mcpServers": {"github": {"serverUrl": "https://api.githubcopilot.com/mcp/"}}}
    ),
    "zed": """// Zed settings
//
// For information on how to configure Zed, see the Zed documentation.
{
  "ui_font_size": 16,
  "theme": {
    "mode": "system",
    "light": "One Light",
    "dark": "One Dark"
  },
  "context_servers": {
    // Postgres for the app
    "postgres": {
      "command": {"path": "npx", "args": ["-y", "@zeddev/postgres-context-server"]},
      "settings": {}
    }
  }
}
""",
    "gemini-cli": _j(
        {
            "theme": "GitHub",
            "selectedAuthType": "oauth-personal",
            "mcpServers": {
                "github": {"httpUrl": "https://api.githubcopilot.com/mcp/", "timeout": 5000}
            },
        }
    ),
    "mistral-vibe": """# Mistral Vibe
active_model = "devstral-2"
textual_theme = "textual-dark"

[[mcp_servers]]
name = "fetch_server"
transport = "stdio"
command = "uvx"
args = ["mcp-server-fetch"]

[tools.bash]
permission = "ask"  # always confirm
""",
    "codex": """# Codex CLI configuration
model = "gpt-5-codex"
approval_policy = "on-request"  # ask before running commands

[mcp_servers.context7]
command = "npx"
args = ["-y", "@upstash/context7-mcp"]

[mcp_servers.context7.env]
API_KEY = "x"

[profiles.fast]
model = "gpt-5-mini"
""",
    "kimi-cli": _j({"mcpServers": {"context7": {"url": "https://mcp.context7.com/mcp"}}}),
    "factory": _j(
        {"mcpServers": {"linear": {"type": "http", "url": "https://mcp.linear.app/mcp"}}}
    ),
    "copilot-cli": _j(
        {"mcpServers": {"pw": {"type": "local", "command": "npx", "args": ["pw"], "tools": ["*"]}}}
    ),
    "qoder": _j({"mcpServers": {"fs": STDIO_FS}}),
}
assert set(SEEDS) == set(ROWS) and len(ROWS) == 25

# --- reading files the way the clients do -------------------------------------------------------


def parse(fmt: str, text: str) -> Any:
    if fmt == "json":
        # JSONC as VS Code/Zed accept it: whole-line comments and trailing commas.
        text = re.sub(r"^\s*//.*$", "", text, flags=re.M)
        return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))
    if fmt in {"goose", "continue"}:
        return yaml.safe_load(text)
    return tomllib.loads(text)


def entries(row: Row, data: Any) -> dict[str, dict[str, Any]]:
    section = data.get(row.key) or ({} if row.fmt in {"json", "goose", "codex"} else [])
    if isinstance(section, list):
        return {item["name"]: item for item in section}
    return dict(section)


def without(row: Row, data: Any, names: set[str]) -> Any:
    """``data`` minus ToolHive's entries."""
    data = json.loads(json.dumps(data))
    section = data.get(row.key)
    if isinstance(section, list):
        data[row.key] = [i for i in section if i.get("name") not in names]
    elif isinstance(section, dict):
        data[row.key] = {k: v for k, v in section.items() if k not in names}
    return data


def expected(row: Row, name: str, url: str, sse: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if row.fmt in {"goose", "continue", "vibe"}:
        entry["name"] = name
    if row.types:
        entry[row.type_field] = row.types[1 if sse else 0]
    entry[row.sse_url_field if sse and row.sse_url_field else row.url_field] = url
    if row.fmt == "goose":
        entry |= {"enabled": True, "timeout": 60, "description": ""}
    return entry


def protocol(row: Row, entry: dict[str, Any]) -> tuple[str, str]:
    """(url, "sse" | "streamable-http") as the client would decide from its own entry."""
    url_field = next(f for f in (row.url_field, row.sse_url_field) if f and f in entry)
    url = entry[url_field]
    if row.types and row.types[0] != row.types[1]:
        kind = "sse" if entry[row.type_field] == row.types[1] else "streamable-http"
    elif row.sse_url_field:
        kind = "sse" if url_field == row.sse_url_field else "streamable-http"
    else:  # no type: the client goes by the endpoint
        kind = "sse" if "/sse" in url else "streamable-http"
    return url, kind


async def _echo(url: str, kind: str, text: str) -> str:
    with anyio.fail_after(30):
        target = sse_client(url) if kind == "sse" else url
        async with Client(target) as client:
            result = await client.call_tool("echo", {"text": text})
            assert not result.is_error, result
            return "".join(c.text for c in result.content if c.type == "text")


def call_echo(url: str, kind: str, text: str) -> str:
    return anyio.run(_echo, url, kind, text)


# --- the shared home -----------------------------------------------------------------------------


@dataclass
class Home:
    path: Path
    thv: Thv
    urls: dict[str, str]

    def file(self, client: str) -> Path:
        return self.path / ROWS[client].path

    def read(self, client: str) -> Any:
        return parse(ROWS[client].fmt, self.file(client).read_text())


def _urls(thv: Thv) -> dict[str, str]:
    return {w["name"]: w["url"] for w in json.loads(thv("list", "--format", "json").stdout)}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    import os

    root = tmp_path_factory.mktemp("clients-home")
    env = {
        **os.environ,
        "HOME": str(root),
        "XDG_CONFIG_HOME": str(root / ".config"),
        "XDG_DATA_HOME": str(root / ".local/share"),
        "XDG_STATE_HOME": str(root / ".local/state"),
        "TOOLHIVE_STRICT_PLUGINS": "1",
    }
    env.pop("XDG_CACHE_HOME", None)
    thv = Thv(env)
    for client, seed in SEEDS.items():
        path = root / ROWS[client].path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(seed)
    clients = sorted(ROWS)
    early, late = clients[::2], clients[1::2]
    thv("client", "register", *early)
    thv("run", "--runtime", "process", "--name", HTTP_WL, *ECHO)
    thv("run", "--runtime", "process", "--name", SSE_WL, "--proxy-mode", "sse", *ECHO)
    out = thv("client", "register", *late).stdout
    assert HTTP_WL in out and SSE_WL in out  # existing workloads added at registration
    try:
        yield Home(root, thv, _urls(thv))
    finally:
        thv("rm", "--all", check=False)


# --- the checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("client", sorted(ROWS))
def test_client_file_has_both_workloads_and_they_answer(home: Home, client: str):
    row = ROWS[client]
    data = home.read(client)
    found = entries(row, data)
    assert found[HTTP_WL] == expected(row, HTTP_WL, home.urls[HTTP_WL], sse=False)
    assert found[SSE_WL] == expected(row, SSE_WL, home.urls[SSE_WL], sse=True)
    # Every unrelated key, server and comment is still there.
    assert without(row, data, {HTTP_WL, SSE_WL}) == parse(row.fmt, SEEDS[client])
    text = home.file(client).read_text()
    for line in SEEDS[client].splitlines():
        if line.strip().startswith(("#", "//")) or "# " in line:
            assert line.strip() in text, f"lost {line!r}"
    # Through the URL and type read from the file, as the client would connect.
    for name in (HTTP_WL, SSE_WL):
        url, kind = protocol(row, found[name])
        assert kind == ("sse" if name == SSE_WL else "streamable-http")
        assert call_echo(url, kind, f"{client} via {name}") == f"{client} via {name}"


def test_status_and_list_registered(home: Home):
    status = {
        r["name"]: r for r in json.loads(home.thv("client", "status", "--format", "json").stdout)
    }
    assert set(status) == set(ROWS)
    assert all(
        r["installed"] and r["registered"] and r["groups"] == ["default"] for r in status.values()
    )
    assert status["codex"]["config_path"] == str(home.file("codex"))
    listed = home.thv("client", "list-registered").stdout.splitlines()
    assert [line.split()[0] for line in listed[1:]] == sorted(ROWS)


def test_remote_workload_reaches_clients(home: Home):
    thv = home.thv
    thv("run", "--name", REMOTE_WL, home.urls[HTTP_WL])
    try:
        url = _urls(thv)[REMOTE_WL]
        for client in ("claude-code", "codex", "continue"):
            row = ROWS[client]
            entry = entries(row, home.read(client))[REMOTE_WL]
            assert entry == expected(row, REMOTE_WL, url, sse=False)
            assert call_echo(*protocol(row, entry), "remote") == "remote"
    finally:
        thv("rm", REMOTE_WL)
    for client in ("claude-code", "codex", "continue"):
        assert REMOTE_WL not in entries(ROWS[client], home.read(client))


def test_client_remove_and_register_again(home: Home):
    thv = home.thv
    thv("client", "remove", "kiro")
    assert entries(ROWS["kiro"], home.read("kiro")) == entries(
        ROWS["kiro"], parse("json", SEEDS["kiro"])
    )
    assert "kiro" not in thv("client", "list-registered").stdout
    thv("client", "register", "kiro")  # re-added: back in sync (stacklok/toolhive#1953)
    assert {HTTP_WL, SSE_WL} <= set(entries(ROWS["kiro"], home.read("kiro")))
    # A backup of the previous version sits next to the file.
    assert Path(str(home.file("kiro")) + ".toolhive.bak").exists()


def test_bad_client_and_group_are_errors(home: Home):
    proc = home.thv("client", "register", "notepad", check=False)
    assert proc.returncode == 1 and "unknown client 'notepad'" in proc.stderr
    assert "claude-code" in proc.stderr  # lists the valid ones
    proc = home.thv("client", "register", "cursor", "--group", "ghost", check=False)
    assert proc.returncode == 1 and "group 'ghost' does not exist" in proc.stderr


def test_stop_and_rm_restore_every_file(home: Home):
    thv = home.thv
    thv("stop", SSE_WL)
    for client, row in ROWS.items():
        found = entries(row, home.read(client))
        assert SSE_WL not in found and HTTP_WL in found, client
    thv("restart", SSE_WL)  # running again: back in every file, same URL
    for client, row in ROWS.items():
        assert entries(row, home.read(client))[SSE_WL] == expected(
            row, SSE_WL, home.urls[SSE_WL], sse=True
        ), client
    thv("rm", HTTP_WL, SSE_WL)
    for client in ROWS:
        assert home.file(client).read_text() == SEEDS[client], client
