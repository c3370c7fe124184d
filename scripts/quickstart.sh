#!/usr/bin/env bash
# Quick start: install ToolHive from this checkout, run the `mcp-server-time` MCP server
# (in a container if an engine is present, else as a sandboxed process) and call its
# `get_current_time` tool through `thv`.
#
# Installs: uv (pip, if missing), the workspace (uv sync), and bubblewrap if you are root and it
# is missing (the process runtime's sandbox). Then links `thv` (and `uv`, if it installed it) into
# a folder already on your PATH (scripts/install-commands.sh), so `thv list` works in this shell
# right away. Re-running it is fine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n==> %s\n' "$*"; }
CALLER_PATH=$PATH

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv"
  # --user first; Debian's system Python refuses plain pip installs (PEP 668); no pip at all:
  # Astral's installer, into ~/.local/bin without touching shell profiles.
  python3 -m pip install --quiet --user uv 2>/dev/null ||
    python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null ||
    python3 -m pip install --quiet uv 2>/dev/null ||
    curl -LsSf https://astral.sh/uv/install.sh | UV_NO_MODIFY_PATH=1 sh
  PATH="$(python3 -m site --user-base)/bin:$HOME/.local/bin:$PATH"
fi
if ! command -v bwrap >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing bubblewrap (sandbox for the process runtime)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "bubblewrap is missing: install it (e.g. sudo apt-get install bubblewrap) for sandboxed servers" >&2
  fi
fi

say "installing the workspace"
uv sync --quiet
say "putting thv on your PATH"
PATH=$CALLER_PATH UV=$(command -v uv) bash scripts/install-commands.sh
thv() { uv run --quiet thv "$@"; }

say "runtimes"
thv runtime check || true

NAME=quickstart-time
thv rm "$NAME" >/dev/null 2>&1 || true
say "thv run uvx://mcp-server-time --name $NAME"
thv run uvx://mcp-server-time --name "$NAME"

say "thv mcp list tools --server $NAME"
thv mcp list tools --server "$NAME"

say "thv mcp call get_current_time --server $NAME --args '{\"timezone\": \"UTC\"}'"
thv mcp call get_current_time --server "$NAME" --args '{"timezone": "UTC"}'

URL=$(thv list --format json | python3 -c "import json,sys; print(next(w['url'] for w in json.load(sys.stdin) if w['name']=='$NAME'))")
say "done: point your MCP client at $URL"
echo "    (stop it with: thv stop $NAME; remove it with: thv rm $NAME)"
