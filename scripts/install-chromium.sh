#!/usr/bin/env bash
# Install Debian's `chromium`: the real browser the web UI's Playwright tests drive (Playwright's own
# browser download is not reachable here, so the tests pass executable_path=/usr/bin/chromium).
#
# Idempotent: a fast no-op when /usr/bin/chromium (or `chromium` on PATH) is there.
# It changes the system only on a disposable machine: CI=true, or --yes on the command line.
# Otherwise it prints how to add it and exits 1.
#
# Usage: scripts/install-chromium.sh [--yes]
set -euo pipefail

LOG_TAG=install-chromium
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
consent_args "$@"

if command -v chromium >/dev/null 2>&1; then
  log "chromium present: $(command -v chromium)"
  exit 0
fi

if ((!APPLY)); then
  echo "[install-chromium] missing: Chromium (Debian package 'chromium'). Add it with:"
  echo "      sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium"
  echo "  or run this script with --yes (or CI=true) on a disposable machine."
  exit 1
fi
((EUID == 0)) || die "installing packages needs root (run as root or via sudo)"
command -v apt-get >/dev/null 2>&1 || die "no apt-get: install Chromium so that 'chromium' is on PATH"

apt_update
log "apt-get install chromium"
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core
command -v chromium >/dev/null 2>&1 || die "package installed but 'chromium' is not on PATH"
log "installed: $(chromium --version 2>&1 | head -1)"
