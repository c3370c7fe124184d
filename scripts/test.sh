#!/usr/bin/env bash
# The full test suite on real components: installs and starts Podman and Docker, builds the test
# images locally, installs the workspace, then runs every test — the whole suite from the root and
# each plugin's own tests alone (`uv run --isolated --package <dist> --exact`, so the shared venv is left alone).
#
# Changes system configuration (packages, /etc/containers, engine daemons) only with --yes or
# CI=true; otherwise the install step says what is missing and stops.
# Usage: scripts/test.sh [--yes] [extra pytest args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

YES=()
if [[ "${1:-}" == "--yes" || "${1:-}" == "-y" ]]; then YES=(--yes); shift; fi

say() { printf '\n==> %s\n' "$*"; }

if ! command -v uv >/dev/null 2>&1; then
  say "installing uv"
  python3 -m pip install --quiet uv
fi

say "container engines"
bash scripts/install-engines.sh "${YES[@]}"
bash scripts/install-prometheus.sh "${YES[@]}"
bash scripts/install-chromium.sh "${YES[@]}"
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

say "pytest (whole suite)"
uv run pytest "$@"

say "each plugin alone"
# Workspace members only (plugins/<kind>/<name>); plugins/_template is not one.
for pyproject in plugins/*/*/pyproject.toml; do
  dir=$(dirname "$pyproject")
  dist=$(sed -n 's/^name = "\(.*\)"/\1/p' "$pyproject" | head -1)
  say "$dist"
  uv run --isolated --package "$dist" --exact pytest -p no:cacheprovider "$dir/tests"
done
say "all tests passed"
