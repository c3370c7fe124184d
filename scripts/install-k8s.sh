#!/usr/bin/env bash
# Build the single-node test cluster's Kubernetes 1.20.2 from Debian's source package and cache it.
# (How and why: docs/kubernetes-cluster.md; verified recipe: shared/k8s-cluster.md.)
#
#   $K8S/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubectl}
#   $K8S/k8s-1.20.2-debian-bin.tar.gz     the same six binaries packed (≈ 87 MB)
#   $K8S/images/pause/pause               the sandbox binary (static, from the tree's pause.c)
#   dockerd: localhost/pause:3.4          the pod sandbox image, `docker import`ed (no registry here)
#
# K8S defaults to /var/cache/toolhive-test/k8s (env TOOLHIVE_K8S_DIR). The build (≈ 11 min of both
# cores, nice -n 19) runs only when the binaries are missing or their recipe hash (Debian version,
# kubelet patch, build script, Go version) changed: a second run is a fast no-op. The 2 GB source
# tree is removed after a successful build unless --keep-source is given (a kept tree makes a
# rebuild after a patch change incremental).
#
# Installs Debian packages and adds a deb-src entry only on a disposable machine: CI=true, or --yes.
# Otherwise it prints what is missing and exits 1. The cluster itself: scripts/k8s-cluster.sh.
#
# Usage: scripts/install-k8s.sh [--yes] [--keep-source] [--force]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S="${TOOLHIVE_K8S_DIR:-/var/cache/toolhive-test/k8s}"
DOCKER_SOCK=/var/run/docker.sock
export DOCKER_HOST="unix://$DOCKER_SOCK" # the kubelet's engine is dockerd, never Podman's socket

DEB_VERSION="1.20.5+really1.20.2-1.1+deb12u1" # bookworm's kubernetes source package
PATCH="$REPO_ROOT/scripts/k8s/kubelet-oom-score-adj.patch"
BUILD_SCRIPT="$REPO_ROOT/scripts/k8s/build.sh"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
TARBALL="$K8S/k8s-1.20.2-debian-bin.tar.gz"
SRC_TREE="$K8S/k8s-src"
PAUSE_IMAGE=localhost/pause:3.4
LABEL=toolhive-test.recipe
DEB_SRC_FILE=/etc/apt/sources.list.d/debian-src.sources
# Needed to run the cluster (and build the pause image) / needed only to build the binaries.
RUN_PKGS=(etcd-server conntrack iptables socat ebtables ethtool jq openssl bc curl busybox-static gcc libc6-dev docker.io)
BUILD_PKGS=(golang-go dpkg-dev rsync golang-github-modern-go-reflect2-dev)
REFLECT2=/usr/share/gocode/src/github.com/modern-go/reflect2

LOG_TAG=install-k8s
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"
KEEP_SOURCE=0
FORCE=0
rest=()
for arg in "$@"; do
  case "$arg" in
    --keep-source) KEEP_SOURCE=1 ;;
    --force) FORCE=1 ;;
    *) rest+=("$arg") ;;
  esac
done
consent_args "${rest[@]}"
sha() { sha256sum | cut -c1-16; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }
have_deb_src() { grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; }

# recipe: everything the binaries are built from. A change rebuilds them.
recipe() {
  (
    echo "k8s-bin-v1 $DEB_VERSION"
    echo "reflect2 from Debian: $(dpkg-query -W -f='${Version}' golang-github-modern-go-reflect2-dev 2>/dev/null)"
    cat "$PATCH" "$BUILD_SCRIPT"
    go version 2>/dev/null || echo "no go"
  ) | sha
}
binaries_ok() { # binaries_ok RECIPE: all six in $K8S/bin and built by RECIPE
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$K8S/bin/$b" ]] || return 1; done
  [[ "$(cat "$K8S/bin/.recipe" 2>/dev/null)" == "$1" ]]
}

((EUID == 0)) || die "must run as root (packages, $K8S, docker)"
start=$SECONDS
# One run at a time per cache (a second one waits, then finds the binaries built).
mkdir -p "$K8S"
exec 8>"$K8S/install.lock"
if ! flock -n 8; then
  log "another scripts/install-k8s.sh is running on $K8S; waiting for it"
  flock 8
fi

# --- 1. packages (the build packages only when a build is needed) --------------------------------
missing=()
for p in "${RUN_PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
# The recipe depends on go's version: with the cached binaries present and go not installed, the
# recipe of the cache is trusted (it was written by a build on this machine).
need_build=1
if command -v go >/dev/null && pkg_installed golang-github-modern-go-reflect2-dev; then
  RECIPE="$(recipe)"
  if ((FORCE == 0)) && binaries_ok "$RECIPE"; then need_build=0; fi
elif ((FORCE == 0)) && [[ -s "$K8S/bin/.recipe" ]] && binaries_ok "$(cat "$K8S/bin/.recipe")"; then
  RECIPE="$(cat "$K8S/bin/.recipe")"
  need_build=0
fi
if ((need_build)); then
  for p in "${BUILD_PKGS[@]}"; do pkg_installed "$p" || missing+=("$p"); done
fi
need_src=0
((need_build)) && ! have_deb_src && need_src=1

if ((${#missing[@]} || need_src)); then
  if ((APPLY == 0)); then
    echo "The Kubernetes test cluster is not (fully) set up on this machine. Missing:"
    if ((${#missing[@]})); then
      echo "  - Debian packages: ${missing[*]}"
      echo "      sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    fi
    if ((need_src)); then
      echo "  - a deb-src entry for bookworm (for apt-get source kubernetes): $DEB_SRC_FILE with"
      printf '      %s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" "Suites: bookworm bookworm-updates" \
        "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
    echo "This script makes these changes itself only on a disposable machine: rerun it with --yes (or CI=true)."
    exit 1
  fi
  if ((need_src)); then
    log "adding the deb-src entry $DEB_SRC_FILE"
    # The same archive as the binary entry (the only Debian host reachable here).
    cat >"$DEB_SRC_FILE" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  fi
  apt_update
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
    for p in "${missing[@]}"; do pkg_installed "$p" || die "package $p still not installed"; done
  fi
  if ((need_build)); then
    RECIPE="$(recipe)"
    if ((FORCE == 0)) && binaries_ok "$RECIPE"; then need_build=0; fi
  fi
fi
mkdir -p "$K8S"

# --- 2. binaries: cached tarball, or build from source -------------------------------------------
install_binaries() { # from $1 (a directory holding the six binaries)
  local b tmp="$K8S/bin.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for b in "${BINARIES[@]}"; do ln "$1/$b" "$tmp/$b" 2>/dev/null || cp "$1/$b" "$tmp/$b"; done
  "$tmp/kubectl" version --client --short 2>/dev/null | grep -q 'v1.20.2' || die "$tmp/kubectl is not v1.20.2"
  echo "$RECIPE" >"$tmp/.recipe"
  rm -rf "$K8S/bin"
  mv "$tmp" "$K8S/bin"
}

if ((need_build == 0)); then
  log "binaries in $K8S/bin are current (recipe $RECIPE)"
elif ((FORCE == 0)) && [[ -f "$TARBALL" && "$(cat "$TARBALL.recipe" 2>/dev/null)" == "$RECIPE" ]]; then
  log "unpacking the cached $TARBALL"
  rm -rf "$K8S/bin.unpack" && mkdir -p "$K8S/bin.unpack"
  tar -C "$K8S/bin.unpack" -xzf "$TARBALL"
  install_binaries "$K8S/bin.unpack"
  rm -rf "$K8S/bin.unpack"
else
  # 2a. source tree: reuse a kept tree prepared by the same recipe (incremental build, Go cache).
  prep="$( (echo "$RECIPE"; cat "$PATCH") | sha)"
  if [[ -d "$SRC_TREE" && "$(cat "$SRC_TREE/.toolhive-prepared" 2>/dev/null)" == "$prep" ]]; then
    log "reusing the prepared source tree $SRC_TREE"
  else
    rm -rf "$SRC_TREE"
    mkdir -p "$K8S/src"
    if [[ ! -f "$K8S/src/kubernetes_$DEB_VERSION.dsc" ]]; then
      log "apt-get source --download-only kubernetes=$DEB_VERSION"
      (cd "$K8S/src" && apt-get source --download-only "kubernetes=$DEB_VERSION" >"$K8S/src/download.log" 2>&1) || {
        tail -n 20 "$K8S/src/download.log" >&2
        die "downloading the kubernetes source package failed (is there a deb-src entry? rerun with --yes)"
      }
    fi
    log "unpacking and patching the source ($SRC_TREE)"
    dpkg-source -x "$K8S/src/kubernetes_$DEB_VERSION.dsc" "$SRC_TREE" >"$K8S/src/unpack.log" 2>&1 ||
      die "dpkg-source -x failed (log: $K8S/src/unpack.log)"
    # The vendored reflect2 1.0.1 breaks at run time with Go >= 1.18: use Debian's 1.0.2.
    vr="$SRC_TREE/vendor/github.com/modern-go/reflect2"
    rm -rf "$vr" && mkdir -p "$vr"
    cp "$REFLECT2"/*.go "$REFLECT2"/*.s "$vr/" && rm -f "$vr"/*_test.go
    mkdir -p "$SRC_TREE/.go/src/k8s.io" && ln -s ../../.. "$SRC_TREE/.go/src/k8s.io/kubernetes"
    # Kubelet: no negative oom_score_adj (no CAP_SYS_RESOURCE here), no cloud credential providers.
    patch -d "$SRC_TREE" -p1 --quiet <"$PATCH" || die "the kubelet patch $PATCH does not apply"
    echo "$prep" >"$SRC_TREE/.toolhive-prepared"
  fi
  log "building the six binaries (nice -n 19, ≈ 11 min on 2 cores; log: $K8S/build.log)"
  if ! nice -n 19 bash "$BUILD_SCRIPT" "$SRC_TREE" >"$K8S/build.log" 2>&1; then
    tail -n 40 "$K8S/build.log" >&2
    die "the Kubernetes build failed (full log: $K8S/build.log)"
  fi
  log "$(tail -n 1 "$K8S/build.log")"
  install_binaries "$SRC_TREE/_output/bin"
  log "packing $TARBALL"
  tar -C "$K8S/bin" -czf "$TARBALL.tmp" "${BINARIES[@]}"
  mv "$TARBALL.tmp" "$TARBALL"
  echo "$RECIPE" >"$TARBALL.recipe"
fi

# --- 3. pause: cache the static binary before the tree may go --------------------------------------
PAUSE_BIN="$K8S/images/pause/pause"
pause_src() { # prints the path of pause.c (from the tree, or extracted from the cached orig tarball)
  if [[ -f "$SRC_TREE/build/pause/linux/pause.c" ]]; then
    echo "$SRC_TREE/build/pause/linux/pause.c"
    return
  fi
  local orig
  orig="$(ls "$K8S"/src/kubernetes_*.orig.tar.* 2>/dev/null | head -1)"
  [[ -n "$orig" ]] || die "no pause.c: neither $SRC_TREE nor the source package in $K8S/src (run with --force)"
  mkdir -p "$K8S/images/pause"
  tar -xaf "$orig" -C "$K8S/images/pause" --wildcards --strip-components=4 '*/build/pause/linux/pause.c'
  echo "$K8S/images/pause/pause.c"
}
if [[ ! -x "$PAUSE_BIN" ]]; then
  log "building the pause binary (static, from the tree's pause.c)"
  mkdir -p "$K8S/images/pause"
  gcc -Os -Wall -Werror -static -DVERSION=v3.4-debian -o "$PAUSE_BIN" "$(pause_src)"
  strip "$PAUSE_BIN"
fi

if ((KEEP_SOURCE == 0)) && [[ -d "$SRC_TREE" ]]; then
  log "removing the source tree $SRC_TREE (--keep-source keeps it)"
  rm -rf "$SRC_TREE"
fi

# --- 4. the pause image in dockerd ---------------------------------------------------------------
curl -sf --max-time 3 --unix-socket "$DOCKER_SOCK" http://d/_ping >/dev/null ||
  die "dockerd does not answer on unix://$DOCKER_SOCK: run scripts/install-engines.sh first"
pause_recipe="$( (echo pause-v1; sha256sum <"$PAUSE_BIN") | sha)"
if [[ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$PAUSE_IMAGE" 2>/dev/null)" == "$pause_recipe" ]]; then
  log "docker: $PAUSE_IMAGE up to date"
else
  log "docker: importing $PAUSE_IMAGE"
  tar --owner=0 --group=0 -C "$K8S/images/pause" -c pause |
    docker import --change 'ENTRYPOINT ["/pause"]' --change "LABEL $LABEL=$pause_recipe" - "$PAUSE_IMAGE" >/dev/null
fi

log "done in $((SECONDS - start))s: $K8S/bin ($("$K8S/bin/kubectl" version --client --short 2>/dev/null)), $PAUSE_IMAGE"
