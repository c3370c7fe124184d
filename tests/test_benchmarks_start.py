"""Every benchmark starts as documented (``uv run python benchmarks/NAME.py``): its ``--help``.

They are run as scripts, so their folder comes first on sys.path and a file there named like a
standard-library module shadows it for all of them (``operator.py`` broke every other benchmark).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def test_there_are_benchmarks() -> None:
    assert {"proxy.py", "vmcp.py", "operator.py"} <= {path.name for path in BENCHMARKS}


@pytest.mark.parametrize("script", BENCHMARKS, ids=[path.name for path in BENCHMARKS])
def test_a_benchmark_runs_as_a_script(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=script.parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
