"""Benchmark: the feed simulator writing at least a million impressions to an event log.

Run on demand (not collected by pytest)::

    python benchmarks/bench_simulate.py            # 7,500 users x 14 days: about 1.05M impressions
    python benchmarks/bench_simulate.py --users 20000 --days 14

Prints one table: the simulation run into a temporary ``EventLog`` (target: 1M impressions in under a
minute), reading the exposures back through DuckDB, and assigning a million units to arms with
:func:`loopline.events.assign`. Peak RSS is the process's maximum resident set size so far.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from loopline.events import EventLog, assign
from loopline.simulate import FeedSimulator, SimConfig

T = TypeVar("T")


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _timed(work: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = work()
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=7500)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = SimConfig(seed=args.seed, n_users=args.users, days=args.days)
    rows: list[tuple[str, int, int, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="loopline-bench-") as folder:
        log = EventLog(Path(folder))
        result, seconds = _timed(lambda: FeedSimulator(config).run(log))
        rows.append((f"simulate {args.users} users x {args.days} days", result.impressions, result.clicks, seconds,
                     _peak_rss_mib()))
        frame, read_s = _timed(lambda: log.read("exposures"))
        rows.append(("read exposures (DuckDB)", len(frame), 0, read_s, _peak_rss_mib()))
        del frame
    units = np.array([f"u{i:07d}" for i in range(1_000_000)])
    arms, assign_s = _timed(lambda: assign("bench", units, {"control": 0.5, "treatment": 0.5}))
    rows.append(("assign 1M units to 2 arms", len(arms), 0, assign_s, _peak_rss_mib()))

    header = f"{'step':<38} {'rows':>11} {'clicks':>9} {'seconds':>9} {'rows/s':>12} {'peak RSS MiB':>13}"
    print(header)
    print("-" * len(header))
    for step, n, clicks, secs, rss in rows:
        print(f"{step:<38} {n:>11,} {clicks:>9,} {secs:>9.2f} {n / secs:>12,.0f} {rss:>13,.0f}")
    if result.impressions < 1_000_000:
        print(f"note: only {result.impressions:,} impressions; raise --users or --days for the 1M target.")


if __name__ == "__main__":
    main()
