"""Built-in client integrations, one per config-file format, run the client contract suite."""

from __future__ import annotations

from toolhive.testing import ClientIntegrationContract


class TestClaudeCode(ClientIntegrationContract):
    """JSON, servers under ``mcpServers`` in a file full of other settings."""

    name = "claude-code"
    existing_config = (
        '{\n  "theme": "dark",\n  "numStartups": 42,\n'
        '  "mcpServers": {\n    "mine": {"command": "npx", "args": ["-y", "my-server"]}\n  },\n'
        '  "projects": {"/home/u/src": {"allowedTools": ["Bash"]}}\n}\n'
    )
    preserved = ('"theme": "dark"', '"numStartups": 42', '"mine"', '"my-server"', '"allowedTools"')


class TestVSCode(ClientIntegrationContract):
    """JSON with comments (VS Code's ``mcp.json``), servers under ``servers``."""

    name = "vscode"
    existing_config = (
        "// my MCP servers\n{\n"
        '  "inputs": [{"id": "token", "type": "promptString"}],\n'
        '  "servers": {\n    // the one I wrote by hand\n'
        '    "mine": {"type": "stdio", "command": "my-server"}\n  }\n}\n'
    )
    preserved = ("// my MCP servers", "// the one I wrote by hand", '"inputs"', '"mine"')


class TestGoose(ClientIntegrationContract):
    """YAML map, servers under ``extensions``."""

    name = "goose"
    existing_config = (
        "# goose settings\nGOOSE_PROVIDER: openai\nextensions:\n"
        "  developer:\n    enabled: true\n    type: builtin\n"
    )
    preserved = ("# goose settings", "GOOSE_PROVIDER: openai", "developer:", "type: builtin")


class TestContinue(ClientIntegrationContract):
    """YAML list of servers with a ``name`` field."""

    name = "continue"
    existing_config = (
        "name: My Assistant\nversion: 1.0.0\nmodels:\n  - name: local\n    provider: ollama\n"
        "mcpServers:\n  - name: mine\n    command: my-server\n"
    )
    preserved = ("name: My Assistant", "provider: ollama", "name: mine", "command: my-server")


class TestCodex(ClientIntegrationContract):
    """TOML tables, ``[mcp_servers.<name>]``."""

    name = "codex"
    existing_config = (
        '# codex\nmodel = "o4-mini"\n\n[mcp_servers.mine]\ncommand = "my-server"\n'
        'args = ["--quiet"]\n'
    )
    preserved = ("# codex", 'model = "o4-mini"', "[mcp_servers.mine]", 'args = ["--quiet"]')


class TestMistralVibe(ClientIntegrationContract):
    """TOML array of tables, ``[[mcp_servers]]`` with a ``name`` field."""

    name = "mistral-vibe"
    existing_config = (
        'active_model = "devstral"\n\n[[mcp_servers]]\nname = "mine"\ntransport = "stdio"\n'
        'command = "my-server"\n'
    )
    preserved = ('active_model = "devstral"', 'name = "mine"', 'command = "my-server"')
