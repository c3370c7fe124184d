#!/usr/bin/env bash
# The full test suite on real components: installs and starts Podman and Docker, builds the test
# images locally, installs the workspace, then runs every test — the whole suite from the root and
# each plugin's own tests alone (`uv run --isolated --package <dist> --exact`, so the shared venv is left alone).
#
# The Kubernetes tests (marker `kubernetes`) need the single-node test cluster: its build
# (scripts/install-k8s.sh, ≈ 11 min of both cores on a fresh machine, cached afterwards under
# /var/cache/toolhive-test/k8s) starts in the background at nice 19 right after the engines; after
# lint, scripts/test-k8s.sh builds the operator/proxy runner images, waits for that build, starts
# the cluster and runs the `kubernetes` tests — all beside the rest of the suite, so CI waits for
# the longer of the two, not their sum. Then the per-plugin runs follow and the cluster is stopped
# — if this script started it (a cluster that was already running is left as it was).
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
bg_start() { # bg_start NAME CMD... (its exit code also lands in $LOG_DIR/NAME.rc)
  local name=$1
  shift
  rm -f "$LOG_DIR/$name.rc"
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c '"$@"; rc=$?; echo "$rc" >"$0"; exit "$rc"' "$LOG_DIR/$name.rc" "$@" \
    >"$LOG_DIR/$name.log" 2>&1 </dev/null &
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
bg_start install-k8s nice -n 19 bash scripts/install-k8s.sh "${YES[@]}"

say "test images"
bash scripts/build-test-images.sh

say "workspace"
uv sync --quiet --all-packages
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

# A build that already ended (missing packages without --yes, a cached no-op) reports now.
if bg_done install-k8s; then bg_wait install-k8s; fi

say "Kubernetes tests, in the background (log: $LOG_DIR/k8s-tests.log)"
if ! bash scripts/k8s-cluster.sh status >/dev/null 2>&1; then cluster_started=1; fi
export K8S_BUILD_RC_FILE="$LOG_DIR/install-k8s.rc"
bg_start k8s-tests bash scripts/test-k8s.sh "$LOG_DIR/k8s-pytest" "$@"

say "pytest (whole suite except the Kubernetes tests)"
rc=0
uv run pytest -m "not kubernetes" --durations=25 "$@" || rc=$?
# A failure here still waits for the Kubernetes half, so one run reports both.
main_rc=0
pytest_ok "$rc" || main_rc=$rc

say "waiting for the Kubernetes build and tests"
bg_wait install-k8s
bg_wait k8s-tests
if ((main_rc)); then
  say "FAILED: the main pytest session (exit $main_rc; its failures are listed above)"
  exit "$main_rc"
fi

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
