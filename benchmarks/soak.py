"""A soak of the stdio bridge: 16 sessions calling the SDK echo server through a real
`thv run --runtime process --transport stdio` workload for 60 s.

Prints, every 10 s, calls/s and the bridge process's RSS; at the end the errors and wrong answers
(both must be 0) and the RSS growth from the end of a 10 s warm-up to the end (must be ≤ 10 %).
Every call carries unique text, so an answer delivered to another session counts as wrong.

    uv run python benchmarks/soak.py [--seconds 60] [--sessions 16] [--size 32] [--server sdk|raw]

A benchmark, not a test: it prints figures (and exits 1 when a criterion is missed, for scripts).
Load stays on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import proxy  # the load client and the target set-up live in benchmarks/proxy.py


async def soak(args: argparse.Namespace) -> bool:
    with tempfile.TemporaryDirectory(prefix="thv-soak-") as tmp:
        async with proxy.start_target("toolhive", args.server, Path(tmp)) as target:
            assert target.pid
            idle = proxy.rss_kib(target.pid)
            sessions = [await target.session() for _ in range(args.sessions)]
            load = proxy.Load()
            started = time.perf_counter()
            deadline = started + args.seconds
            workers = [
                asyncio.create_task(
                    proxy.worker(
                        s, f"soak/{n}", args.size, load, lambda: time.perf_counter() > deadline
                    )
                )
                for n, s in enumerate(sessions)
            ]
            print(
                f"bridge pid {target.pid}, idle RSS {idle / 1024:.1f} MiB, {args.sessions} sessions"
            )
            warm_rss = 0
            peak = idle
            last_calls, tick = 0, started
            while not all(w.done() for w in workers):
                await asyncio.sleep(0.5)
                rss = proxy.rss_kib(target.pid)
                peak = max(peak, rss)
                now = time.perf_counter()
                if not warm_rss and now - started >= args.warmup:
                    warm_rss = rss
                if now - tick >= 10 or all(w.done() for w in workers):
                    rate = (load.calls - last_calls) / (now - tick)
                    print(
                        f"  t={now - started:5.1f} s  {rate:6.0f} calls/s  RSS {rss / 1024:6.1f} MiB"
                        f"  errors {load.errors}  wrong {load.wrong}"
                    )
                    last_calls, tick = load.calls, now
            end_rss = proxy.rss_kib(target.pid)
            elapsed = time.perf_counter() - started
            for s in sessions:
                await s.close()
    growth = (end_rss - warm_rss) / warm_rss * 100 if warm_rss else float("nan")
    ok = load.errors == 0 and load.wrong == 0 and growth <= 10
    print(
        f"\n{load.calls} calls in {elapsed:.1f} s ({load.calls / elapsed:.0f} calls/s), "
        f"p50 {proxy.pct(load.latencies_ns, 0.5):.2f} ms, p99 {proxy.pct(load.latencies_ns, 0.99):.2f} ms\n"
        f"errors {load.errors} (must be 0), wrong answers {load.wrong} (must be 0)\n"
        f"RSS idle {idle / 1024:.1f} MiB, after {args.warmup:.0f} s warm-up {warm_rss / 1024:.1f} MiB, "
        f"end {end_rss / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB → growth {growth:+.1f} % "
        f"(must be ≤ 10 %)\n{'PASS' if ok else 'FAIL'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--server", choices=("sdk", "raw"), default="sdk")
    sys.exit(0 if asyncio.run(soak(parser.parse_args())) else 1)


if __name__ == "__main__":
    main()
