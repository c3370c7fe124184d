"""The built-in AI-client integrations: ToolHive's 25 clients, from one table.

Each row says where the client keeps its MCP servers (per platform, relative to the home folder),
the servers key, the URL field and the ``type`` value per transport (stdio, sse, streamable-http),
exactly as ToolHive (Go) writes them. The editing engine is imported only when a client is used.
"""

from __future__ import annotations

from collections.abc import Callable

from toolhive.clients.definition import ClientDefinition as C
from toolhive.contracts import ClientIntegration, ClientSpec, hookimpl

_L, _M, _W = ".config", "Library/Application Support", "AppData/Roaming"
_HTTP = ("http", "sse", "http")


def _std(rel: str) -> tuple[str, str, str]:
    """``{L,M,W}/rel``: the platform's application-settings folder."""
    return f"{_L}/{rel}", f"{_M}/{rel}", f"{_W}/{rel}"


def _home(rel: str) -> tuple[str, str, str]:
    return rel, rel, rel


_VSCODE_EXT = "Code/User/globalStorage"

TABLE: tuple[C, ...] = (
    C("vscode", "Visual Studio Code", *_std("Code/User/mcp.json"), "json", "servers", types=_HTTP),
    C(
        "vscode-insider",
        "Visual Studio Code Insiders",
        *_std("Code - Insiders/User/mcp.json"),
        "json",
        "servers",
        types=_HTTP,
    ),
    C(
        "vscode-server",
        "VS Code Server (remote development)",
        *_home(".vscode-server/data/User/mcp.json"),
        "json",
        "servers",
        types=_HTTP,
    ),
    C("cursor", "Cursor", *_home(".cursor/mcp.json"), "json", "mcpServers", types=_HTTP),
    C("claude-code", "Claude Code CLI", *_home(".claude.json"), "json", "mcpServers", types=_HTTP),
    C(
        "windsurf",
        "Windsurf",
        *_home(".codeium/windsurf/mcp_config.json"),
        "json",
        "mcpServers",
        url_field="serverUrl",
        types=_HTTP,
    ),
    C(
        "windsurf-jetbrains",
        "Windsurf for JetBrains IDEs",
        *_home(".codeium/mcp_config.json"),
        "json",
        "mcpServers",
        url_field="serverUrl",
        types=_HTTP,
    ),
    C(
        "cline",
        "Cline (VS Code extension)",
        *_std(f"{_VSCODE_EXT}/saoudrizwan.claude-dev/settings/cline_mcp_settings.json"),
        "json",
        "mcpServers",
        types=("streamableHttp", "sse", "streamableHttp"),
    ),
    C(
        "roo-code",
        "Roo Code (VS Code extension; deprecated)",
        *_std(f"{_VSCODE_EXT}/rooveterinaryinc.roo-cline/settings/mcp_settings.json"),
        "json",
        "mcpServers",
        types=("streamable-http", "sse", "streamable-http"),
        deprecated=True,
    ),
    C(
        "amp-cli",
        "Sourcegraph Amp CLI",
        ".config/amp/settings.json",
        ".config/amp/settings.json",
        f"{_W}/amp/settings.json",
        "json",
        "amp.mcpServers",
        types=_HTTP,
    ),
    C("lm-studio", "LM Studio", *_home(".lmstudio/mcp.json"), "json", "mcpServers", types=_HTTP),
    C(
        "goose",
        "Goose AI agent",
        ".config/goose/config.yaml",
        ".config/goose/config.yaml",
        "AppData/Block/goose/config.yaml",
        "yaml-map",
        "extensions",
        url_field="uri",
        types=("streamable_http", "sse", "streamable_http"),
        defaults=(("enabled", True), ("timeout", 60), ("description", "")),
    ),
    C(
        "continue",
        "Continue (VS Code / JetBrains extension)",
        *_home(".continue/config.yaml"),
        "yaml-list",
        "mcpServers",
        types=("streamable-http", "sse", "streamable-http"),
    ),
    C("trae", "Trae IDE", *_std("Trae/User/mcp.json"), "json", "mcpServers"),
    C(
        "opencode",
        "OpenCode",
        *_home(".config/opencode/opencode.json"),
        "json",
        "mcp",
        types=("remote", "remote", "remote"),
    ),
    C("kiro", "Kiro", *_home(".kiro/settings/mcp.json"), "json", "mcpServers"),
    C(
        "antigravity",
        "Google Antigravity",
        *_home(".gemini/antigravity/mcp_config.json"),
        "json",
        "mcpServers",
        url_field="serverUrl",
    ),
    C(
        "zed",
        "Zed",
        ".config/zed/settings.json",
        ".config/zed/settings.json",
        f"{_W}/zed/settings.json",
        "json",
        "context_servers",
    ),
    C(
        "gemini-cli",
        "Gemini CLI",
        *_home(".gemini/settings.json"),
        "json",
        "mcpServers",
        url_field="httpUrl",
        sse_url_field="url",
    ),
    C(
        "mistral-vibe",
        "Mistral Vibe CLI",
        *_home(".vibe/config.toml"),
        "toml-array",
        "mcp_servers",
        types=("streamable-http", "http", "streamable-http"),
        type_field="transport",
    ),
    C("codex", "OpenAI Codex CLI", *_home(".codex/config.toml"), "toml-tables", "mcp_servers"),
    C("kimi-cli", "Kimi CLI", *_home(".kimi/mcp.json"), "json", "mcpServers"),
    C("factory", "Factory (droid)", *_home(".factory/mcp.json"), "json", "mcpServers", types=_HTTP),
    C(
        "copilot-cli",
        "GitHub Copilot CLI",
        *_home(".copilot/mcp-config.json"),
        "json",
        "mcpServers",
        types=_HTTP,
    ),
    C(
        "qoder",
        "Qoder",
        ".qoder/mcp.json",
        ".qoder/mcp.json",
        f"{_W}/Qoder/SharedClientCache/mcp.json",
        "json",
        "mcpServers",
        types=_HTTP,
    ),
)


def _loader(definition: C) -> Callable[[], ClientIntegration]:
    def load() -> ClientIntegration:
        from toolhive.clients.config_file import ConfigFileClient

        return ConfigFileClient(definition)

    return load


@hookimpl
def thv_client_integrations() -> list[ClientSpec]:
    return [
        ClientSpec(name=row.name, description=row.description, load=_loader(row)) for row in TABLE
    ]
