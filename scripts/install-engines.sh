#!/usr/bin/env bash
# Install and start the container engines (and sandbox tools) the integration tests need:
#   - Podman (runtime runc) with its Docker-compatible API at unix:///run/podman/podman.sock
#   - Docker (dockerd from Debian's docker.io) at unix:///var/run/docker.sock
#   - bubblewrap, busybox-static, debootstrap, uidmap (used by the sandbox tests and image builds)
#
# Idempotent: whatever is already installed, configured or answering is left alone.
# It changes the system only on a disposable machine: CI=true, or --yes on the command line.
# Otherwise it prints what is missing and how to add it, and exits 1.
#
# Usage: scripts/install-engines.sh [--yes]
set -euo pipefail

PODMAN_SOCK=/run/podman/podman.sock
DOCKER_SOCK=/var/run/docker.sock
CONTAINERS_CONF=/etc/containers/containers.conf
PODMAN_LOG=/var/log/podman-service.log
DOCKERD_LOG=/var/log/dockerd.log
PID_DIR=/run/toolhive-test # pid files of the daemons this script started
PING_TIMEOUT=60            # seconds to wait for each engine to answer /_ping
# catatonit: Podman's init (the runtimes' `init` setting is on by default); only a Recommends
# of podman. Docker's init (docker-init) ships in docker.io itself.
PACKAGES=(podman catatonit runc docker.io bubblewrap busybox-static debootstrap uidmap curl redis-server)

# Why this config: the kernel refuses to raise rlimits (no CAP_SYS_RESOURCE), so Podman's default
# ulimits fail with "setrlimit ... Operation not permitted"; crun fails on the hybrid cgroup layout,
# runc works. (See shared/environment.md.)
CONTAINERS_CONF_TEXT='[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1000:1000"]
[engine]
runtime = "runc"
'

LOG_TAG=install-engines
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
consent_args "$@"

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }
conf_ok() { [[ -f "$CONTAINERS_CONF" ]] && [[ "$(cat "$CONTAINERS_CONF")"$'\n' == "$CONTAINERS_CONF_TEXT" ]]; }
# Both Podman's compat API and dockerd answer GET /_ping with "OK"; the host part of the URL is ignored.
ping_sock() { command -v curl >/dev/null && curl -sf --max-time 3 --unix-socket "$1" http://d/_ping >/dev/null 2>&1; }

# our_daemon_alive NAME: the daemon this script started earlier is still running. Not just `kill -0`:
# PID 1 on these VMs does not reap orphans, so a dead daemon lingers as a zombie; and the pid may
# have been reused by another program.
our_daemon_alive() {
  local pidfile="$PID_DIR/$1.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ "$(ps -o comm= -p "$pid" 2>/dev/null)" == "$1" ]] && [[ "$(ps -o stat= -p "$pid")" != Z* ]]
}

# ---------------------------------------------------------------------------------------------
# 1. Find out what is missing.
# ---------------------------------------------------------------------------------------------
missing_pkgs=()
for p in "${PACKAGES[@]}"; do pkg_installed "$p" || missing_pkgs+=("$p"); done
need_conf=0
conf_ok || need_conf=1
need_podman=0
ping_sock "$PODMAN_SOCK" || need_podman=1
need_docker=0
ping_sock "$DOCKER_SOCK" || need_docker=1

if ((${#missing_pkgs[@]} == 0 && need_conf == 0 && need_podman == 0 && need_docker == 0)); then
  log "everything is installed and both engines answer; nothing to do"
  exit 0
fi

if ((APPLY == 0)); then
  echo "The container engines for the integration tests are not (fully) set up on this machine."
  echo "Missing:"
  if ((${#missing_pkgs[@]})); then
    echo "  - Debian packages: ${missing_pkgs[*]}"
    echo "      sudo apt-get update && sudo apt-get install -y ${missing_pkgs[*]}"
  fi
  if ((need_conf)); then
    echo "  - $CONTAINERS_CONF with exactly this content (ulimits the kernel allows; runc instead of crun):"
    echo "      sudo mkdir -p ${CONTAINERS_CONF%/*} && sudo tee $CONTAINERS_CONF >/dev/null <<'EOF'"
    printf '%sEOF\n' "$CONTAINERS_CONF_TEXT" # not indented, so that it can be pasted as is
  fi
  if ((need_podman)); then
    echo "  - the Podman API service at unix://$PODMAN_SOCK:"
    echo "      sudo sh -c 'mkdir -p ${PODMAN_SOCK%/*} && nohup podman system service --time=0 unix://$PODMAN_SOCK >>$PODMAN_LOG 2>&1 &'"
  fi
  if ((need_docker)); then
    echo "  - dockerd at unix://$DOCKER_SOCK:"
    echo "      sudo sh -c 'nohup dockerd --host unix://$DOCKER_SOCK >>$DOCKERD_LOG 2>&1 &'"
  fi
  echo "This script makes these changes itself only on a disposable machine: rerun it with --yes (or CI=true)."
  exit 1
fi

((EUID == 0)) || die "making system changes needs root (run as root or via sudo)"

# ---------------------------------------------------------------------------------------------
# 2. Packages.
# ---------------------------------------------------------------------------------------------
if ((${#missing_pkgs[@]})); then
  apt_update
  log "apt-get install ${missing_pkgs[*]}"
  # Recommends are wanted: they bring netavark/containernetworking-plugins, slirp4netns, fuse-overlayfs.
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing_pkgs[@]}"
  for p in "${missing_pkgs[@]}"; do pkg_installed "$p" || die "package $p still not installed"; done
fi

# ---------------------------------------------------------------------------------------------
# 3. /etc/containers/containers.conf
# ---------------------------------------------------------------------------------------------
mkdir -p "$PID_DIR"
if ((need_conf)); then
  mkdir -p "${CONTAINERS_CONF%/*}"
  if [[ -f "$CONTAINERS_CONF" ]]; then
    cp -p "$CONTAINERS_CONF" "$CONTAINERS_CONF.bak.$(date +%s)"
    log "replacing $CONTAINERS_CONF (old one backed up next to it)"
  else
    log "writing $CONTAINERS_CONF"
  fi
  printf '%s' "$CONTAINERS_CONF_TEXT" >"$CONTAINERS_CONF"
  # A Podman service started by us earlier read the old config: restart it.
  if our_daemon_alive podman; then
    log "restarting the Podman service to pick up the new config"
    kill "$(cat "$PID_DIR/podman.pid")"
    sleep 1
    need_podman=1
  fi
fi

# ---------------------------------------------------------------------------------------------
# 4. Engine daemons.
# ---------------------------------------------------------------------------------------------
# start_daemon NAME SOCKET LOGFILE CMD... : start CMD detached (own session, survives this shell)
start_daemon() {
  local name=$1 sock=$2 logfile=$3
  shift 3
  local pidfile="$PID_DIR/$name.pid"
  if our_daemon_alive "$name"; then
    log "$name (pid $(cat "$pidfile")) is running but not answering yet; waiting for it"
    return 0
  fi
  # A socket file left by a daemon that is gone would make the new one fail to bind.
  rm -f "$sock"
  mkdir -p "${sock%/*}"
  log "starting $name: $* (log: $logfile)"
  # setsid + nohup: the daemon must outlive this script and the CI step that ran it.
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

wait_for_ping() {
  local name=$1 sock=$2 logfile=$3 i
  for ((i = 0; i < PING_TIMEOUT; i++)); do
    if ping_sock "$sock"; then
      log "$name answers on unix://$sock (after ${i}s)"
      return 0
    fi
    sleep 1
  done
  echo "----- last lines of $logfile -----" >&2
  tail -n 30 "$logfile" >&2 || true
  die "$name did not answer on unix://$sock within ${PING_TIMEOUT}s"
}

if ((need_podman)); then
  # --time=0: never exit for inactivity.
  start_daemon podman "$PODMAN_SOCK" "$PODMAN_LOG" podman system service --time=0 "unix://$PODMAN_SOCK"
fi
if ((need_docker)); then
  start_daemon dockerd "$DOCKER_SOCK" "$DOCKERD_LOG" dockerd --host "unix://$DOCKER_SOCK"
fi
if ((need_podman)); then wait_for_ping "Podman" "$PODMAN_SOCK" "$PODMAN_LOG"; fi
if ((need_docker)); then wait_for_ping "dockerd" "$DOCKER_SOCK" "$DOCKERD_LOG"; fi
log "done"
