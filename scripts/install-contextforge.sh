#!/usr/bin/env bash
# Install IBM ContextForge (PyPI `mcp-contextforge-gateway`, pinned) into a venv of its own, for
# benchmarks/vmcp.py to measure its virtual servers next to our gateway. Never into the workspace's
# venv: ContextForge pins its own FastAPI, SQLAlchemy, mcp … versions.
#
# The venv: $TOOLHIVE_BENCH_VENV, else /var/cache/toolhive-test/bench-venvs/contextforge.
# Idempotent: a fast no-op when the venv already has this version's `mcpgateway` entry point.
# Needs `uv` on PATH and PyPI; changes nothing outside the venv folder.
#
# Usage: scripts/install-contextforge.sh            (prints the venv's path on its last line)
set -euo pipefail

LOG_TAG=install-contextforge
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
flag_args _UNUSED -- "$@"

VERSION=1.0.7
VENV="${TOOLHIVE_BENCH_VENV:-/var/cache/toolhive-test/bench-venvs/contextforge}"
STAMP="$VENV/.contextforge-$VERSION"

if [[ -f "$STAMP" && -x "$VENV/bin/mcpgateway" ]]; then
  log "present: mcp-contextforge-gateway $VERSION in $VENV"
  echo "$VENV"
  exit 0
fi
command -v uv >/dev/null 2>&1 || die "uv is not on PATH (https://docs.astral.sh/uv/)"
mkdir -p "$(dirname "$VENV")"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "uv venv $VENV"
  # Python 3.12: ContextForge 1.0.7 supports >= 3.11; any interpreter uv finds that fits will do.
  uv venv --quiet --python ">=3.11" "$VENV"
fi
log "uv pip install mcp-contextforge-gateway==$VERSION (a few hundred MB; first run takes minutes)"
uv pip install --quiet --python "$VENV/bin/python" "mcp-contextforge-gateway==$VERSION"
[[ -x "$VENV/bin/mcpgateway" ]] || die "installed, but $VENV/bin/mcpgateway is missing"
touch "$STAMP"
log "installed: mcp-contextforge-gateway $VERSION in $VENV"
echo "$VENV"
