"""How long `thv` takes to start, against a bare `import click, pydantic`.

Runs every command as a fresh subprocess of this interpreter's environment (so with every plugin
installed there), in N rounds of every command after warm-up rounds, in temporary XDG directories,
and prints the median and the fastest wall time of each, the ratio of medians to the reference
measured in the same rounds, then the two ratios the project keeps (`thv --help` <= 2x,
`thv list` <= 3x). `thv --help` is
measured as users meet it (the plugin command table cached by the first run, see
toolhive/cli/command_cache.py) and cold (that cache deleted before every run). Then the ten imports
with the largest cumulative time in `python -X importtime thv --help`, cold.

    uv run python benchmarks/startup.py [--runs 15] [--workloads 20]

A benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
THV = str(Path(sys.executable).with_name("thv"))


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLHIVE_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(home / var.lower())
    return env


def save_fake_workloads(env: dict[str, str], count: int) -> None:
    """``count`` saved workloads, 'running' under this process's PID, written by core itself."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from toolhive.models.runconfig import RunConfig
        from toolhive.models.workload import WorkloadStatus
        from toolhive.state import store

        for i in range(count):
            name = f"bench-{i:02d}"
            store.save_runconfig(
                RunConfig(
                    name=name,
                    base_name=name,
                    container_name=name,
                    image=f"localhost/bench/server-{i}:1",
                    transport="stdio" if i % 2 else "streamable-http",
                    port=21000 + i,
                    target_port=31000 + i,
                    runtime="docker",
                    container_labels={"team": "bench"},
                )
            )
            store.set_status(name, WorkloadStatus.RUNNING, process_id=os.getpid())
            store.write_pid(name, os.getpid())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def command_table(env: dict[str, str]) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "toolhive" / "cli-commands.json"


Case = tuple[str, list[str], dict[str, str], bool]  # label, argv, environment, cold


def wall_time(argv: list[str], env: dict[str, str], *, cold: bool = False) -> float:
    """One run; ``cold`` deletes the cached command table first."""
    if cold:
        command_table(env).unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def wall_times(cases: list[Case], runs: int) -> dict[str, list[float]]:
    """``runs`` rounds, each running every case once: the machine's load changes between rounds
    hit the reference and ``thv`` alike, so the ratios hold on a busy machine."""
    for _label, argv, env, cold in cases * 2:  # warm the OS file cache and .pyc files
        wall_time(argv, env, cold=cold)
    times: dict[str, list[float]] = {label: [] for label, *_ in cases}
    for _ in range(runs):
        for label, argv, env, cold in cases:
            times[label].append(wall_time(argv, env, cold=cold))
    return times


def import_profile(env: dict[str, str], top: int = 10) -> list[tuple[float, float, str]]:
    """(cumulative ms, self ms, module) of the slowest imports of a cold `thv --help`."""
    command_table(env).unlink(missing_ok=True)
    proc = subprocess.run(
        [PYTHON, "-X", "importtime", THV, "--help"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative_us) / 1000, int(self_us) / 1000, name.rstrip()))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (default 15)")
    parser.add_argument(
        "--workloads", type=int, default=20, help="fake saved workloads (default 20)"
    )
    args = parser.parse_args()
    if not Path(THV).exists():
        sys.exit(f"no thv next to {PYTHON}: run this with the workspace environment (uv run)")

    with tempfile.TemporaryDirectory(prefix="thv-bench-") as tmp:
        empty = environment(Path(tmp) / "empty")
        full = environment(Path(tmp) / "full")
        save_fake_workloads(full, args.workloads)

        cases: list[Case] = [
            ("python -c pass", [PYTHON, "-c", "pass"], empty, False),
            (
                "python -c 'import click, pydantic'",
                [PYTHON, "-c", "import click, pydantic"],
                empty,
                False,
            ),
            # `import pydantic` is lazy; the first model class pays for pydantic's machinery.
            (
                "python -c 'import click; from pydantic import BaseModel'",
                [PYTHON, "-c", "import click; from pydantic import BaseModel"],
                empty,
                False,
            ),
            ("thv --help", [THV, "--help"], empty, False),
            ("thv --help (cold: no cached command table)", [THV, "--help"], empty, True),
            ("thv list (no workloads)", [THV, "list"], empty, False),
            (f"thv list ({args.workloads} workloads)", [THV, "list"], full, False),
            (
                f"thv list --format json ({args.workloads})",
                [THV, "list", "--format", "json"],
                full,
                False,
            ),
            ("thv plugins", [THV, "plugins"], empty, False),
        ]
        results = list(wall_times(cases, args.runs).items())
        profile = import_profile(empty)

    reference = statistics.median(results[1][1])
    from importlib.metadata import entry_points

    plugins = sorted(ep.name for ep in entry_points(group="toolhive"))
    print(f"Python {sys.version.split()[0]} on {sys.platform}; {args.runs} runs per command")
    print(f"entry-point plugins installed: {', '.join(plugins) or 'none'}")
    print()
    width = max(len(label) for label, _ in results)
    print(f"{'command':<{width}}  {'median ms':>9}  {'min ms':>7}  {'x click+pydantic':>16}")
    for label, times in results:
        median = statistics.median(times)
        print(
            f"{label:<{width}}  {median * 1000:>9.1f}  {min(times) * 1000:>7.1f}  "
            f"{median / reference:>16.2f}"
        )
    medians = {label: statistics.median(times) for label, times in results}
    print()
    for label, limit in [
        ("thv --help", 2.0),
        ("thv list (no workloads)", 3.0),
        (f"thv list ({args.workloads} workloads)", 3.0),
    ]:
        ratio = medians[label] / reference
        verdict = "ok" if ratio <= limit else "OVER"
        print(f"{label}: {ratio:.2f}x click+pydantic (keep <= {limit:g}x): {verdict}")
    print()
    print("python -X importtime thv --help (cold): top 10 cumulative imports")
    print(f"{'cumulative ms':>13}  {'self ms':>7}  module")
    for cumulative, self_ms, name in profile:
        print(f"{cumulative:>13.1f}  {self_ms:>7.1f}  {name.strip()}")


if __name__ == "__main__":
    main()
