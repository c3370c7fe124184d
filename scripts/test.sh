#!/usr/bin/env bash
# The full test suite on real components: installs and starts Podman and Docker, builds the test
# images locally, installs the workspace, then runs every test — the whole suite from the root and
# each plugin's own tests alone (`uv run --isolated --package <dist> --exact`, so the shared venv is left alone).
#
# The Kubernetes tests (marker `kubernetes`) need the single-node test cluster: its build
# (scripts/install-k8s.sh, ≈ 11 min of both cores on a fresh machine, cached afterwards under
# /var/cache/toolhive-test/k8s) and the operator/proxy runner images (scripts/build-k8s-images.sh)
# run in the background at nice 19 while lint and the rest of the suite run; then the cluster is
# started, the `kubernetes` tests and the per-plugin runs follow, and the cluster is stopped at the
# end — if this script started it (a cluster that was already running is left as it was).
# Background logs: ${TMPDIR:-/tmp}/toolhive-test-logs/, printed when a job fails.
#
# Changes system configuration (packages, /etc/containers, engine daemons) only with --yes or
# CI=true; otherwise the install step says what is missing and stops.
# Usage: scripts/test.sh [--yes] [extra pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

YES=()
if [[ "${1:-}" == "--yes" || "${1:-}" == "-y" ]]; then YES=(--yes); shift; fi

say() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# pytest_ok RC: pytest passed, or found nothing to run for this selection (exit 5: e.g. extra
# args naming tests that are all, or none, marked `kubernetes`).
pytest_ok() { (($1 == 0 || $1 == 5)); }

# Background jobs (the Kubernetes build, the operator images): NAME -> pid, each in its own process
# group (setsid) so that an early exit stops all of it; output in $LOG_DIR/NAME.log.
LOG_DIR="${TMPDIR:-/tmp}/toolhive-test-logs"
mkdir -p "$LOG_DIR"
declare -A bg_pids=()
bg_start() { # bg_start NAME CMD...
  local name=$1
  shift
  setsid nice -n 19 "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
  bg_pids[$name]=$!
}
bg_wait() { # bg_wait NAME: its log; on failure the log on stderr and exit 1
  local name=$1 pid=${bg_pids[$1]:-}
  [[ -n "$pid" ]] || return 0
  unset "bg_pids[$name]"
  if ! wait "$pid"; then
    echo "----- $name failed; its log ($LOG_DIR/$name.log): -----" >&2
    cat "$LOG_DIR/$name.log" >&2
    exit 1
  fi
  cat "$LOG_DIR/$name.log"
}
bg_done() { [[ -n "${bg_pids[$1]:-}" ]] && ! kill -0 "${bg_pids[$1]}" 2>/dev/null; }
cluster_started=0
cleanup() {
  local rc=$? name
  for name in "${!bg_pids[@]}"; do
    if kill -0 "${bg_pids[$name]}" 2>/dev/null; then
      say "stopping the unfinished background job $name"
      kill -- "-${bg_pids[$name]}" 2>/dev/null || true
    fi
  done
  if ((cluster_started)); then
    say "stopping the Kubernetes test cluster"
    bash scripts/k8s-cluster.sh stop || true
  fi
  exit "$rc"
}
trap cleanup EXIT

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv"
  python3 -m pip install --quiet uv
fi

say "container engines"
bash scripts/install-engines.sh "${YES[@]}"
bash scripts/install-prometheus.sh "${YES[@]}"
bash scripts/install-chromium.sh "${YES[@]}"

# After the other apt installs (no two apt runs at once); a no-op within seconds when cached.
say "Kubernetes test cluster build, in the background (log: $LOG_DIR/install-k8s.log)"
bg_start install-k8s bash scripts/install-k8s.sh "${YES[@]}"

say "test images"
bash scripts/build-test-images.sh

say "workspace"
uv sync --quiet --all-packages
say "operator and proxy runner images (dockerd), in the background (log: $LOG_DIR/build-k8s-images.log)"
bg_start build-k8s-images bash scripts/build-k8s-images.sh
say "node tools (conformance suite, server-everything, supergateway)"
bash scripts/install-node.sh

export TOOLHIVE_TEST_REQUIRE_ENGINES=1 TOOLHIVE_STRICT_PLUGINS=1
say "ruff"
uv run ruff check .
uv run ruff format --check .
say "mypy --strict (core)"
uv run mypy core/src
say "import-linter (plugins import only toolhive.contracts)"
uv run lint-imports

# A job that already ended (missing packages without --yes, a cached no-op) reports now, not in an hour.
for job in install-k8s build-k8s-images; do if bg_done "$job"; then bg_wait "$job"; fi; done

say "pytest (whole suite except the Kubernetes tests)"
rc=0
uv run pytest -m "not kubernetes" --durations=25 "$@" || rc=$?
pytest_ok "$rc" || exit "$rc"

say "waiting for the Kubernetes build and the images"
bg_wait install-k8s
bg_wait build-k8s-images

say "Kubernetes test cluster"
if ! bash scripts/k8s-cluster.sh status >/dev/null 2>&1; then cluster_started=1; fi
bash scripts/k8s-cluster.sh start
export TOOLHIVE_TEST_REQUIRE_K8S=1

say "pytest (Kubernetes tests)"
rc=0
uv run pytest -m kubernetes --durations=10 "$@" || rc=$?
pytest_ok "$rc" || exit "$rc"

say "each plugin alone"
# Workspace members only (plugins/<kind>/<name>); plugins/_template is not one. The cluster tests
# ran above with every plugin installed; here each plugin proves its own dependencies suffice.
for pyproject in plugins/*/*/pyproject.toml; do
  dir=$(dirname "$pyproject")
  dist=$(sed -n 's/^name = "\(.*\)"/\1/p' "$pyproject" | head -1)
  say "$dist"
  uv run --isolated --package "$dist" --exact pytest -p no:cacheprovider -m "not kubernetes" "$dir/tests" || rc=$?
  pytest_ok "${rc:-0}" || exit "$rc"
  rc=0
done
say "all tests passed"
