# Shared by scripts/install-engines.sh, install-prometheus.sh and build-test-images.sh; source it
# after setting LOG_TAG (the "[tag]" of every message):
#   LOG_TAG=install-foo
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck shell=bash

log() { echo "[$LOG_TAG] $*"; }
die() {
  echo "[$LOG_TAG] ERROR: $*" >&2
  exit 1
}

# flag_args VAR FLAG... -- ARG...: sets VAR=1 when an ARG is one of the FLAGs; -h/--help prints the
# comment block at the top of the calling script and exits 0; any other ARG exits 2.
flag_args() {
  local var="$1" arg flag
  shift
  local flags=()
  while (($#)) && [[ "$1" != "--" ]]; do
    flags+=("$1")
    shift
  done
  shift
  for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
    fi
    for flag in "${flags[@]}"; do
      if [[ "$arg" == "$flag" ]]; then
        printf -v "$var" 1
        continue 2
      fi
    done
    echo "unknown argument: $arg (try --help)" >&2
    exit 2
  done
}

# consent_args ARG...: APPLY=1 (change the system) on a disposable machine: CI=true, or --yes / -y.
consent_args() {
  APPLY=0
  if [[ "${CI:-}" == "true" ]]; then APPLY=1; fi
  flag_args APPLY -y --yes -- "$@"
}

# apt_update: wait for another apt/dpkg run (e.g. a provisioning step) that may hold the apt/dpkg
# locks rather than fail (DPkg::Lock::Timeout is a second line of defence for the dpkg lock), then
# `apt-get update`, non-interactive from here on.
apt_update() {
  local waited=0
  while pgrep -x 'apt-get|apt|dpkg|unattended-upgr' >/dev/null; do
    if ((waited == 0)); then log "waiting for another apt/dpkg process to finish..."; fi
    if ((waited >= 1800)); then die "apt/dpkg still busy after ${waited}s"; fi
    sleep 5
    waited=$((waited + 5))
  done
  export DEBIAN_FRONTEND=noninteractive
  log "apt-get update"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
}
