#!/usr/bin/env bash
# The Kubernetes half of scripts/test.sh, run in the background beside the rest of the suite:
# builds the operator/proxy runner images (nice 19), waits for the cluster binaries that
# scripts/install-k8s.sh is building (its exit code in $K8S_BUILD_RC_FILE), starts the test
# cluster and runs the tests marked `kubernetes`. Its own pytest temp folder, so the two pytest
# sessions never share one.
# Usage (from scripts/test.sh): K8S_BUILD_RC_FILE=… scripts/test-k8s.sh TMPDIR_FOR_PYTEST [pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
basetemp=$1
shift
say() { printf '\n==> [k8s %dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

say "operator and proxy runner images (dockerd)"
nice -n 19 bash scripts/build-k8s-images.sh

say "waiting for the cluster binaries (scripts/install-k8s.sh)"
rc_file=${K8S_BUILD_RC_FILE:?K8S_BUILD_RC_FILE must name the exit-code file of install-k8s.sh}
while [[ ! -s "$rc_file" ]]; do sleep 5; done
if [[ "$(cat "$rc_file")" != 0 ]]; then
  echo "scripts/install-k8s.sh failed (its log is printed by scripts/test.sh)" >&2
  exit 1
fi

say "Kubernetes test cluster"
bash scripts/k8s-cluster.sh start

say "pytest (Kubernetes tests)"
rc=0
TOOLHIVE_TEST_REQUIRE_K8S=1 uv run pytest -m kubernetes -p no:cacheprovider --basetemp="$basetemp" \
  --durations=15 "$@" || rc=$?
# 5: nothing selected (extra args naming only non-Kubernetes tests).
((rc == 0 || rc == 5)) || exit "$rc"
say "Kubernetes tests passed"
