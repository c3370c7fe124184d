#!/usr/bin/env bash
# Install Debian's `prometheus` package: the real Prometheus server the telemetry plugin's tests start
# (on a free port, with their own config and data folder) to scrape a workload's /metrics.
#
# Idempotent: a fast no-op when the `prometheus` binary is already on PATH. The package's own service
# is not started (the tests run the binary themselves); Recommends (node exporter …) are skipped.
# It changes the system only on a disposable machine: CI=true, or --yes on the command line.
# Otherwise it prints how to add it and exits 1.
#
# Usage: scripts/install-prometheus.sh [--yes]
set -euo pipefail

LOG_TAG=install-prometheus
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
consent_args "$@"

if command -v prometheus >/dev/null 2>&1; then
  log "prometheus present: $(command -v prometheus)"
  exit 0
fi

if ((!APPLY)); then
  echo "[install-prometheus] missing: the prometheus binary (Debian package 'prometheus'). Add it with:"
  echo "      sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus"
  echo "  or run this script with --yes (or CI=true) on a disposable machine."
  exit 1
fi
((EUID == 0)) || die "installing packages needs root (run as root or via sudo)"
command -v apt-get >/dev/null 2>&1 || die "no apt-get: install Prometheus (>= 2.x) so that 'prometheus' is on PATH"

# The package enables and starts prometheus.service; the tests need only the binary, and a daemon
# left on :9090 would be one more thing to clean up. RUNLEVEL=1 makes invoke-rc.d skip the start.
export RUNLEVEL=1
apt_update
log "apt-get install prometheus"
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends prometheus
command -v prometheus >/dev/null 2>&1 || die "package installed but 'prometheus' is not on PATH"
log "installed: $(prometheus --version 2>&1 | head -1)"
