#!/usr/bin/env bash
# Build the operator and proxy runner images into dockerd (the test cluster's kubelet runs pods from
# it) from plugins/runtimes/kubernetes/Containerfile, on localhost/toolhive-test/python-base:bookworm
# (scripts/build-test-images.sh):
#
#   localhost/toolhive/operator:dev       ENTRYPOINT thv-operator
#   localhost/toolhive/proxyrunner:dev    ENTRYPOINT thv-proxyrunner
#
# No registry: ToolHive's wheels are built from this checkout (uv build), the third-party ones
# (pinned by uv.lock, `uv export`) are fetched once into a wheelhouse cached under
# /var/cache/toolhive-test/k8s-images/wheelhouse, and the image installs them with --no-index.
# Both images carry a label (toolhive-test.recipe) hashing every input (sources, lock, Containerfile,
# base image recipe): when it matches, nothing is rebuilt. --force rebuilds.
#
# Usage: scripts/build-k8s-images.sh [--force]
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR=/var/cache/toolhive-test/k8s-images
WHEELHOUSE="$CACHE_DIR/wheelhouse"
DOCKER_SOCK=/var/run/docker.sock
export DOCKER_HOST="unix://$DOCKER_SOCK" # the kubelet's engine: dockerd, never Podman's socket
BASE_IMAGE=localhost/toolhive-test/python-base:bookworm
CONTAINERFILE="$REPO_ROOT/plugins/runtimes/kubernetes/Containerfile"
LABEL=toolhive-test.recipe
# target image
IMAGES=("operator localhost/toolhive/operator:dev" "proxyrunner localhost/toolhive/proxyrunner:dev")
# What goes into the images: core, the kubernetes runtime (operator, proxy runner) and the
# middleware a RunConfig may name.
DISTS=(toolhive-core toolhive-runtime-kubernetes toolhive-middleware-auth toolhive-middleware-authz
  toolhive-middleware-audit toolhive-middleware-telemetry toolhive-middleware-tools
  toolhive-middleware-tokenexchange)

LOG_TAG=build-k8s-images
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"
FORCE=0
flag_args FORCE --force -- "$@"
sha() { sha256sum | cut -c1-16; }
cd "$REPO_ROOT"

# --- preconditions ------------------------------------------------------------------------------
command -v uv >/dev/null || die "uv not found (python3 -m pip install uv)"
command -v docker >/dev/null || die "docker not found: run scripts/install-engines.sh first"
curl -sf --max-time 3 --unix-socket "$DOCKER_SOCK" http://d/_ping >/dev/null ||
  die "dockerd does not answer on unix://$DOCKER_SOCK: run scripts/install-engines.sh first"
[[ -f plugins/runtimes/kubernetes/pyproject.toml ]] || die "plugins/runtimes/kubernetes is missing"
base_recipe="$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$BASE_IMAGE" 2>/dev/null)" ||
  die "$BASE_IMAGE is not in dockerd: run scripts/build-test-images.sh first"

# dist_dir DIST: the folder of a workspace distribution.
dist_dir() {
  local p
  if [[ "$1" == toolhive-core ]]; then echo core && return; fi
  for p in plugins/*/*/pyproject.toml; do
    if grep -qx "name = \"$1\"" "$p"; then dirname "$p" && return; fi
  done
  die "no workspace distribution named $1"
}
dirs=()
for d in "${DISTS[@]}"; do dirs+=("$(dist_dir "$d")"); done

# --- redis: session storage for replicated gateways in the cluster tests --------------------------
# Debian bookworm's redis-server on the same base (apt works inside a build here, as for go-base in
# scripts/build-test-images.sh). No persistence, no protected mode: a pod the tests own.
REDIS_IMAGE=localhost/toolhive-test/redis:7
redis_containerfile() {
  cat <<EOF
FROM $BASE_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \\
 && redis-server --version
EXPOSE 6379
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
EOF
}
redis_recipe="$( (echo redis-v1 "$base_recipe"; redis_containerfile) | sha)"
if ((FORCE == 1)) ||
  [[ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$REDIS_IMAGE" 2>/dev/null || true)" != "$redis_recipe" ]]; then
  log "docker: building $REDIS_IMAGE (apt-get install redis-server)"
  redis_containerfile | DOCKER_BUILDKIT=0 docker build --network host --label "$LABEL=$redis_recipe" \
    -t "$REDIS_IMAGE" - >"$CACHE_DIR/redis-build.log" 2>&1 || {
    tail -n 30 "$CACHE_DIR/redis-build.log" >&2
    die "docker build of $REDIS_IMAGE failed (full log: $CACHE_DIR/redis-build.log)"
  }
fi

# --- recipe: every input of the images -----------------------------------------------------------
requirements="$(uv export --frozen --no-dev --no-emit-workspace --no-hashes --no-header \
  $(printf -- '--package %s ' "${DISTS[@]}"))" || die "uv export failed (is uv.lock current? uv lock)"
sources_hash="$(for d in "${dirs[@]}"; do
  find "$d/pyproject.toml" "$d/README.md" "$d/src" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' 2>/dev/null
done | LC_ALL=C sort | xargs sha256sum | sha)"
recipe="$( (echo k8s-images-v1 "$base_recipe" "$sources_hash"; echo "$requirements"; cat "$CONTAINERFILE") | sha)"

current=1
for entry in "${IMAGES[@]}"; do
  image="${entry#* }"
  [[ "$(docker image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$image" 2>/dev/null || true)" == "$recipe" ]] ||
    current=0
done
if ((FORCE == 0 && current == 1)); then
  log "up to date (recipe $recipe): ${IMAGES[*]#* }"
  exit 0
fi

start=$SECONDS
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/wheels" "$WHEELHOUSE"

# --- wheels --------------------------------------------------------------------------------------
log "building ToolHive's wheels (${DISTS[*]})"
for d in "${DISTS[@]}"; do
  uv build --quiet --wheel --package "$d" -o "$ctx/wheels" >"$ctx/uv-build.log" 2>&1 || {
    cat "$ctx/uv-build.log" >&2
    die "uv build --package $d failed"
  }
done
printf '%s\n' "${DISTS[@]}" >"$ctx/wheels/toolhive.txt"
echo "$requirements" | grep -v '^#' >"$ctx/wheels/requirements.txt"

# Third-party wheels: fetched (or built from an sdist) once per pinned version, for CPython 3.11 on
# glibc (the base image is Debian bookworm's). uv has no `pip wheel`, so pip runs from a venv of our
# own under the cache, made by uv for that version: never whatever python3 is first on PATH (under
# `uv run` that is the project venv, which has no pip). The machine's pip config (constraints,
# extra indexes) is bypassed: uv.lock's pins are the truth. The wheelhouse alone first (no network
# when every pin is there), the index only for what is missing. One build at a time per cache.
PY_VERSION=3.11
PIP_VENV="$CACHE_DIR/pip-venv"
exec 9>"$CACHE_DIR/wheelhouse.lock"
flock 9
if ! "$PIP_VENV/bin/python" -m pip --version 2>/dev/null | grep -q "(python $PY_VERSION)$"; then
  log "pip for CPython $PY_VERSION: uv venv --seed $PIP_VENV"
  uv venv --quiet --clear --seed --no-project --python "$PY_VERSION" "$PIP_VENV" >"$ctx/uv-venv.log" 2>&1 || {
    cat "$ctx/uv-venv.log" >&2
    die "uv venv --python $PY_VERSION --seed $PIP_VENV failed (uv python install $PY_VERSION?)"
  }
fi
pip_wheel() {
  PIP_CONFIG_FILE=/dev/null "$PIP_VENV/bin/python" -m pip wheel --quiet --no-deps \
    --disable-pip-version-check --cert "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" \
    --find-links "$WHEELHOUSE" -w "$WHEELHOUSE" -r "$ctx/wheels/requirements.txt" "$@"
}
log "third-party wheels into $WHEELHOUSE"
pip_wheel --no-index >"$CACHE_DIR/pip-wheel.log" 2>&1 || pip_wheel >"$CACHE_DIR/pip-wheel.log" 2>&1 || {
  tail -n 30 "$CACHE_DIR/pip-wheel.log" >&2
  die "collecting third-party wheels failed (log: $CACHE_DIR/pip-wheel.log)"
}
exec 9>&-
ln "$WHEELHOUSE"/*.whl "$ctx/wheels/" 2>/dev/null || cp "$WHEELHOUSE"/*.whl "$ctx/wheels/"
cp "$CONTAINERFILE" "$ctx/Containerfile"

# --- images --------------------------------------------------------------------------------------
for entry in "${IMAGES[@]}"; do
  target="${entry%% *}" image="${entry#* }"
  old="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  log "docker: building $image (target $target)"
  # The legacy builder (no buildx here) caches the shared venv stage between the two targets.
  DOCKER_BUILDKIT=0 docker build --network host --target "$target" --label "$LABEL=$recipe" \
    --build-arg "BASE=$BASE_IMAGE" -f "$ctx/Containerfile" -t "$image" "$ctx" >"$CACHE_DIR/$target-build.log" 2>&1 || {
    tail -n 30 "$CACHE_DIR/$target-build.log" >&2
    die "docker build of $image failed (full log: $CACHE_DIR/$target-build.log)"
  }
  [[ -z "$old" || "$old" == "$(docker image inspect -f '{{.Id}}' "$image")" ]] || docker rmi "$old" >/dev/null 2>&1 || true
done
# Each build leaves its builder stage (and an image still used by a pod keeps the old one) untagged:
# drop those of ours older than 10 minutes (younger ones may belong to a build running right now).
docker image prune -f --filter "label=$LABEL" --filter until=10m >/dev/null 2>&1 || true
log "done in $((SECONDS - start))s: ${IMAGES[*]#* } (recipe $recipe)"
