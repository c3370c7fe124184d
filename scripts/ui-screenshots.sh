#!/usr/bin/env bash
# Regenerate the screenshots docs/ui.md shows: the UI's screenshot test (tests/ui/test_screenshots.py)
# drives every view, light and dark, in Chromium against a real thv serve, and writes them here.
# Needs what scripts/test.sh installs (Chromium, the process runtime, the Node tools for axe-core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export TOOLHIVE_UI_SCREENSHOTS="$PWD/docs/ui"
uv run pytest tests/ui/test_screenshots.py -q -p no:cacheprovider "$@"
echo "screenshots in docs/ui/: $(ls docs/ui/*.png | wc -l)"
